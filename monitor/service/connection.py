"""The daemon's store and alert dispatcher: opened on first use, closed and reopened after a loss.

One thread opens the store at a time, and no lock is held while it connects: a caller that
finds another thread connecting (readiness, ``/metrics``, another job) gets
:class:`~monitor.store.errors.StoreUnavailable` at once instead of waiting. The dispatcher is
built with each opened store (its receivers come from the config of that moment).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from monitor.alerting.delivery import Dispatcher
from monitor.config import Config
from monitor.redact import redact_urls
from monitor.service.locks import JobLocks
from monitor.service.metrics import DaemonMetrics
from monitor.store import Store, open_store
from monitor.store.errors import StoreUnavailable, describe_error, is_store_error

log = logging.getLogger("driftwatch.daemon")

NOT_OPENED = "not opened yet"


class StoreConnection:
    """The open store (or why there is none) and the dispatcher that goes with it.

    Parameters
    ----------
    config : callable returning Config
        The daemon's current config: where the store is and which receivers to build (a reload
        may replace it; :meth:`close` then :meth:`open` reopens with the new one).
    clock, owner
        Handed to the dispatcher.
    metrics : DaemonMetrics
        ``driftwatch_store_up`` follows every open.
    locks : JobLocks
        Bound to each opened store (advisory locks on PostgreSQL).
    on_open : callable taking the store
        Reads what the daemon keeps from the store (the last checks) before it is used; when it
        raises, the store is closed and the error passes on.
    """

    def __init__(
        self,
        config: Callable[[], Config],
        *,
        clock: Callable[[], datetime],
        owner: str,
        metrics: DaemonMetrics,
        locks: JobLocks,
        on_open: Callable[[Store], None],
    ) -> None:
        self.config = config
        self.clock = clock
        self.owner = owner
        self.metrics = metrics
        self.locks = locks
        self.on_open = on_open
        self.error: str | None = NOT_OPENED
        self.dispatcher: Dispatcher | None = None
        self._store: Store | None = None
        self._guard = threading.Lock()
        self._opening = threading.Lock()

    @property
    def current(self) -> Store | None:
        """The open store, if any (never opens one)."""
        return self._store

    def open(self) -> Store:
        """The open store, opening it first if needed.

        :raises StoreUnavailable: it cannot be opened now, or another thread is opening it.
        """
        store = self._store
        if store is not None:
            return store
        if not self._opening.acquire(blocking=False):
            raise StoreUnavailable(f"being opened by another thread (last error: {self.error})")
        try:
            store = self._store
            if store is not None:
                return store
            store = self._connect()
        finally:
            self._opening.release()
        with self._guard:
            self._store, self.error = store, None
            self.dispatcher = Dispatcher(
                store.engine, self.config().alerts, clock=self.clock, owner=self.owner
            )
            self.locks.bind(store.engine)
            self.metrics.store_up.set(1)
            log.info("Store opened (%s)", redact_urls(store.engine.url.render_as_string(hide_password=True)))
        return store

    def _connect(self) -> Store:
        try:
            store = open_store(self.config())
        except Exception as exc:
            if not is_store_error(exc):
                raise
            self.lost(exc)
            raise StoreUnavailable(self.error or "") from None
        try:
            self.on_open(store)
        except Exception:
            store.dispose()  # not kept: its pool (and watchdog) would leak on every retry
            raise
        return store

    def lost(self, exc: BaseException) -> None:
        """Note that the store is out of reach (``exc`` says why)."""
        if not isinstance(exc, StoreUnavailable):
            self.error = describe_error(exc)
        self.metrics.store_up.set(0)

    def close(self) -> None:
        """Forget the store and its dispatcher (jobs still using them finish with them)."""
        with self._guard:
            store, self._store, self.dispatcher = self._store, None, None
            self.error = NOT_OPENED
        if store is not None:
            store.dispose()
