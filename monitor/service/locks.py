"""Per-model job locks: one process at a time works on a model, however many replicas run.

Within a process a non-blocking :class:`threading.Lock` per key keeps two jobs of one model
apart (the start-up run and a scheduled one, say). On PostgreSQL the lock is also a
session-level advisory lock (``pg_try_advisory_lock``) held on a dedicated connection for the
job's duration, so a replica skips a model another replica is working on; the connection is
opened for the lock alone (not taken from the store's pool) and closing it releases the lock
even when the unlock statement cannot run — a process that dies releases its locks with its
session. On SQLite (one machine) the in-process lock is all there is; the run claims in the
store still guarantee each window is checked once.

>>> locks = JobLocks()
>>> with locks.hold("check:fraud") as mine, locks.hold("check:fraud") as again:
...     mine, again
(True, False)
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from monitor.store.watchdog import install_like

log = logging.getLogger("driftwatch.locks")

#: Advisory-lock keys live in one 64-bit space shared with other applications; this prefix
#: keeps driftwatch's keys apart from theirs (and from the schema migration's lock).
KEY_NAMESPACE = "driftwatch:"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL's ``bigint``).

    >>> advisory_key("check:fraud") == advisory_key("check:fraud") != advisory_key("ingest:fraud")
    True
    """
    digest = hashlib.blake2b((KEY_NAMESPACE + name).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class JobLocks:
    """Non-blocking named locks; advisory locks too once bound to a PostgreSQL store."""

    def __init__(self, engine: Engine | None = None) -> None:
        self._local: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pg: Engine | None = None
        self.bind(engine)

    def bind(self, engine: Engine | None) -> None:
        """Use ``engine``'s database for advisory locks (the in-process locks are kept)."""
        old, self._pg = self._pg, None
        if engine is not None and engine.dialect.name == "postgresql":
            self._pg = create_engine(engine.url, poolclass=NullPool)
            install_like(engine, self._pg)
        if old is not None:
            old.dispose()

    def _local_lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._local.setdefault(name, threading.Lock())

    @contextmanager
    def hold(self, name: str) -> Iterator[bool]:
        """Try to take the lock ``name``; yields whether this process now holds it.

        :raises sqlalchemy.exc.OperationalError: PostgreSQL could not be reached.
        """
        local = self._local_lock(name)
        if not local.acquire(blocking=False):
            yield False
            return
        try:
            if self._pg is None:
                yield True
                return
            with self._pg_lock(name) as held:
                yield held
        finally:
            local.release()

    @contextmanager
    def _pg_lock(self, name: str) -> Iterator[bool]:
        pg = self._pg
        assert pg is not None
        key = advisory_key(name)
        with pg.connect() as conn:
            held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    try:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
                    except Exception as exc:  # the session ends with the connection: the lock goes too
                        log.warning('Could not release lock "%s" (%s); closing its connection', name, exc)

    def dispose(self) -> None:
        if self._pg is not None:
            self._pg.dispose()
