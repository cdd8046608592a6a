"""Open the store: engine set-up, schema creation, version check and migration."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, inspect, select, text
from sqlalchemy.engine import URL, make_url

from monitor.config import Config, ModelConfig
from monitor.store import schema, watchdog
from monitor.store.alerts import ALERT_TABLES
from monitor.store.schema import SHARED_TABLES

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


#: Defaults of the waits bounded in :func:`make_engine` (``[store]`` overrides them).
CONNECT_TIMEOUT = timedelta(seconds=10)
STATEMENT_TIMEOUT = timedelta(minutes=10)
BUSY_TIMEOUT = timedelta(seconds=30)
#: TCP keepalive probes (seconds idle, seconds between, count): a silent peer is dropped in ~1 min.
KEEPALIVES = (30, 10, 3)


def _sqlite_pragmas(busy_ms: int, synchronous: str) -> Callable[..., None]:
    def on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def _bounded_pg_url(url: URL, connect_timeout: timedelta, statement_timeout: timedelta) -> URL:
    """``url`` with libpq's connect timeout, TCP keepalives and user timeout, and a statement timeout.

    They travel in the URL so that every engine made from it (the advisory-lock connections of
    :mod:`monitor.service.locks` too) is bounded; settings already in the URL win.
    """
    idle, interval, count = KEEPALIVES
    bounds = {
        "connect_timeout": str(max(2, round(connect_timeout.total_seconds()))),
        "keepalives": "1",
        "keepalives_idle": str(idle),
        "keepalives_interval": str(interval),
        "keepalives_count": str(count),
        "tcp_user_timeout": str(int((idle + interval * count) * 1000)),
    }
    query = {k: v for k, v in bounds.items() if k not in url.query}
    options = url.query.get("options", "")
    options = options if isinstance(options, str) else " ".join(options)
    if "statement_timeout" not in options:
        ms = int(statement_timeout.total_seconds() * 1000)
        query["options"] = f"{options} -c statement_timeout={ms}".strip()
    return url.update_query_dict(query)


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    connect_timeout: timedelta = CONNECT_TIMEOUT,
    statement_timeout: timedelta = STATEMENT_TIMEOUT,
    busy_timeout: timedelta = BUSY_TIMEOUT,
    synchronous: str = "NORMAL",
) -> Engine:
    """An engine for SQLite (WAL, busy timeout) or PostgreSQL (psycopg 3) whose every wait is bounded.

    PostgreSQL: ``connect_timeout`` bounds connecting (and waiting for a pooled connection),
    TCP keepalives and ``tcp_user_timeout`` drop a peer that stopped answering, the server
    cancels a statement after ``statement_timeout``, and :mod:`monitor.store.watchdog` cuts a
    connection whose statement still has no answer a ``connect_timeout`` later. SQLite: a write
    waits ``busy_timeout`` for another process's lock, then fails with "database is locked";
    ``synchronous`` is ``NORMAL`` (WAL: a power loss may lose the last commits) or ``FULL``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if synchronous not in {"NORMAL", "FULL"}:
            raise ValueError(f"synchronous must be NORMAL or FULL; got {synchronous!r}")
        seconds = busy_timeout.total_seconds()
        engine = create_engine(parsed, connect_args={"timeout": seconds})
        event.listen(engine, "connect", _sqlite_pragmas(int(seconds * 1000), synchronous))
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(
        _bounded_pg_url(parsed, connect_timeout, statement_timeout),
        pool_size=pool_size,
        pool_pre_ping=True,
        pool_timeout=connect_timeout.total_seconds(),
    )
    # The server cancels a statement at statement_timeout; past that plus a connect timeout's
    # grace, nobody is answering: the client cuts the connection itself.
    watchdog.install(engine, (statement_timeout + connect_timeout).total_seconds())
    return engine


def locked_message(url: str, busy_timeout: float) -> str:
    """What to tell a user whose SQLite store stayed locked by another writer."""
    return (
        f"the SQLite store {make_url(url).database} is locked by another process writing to it "
        f"(waited {busy_timeout:g}s, store.busy_timeout); run one ingest at a time, wait for the "
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

    def ping(self) -> None:
        """``SELECT 1``: raises what the driver raises when the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


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
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Serialise concurrent start-ups (several daemons) on one database.
            conn.execute(text("SELECT pg_advisory_xact_lock(7346201)"))
        version = _schema_version(conn)
        if version is not None and version > schema.SCHEMA_VERSION:
            raise StoreVersionError(version, schema.SCHEMA_VERSION)
        schema.metadata.create_all(conn, tables=[*SHARED_TABLES, *ALERT_TABLES])
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
    cfg = config.store
    engine = make_engine(
        url or cfg.resolved_url(),
        pool_size=cfg.pool_size,
        connect_timeout=cfg.connect_timeout,
        statement_timeout=cfg.statement_timeout,
        busy_timeout=cfg.busy_timeout,
        synchronous=cfg.sqlite_synchronous,
    )
    store = Store(engine, config.models)
    migrate(engine, store._md)
    return store
