"""The failure boundary every scheduled job runs inside.

:meth:`JobGuard.run` gives a job body the store, a log context (job, model) and the failure
policy: one model's failing check never stops another's, and a job that cannot reach the store
logs a warning and runs again after ``daemon.store_retry_interval`` (doubling per failure, up
to :data:`MAX_RETRY_DELAY`). It also counts running jobs, so that shutdown can wait for them,
and when the last one finished, which is the daemon's liveness.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TypeVar

from monitor.config import DaemonConfig
from monitor.service.connection import StoreConnection
from monitor.service.logs import log_context
from monitor.service.metrics import DaemonMetrics
from monitor.service.scheduling import JobKind, ago
from monitor.service.scheduling import job_id as scheduled_id
from monitor.store import Store
from monitor.store.errors import describe_error, is_schema_gone, is_store_error

log = logging.getLogger("driftwatch.daemon")

T = TypeVar("T")

#: Longest wait between retries of a job that cannot reach the store.
MAX_RETRY_DELAY = timedelta(minutes=5)
#: Doublings of the retry delay counted at most (2**20 times any interval is past the cap).
MAX_RETRY_DOUBLINGS = 20


class JobGuard:
    """Runs job bodies under the failure policy; knows which are running and when one last ended.

    Parameters
    ----------
    connection : StoreConnection
        Opens the store for each body; closed when the store lost its tables.
    settings : callable returning DaemonConfig
        The daemon's current ``[daemon]`` settings (a reload may change them).
    metrics : DaemonMetrics
        Counts failures; ``driftwatch_store_up`` follows each job.
    clock : callable returning an aware datetime
    run_soon : callable taking a job id and a delay
        Moves a scheduled job's next run earlier (the retry after a store outage).
    started_at : datetime
        When the daemon started (liveness counts from here until a job finishes).
    """

    def __init__(
        self,
        connection: StoreConnection,
        *,
        settings: Callable[[], DaemonConfig],
        metrics: DaemonMetrics,
        clock: Callable[[], datetime],
        run_soon: Callable[[str, timedelta], None],
        started_at: datetime,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.run_soon = run_soon
        self.retries: dict[str, int] = {}
        self.stopping = False
        self._last_tick = started_at
        self._running = 0
        self._idle = threading.Condition()

    def run(
        self, kind: JobKind, model: str | None, body: Callable[[Store], T], *, final: bool = False
    ) -> T | None:
        """Run the body of job ``kind`` (of ``model``) with the store, a log context and the failure policy.

        Once stopping, only the ``final`` job (the outbox flush) still runs.
        """
        if self.stopping and not final:
            return None
        job_id = scheduled_id(kind, model)
        with self._tracked(), log_context(job=kind, model=model):
            try:
                result = body(self.connection.open())
            except Exception as exc:
                self.metrics.job_failures.labels(kind, model or "").inc()
                if is_schema_gone(exc):
                    log.warning("The store lost its tables (%s); creating them again", describe_error(exc))
                    self.connection.close()
                    self.retry_later(job_id, exc)
                elif is_store_error(exc):
                    self.connection.lost(exc)
                    self.retry_later(job_id, exc)
                else:
                    log.error('Job "%s" failed: %s: %s', job_id, type(exc).__name__, exc, exc_info=True)
                return None
            if self.retries.pop(job_id, None):
                log.info('Job "%s" reached the store again', job_id)
            self.metrics.store_up.set(1)
            return result

    def retry_later(self, job_id: str, exc: BaseException) -> None:
        """Run ``job_id`` again after a delay that doubles with each failure in a row."""
        attempt = self.retries.get(job_id, 0) + 1
        self.retries[job_id] = attempt
        base = self.settings().store_retry_interval
        delay = min(base * 2 ** min(attempt - 1, MAX_RETRY_DOUBLINGS), max(base, MAX_RETRY_DELAY))
        log.warning(
            'Job "%s" cannot reach the store (%s); retrying in %.0fs (attempt %d)',
            job_id,
            describe_error(exc),
            delay.total_seconds(),
            attempt,
        )
        self.run_soon(job_id, delay)

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            self._last_tick = self.clock()
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: timedelta) -> tuple[bool, int]:
        """Wait up to ``timeout`` for running jobs: whether none is left, and how many are."""
        with self._idle:
            finished = self._idle.wait_for(lambda: self._running == 0, timeout=timeout.total_seconds())
            return finished, self._running

    def liveness(self) -> tuple[bool, str]:
        """Alive while jobs keep finishing: the last one ended within ``daemon.liveness_timeout``.

        The dispatch job alone finishes every ``daemon.dispatch_interval``; a daemon whose jobs
        all hang (a store or receiver that never answers) is reported dead so that it is restarted.
        """
        quiet = self.clock() - self._last_tick
        limit = self.settings().liveness_timeout
        if quiet > limit:
            return False, f"no scheduled job has finished for {ago(quiet)} (limit {ago(limit)})"
        return True, "alive"
