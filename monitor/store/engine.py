"""Open the store: engine set-up, schema creation, version check and migration."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url

from monitor.config import Config, ModelConfig
from monitor.store import schema

log = logging.getLogger("driftwatch.store")


class StoreVersionError(RuntimeError):
    """The store was written by a newer driftwatch than this one."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"The store has schema version {found}, newer than this driftwatch supports ({supported}); "
            "upgrade driftwatch or point [store] url at another database"
        )


def utcnow() -> datetime:
    """Naive UTC now, the store's time representation."""
    return datetime.now(UTC).replace(tzinfo=None)


def _sqlite_pragmas(synchronous: str, busy_ms: int):  # type: ignore[no-untyped-def]
    def apply(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return apply


def make_engine(
    url: str, *, pool_size: int = 5, synchronous: str = "NORMAL", lock_timeout: float = 30.0
) -> Engine:
    """An engine for SQLite (WAL, ``synchronous``, waiting up to ``lock_timeout`` s for a writer)
    or PostgreSQL (psycopg 3)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if synchronous not in {"NORMAL", "FULL"}:
            raise ValueError(f"synchronous must be NORMAL or FULL; got {synchronous!r}")
        engine = create_engine(parsed, connect_args={"timeout": lock_timeout})
        event.listen(engine, "connect", _sqlite_pragmas(synchronous, int(lock_timeout * 1000)))
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_size=pool_size, pool_pre_ping=True)


def locked_message(url: str, lock_timeout: float) -> str:
    """What to tell a user whose SQLite store stayed locked by another writer."""
    return (
        f"the SQLite store {make_url(url).database} is locked by another process writing to it "
        f"(waited {lock_timeout:g}s, store.lock_timeout); run one ingest at a time, wait for the "
        "other to finish, or use PostgreSQL for concurrent writers"
    )


#: Migrations from version ``v`` to ``v + 1``; each runs in the transaction that records the new version.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


class Store:
    """The open store: an engine plus the per-model tables of the configured models."""

    def __init__(self, engine: Engine, models: Iterable[ModelConfig] = ()) -> None:
        self.engine = engine
        self.models: dict[str, ModelConfig] = {}
        self._md = MetaData()
        for model in models:
            self.models[model.name] = model
            schema.event_table(self._md, model)
            schema.outcome_table(self._md, model)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def events(self, model: str) -> Table:
        return self._md.tables[schema.event_table_name(model)]

    def outcomes(self, model: str) -> Table:
        return self._md.tables[schema.outcome_table_name(model)]

    def dispose(self) -> None:
        self.engine.dispose()


def _register_extension_tables() -> None:
    """Import modules that define further shared tables on ``schema.metadata``."""
    import monitor.store.alerts  # noqa: F401  (alert state, outbox, silences)


def _schema_version(conn: Connection) -> int | None:
    if not inspect(conn).has_table(schema.meta.name):
        return None
    value = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar()
    return int(value) if value is not None else None


def _set_version(conn: Connection, version: int) -> None:
    conn.execute(schema.meta.delete().where(schema.meta.c.key == "schema_version"))
    conn.execute(schema.meta.insert().values(key="schema_version", value=str(version)))


def _add_missing_columns(conn: Connection, table: Table) -> None:
    """Add columns that the config declares but an older table lacks (e.g. a new feature)."""
    existing = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for column in table.columns:
        if column.name not in existing:
            log.info('Adding column "%s" to table "%s"', column.name, table.name)
            prep = conn.dialect.identifier_preparer
            ddl_type = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {prep.format_column(column)} {ddl_type}"
            )


def migrate(engine: Engine, md: MetaData) -> None:
    """Create missing tables, migrate an older schema, refuse a newer one."""
    _register_extension_tables()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent start-ups (several daemons) on one database.
            conn.execute(text("SELECT pg_advisory_xact_lock(7346201)"))
        version = _schema_version(conn)
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StoreVersionError(version, schema.SCHEMA_VERSION)
        schema.metadata.create_all(conn)
        if version is None:
            _set_version(conn, schema.SCHEMA_VERSION)
        else:
            while version < schema.SCHEMA_VERSION:
                log.info("Migrating store schema from version %d to %d", version, version + 1)
                MIGRATIONS[version](conn)
                version += 1
                _set_version(conn, version)
        md.create_all(conn)
        for table in md.tables.values():
            _add_missing_columns(conn, table)


def open_store(config: Config, *, url: str | None = None) -> Store:
    """Connect to the configured store, creating or migrating its schema.

    :raises StoreVersionError: the store was written by a newer version.
    """
    engine = make_engine(
        url or config.store.resolved_url(),
        pool_size=config.store.pool_size,
        synchronous=config.store.sqlite_synchronous,
        lock_timeout=config.store.lock_timeout.total_seconds(),
    )
    store = Store(engine, config.models)
    migrate(engine, store._md)
    return store
