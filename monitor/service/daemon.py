"""``driftwatch run``: the long-running service.

The daemon wires its parts together and owns their life cycle: the store connection
(:mod:`~monitor.service.connection`), the scheduler (:mod:`~monitor.service.scheduling`), the
failure boundary every job runs in (:mod:`~monitor.service.jobs`), the jobs themselves
(:mod:`~monitor.service.model_jobs` per model, :mod:`~monitor.service.housekeeping` for the
whole daemon), what ``/readyz`` reports (:mod:`~monitor.service.readiness`) and the HTTP server
(:mod:`~monitor.service.server`, which sees the daemon through a narrow protocol).

Life cycle. :meth:`start` opens the store (or keeps retrying it), starts the server and the
scheduler, and runs every model's ingestion now, then its check job right after its first
ingestion (models without sources: at once). :meth:`shutdown` stops taking jobs, waits up to
``daemon.shutdown_grace`` for running ones, flushes the alert outbox once and closes
everything. :meth:`reload` swaps in a new, valid config (an invalid one keeps the old).
Signals are :mod:`monitor.cli.service_cmds`'s business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.alerting.delivery import DispatchStats
from monitor.config import Config, ConfigError, load_config
from monitor.service import housekeeping
from monitor.service.connection import StoreConnection
from monitor.service.health import SourceHealth
from monitor.service.jobs import JobGuard
from monitor.service.locks import JobLocks
from monitor.service.logs import configure_logging
from monitor.service.metrics import DaemonMetrics
from monitor.service.model_jobs import ModelJobs
from monitor.service.readiness import Readiness
from monitor.service.scheduling import JobSpec, job_specs, make_scheduler, run_soon, schedule
from monitor.store import Store
from monitor.store.errors import StoreUnavailable
from monitor.store.owner import default_owner
from monitor.store.retention import describe_retention

if TYPE_CHECKING:
    from checks.result import ModelRun
    from monitor.ingest.batch import IngestCounts

log = logging.getLogger("driftwatch.daemon")


class Daemon:
    """The driftwatch service.

    Parameters
    ----------
    config : Config
        The validated configuration.
    config_path : path, optional
        Where :meth:`reload` reads the configuration again.
    clock : callable returning an aware datetime, default ``datetime.now(UTC)``
        The time of the runner, dispatcher, retention and readiness (tests inject one).
    owner : str, default ``"<hostname>-<pid>"``
        Written on run claims and outbox claims.
    manage_logging : bool, default False
        Configure the root logger from ``[daemon]`` (and again on reload).
    serve : bool, default True
        Start the HTTP server on ``[server]`` host and port in :meth:`start`.
    """

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        owner: str | None = None,
        manage_logging: bool = False,
        serve: bool = True,
    ) -> None:
        self.config = config
        self.config_path = Path(config_path) if config_path is not None else None
        self.clock = clock
        self.owner = owner or default_owner()
        self.manage_logging = manage_logging
        self.serve = serve
        self.metrics = DaemonMetrics(clock=clock)
        self.metrics.last_check_source = self.last_checks
        self.sources = SourceHealth()
        self.metrics.registry.register(self.sources)
        self.locks = JobLocks()
        self.scheduler = None
        self.server = None
        self.started_at = clock()
        self.connection = StoreConnection(
            lambda: self.config,
            clock=clock,
            owner=self.owner,
            metrics=self.metrics,
            locks=self.locks,
            on_open=lambda store: self.ready_state.load(store),
        )
        self.ready_state = Readiness(
            self.connection,
            sources=self.sources,
            metrics=self.metrics,
            clock=clock,
            started_at=self.started_at,
        )
        self.jobs = JobGuard(
            self.connection,
            settings=lambda: self.config.daemon,
            metrics=self.metrics,
            clock=clock,
            run_soon=self._run_soon,
            started_at=self.started_at,
        )
        self.model_jobs = ModelJobs(
            clock=clock,
            owner=self.owner,
            locks=self.locks,
            metrics=self.metrics,
            readiness=self.ready_state,
            sources=self.sources,
            run_soon=self._run_soon,
        )
        if manage_logging:
            configure_logging(config.daemon.log_format, config.daemon.log_level)

    # -- what the server and the metrics read -----------------------------------------------

    def store(self) -> Store:
        """The open store, opening it first if needed (:meth:`StoreConnection.open`).

        :raises StoreUnavailable: it cannot be opened now, or another thread is opening it.
        """
        return self.connection.open()

    def no_traffic(self) -> dict[str, str]:
        """Models whose newest checked window had no traffic where rows were expected (``/readyz``)."""
        return self.ready_state.no_traffic()

    def last_checks(self) -> dict[str, datetime | None]:
        """Last successful check cycle per configured model (``None``: not yet)."""
        return self.ready_state.last_checks(self.config)

    def readiness(self) -> tuple[bool, list[str]]:
        """Ready when the store answers, every alert receiver is healthy and no model is overdue."""
        return self.ready_state.report(self.config)

    def liveness(self) -> tuple[bool, str]:
        """Alive while jobs keep finishing (:meth:`JobGuard.liveness`)."""
        return self.jobs.liveness()

    # -- jobs -------------------------------------------------------------------------------

    def ingest_job(self, model_name: str) -> IngestCounts | None:
        """Ingest every source of one model once (skipped while another process ingests it)."""
        return self.jobs.run(
            "ingest", model_name, lambda s: self.model_jobs.ingest(s, self.config.model(model_name))
        )

    def check_job(self, model_name: str) -> list[ModelRun] | None:
        """Check every due window of one model and re-evaluate those with new labels."""
        return self.jobs.run("check", model_name, lambda s: self.model_jobs.check(s, self.config, model_name))

    def dispatch_job(self) -> DispatchStats | None:
        """Deliver due alert notifications once."""
        return self.jobs.run(
            "dispatch", None, lambda s: housekeeping.dispatch(s, self.connection, self.metrics)
        )

    def retention_job(self) -> dict[str, int] | None:
        """Apply retention to the store and the reports (:func:`housekeeping.retention`)."""
        return self.jobs.run(
            "retention", None, lambda s: housekeeping.retention(s, self.config, self.clock())
        )

    def _run_soon(self, job_id: str, delay: timedelta = timedelta(0)) -> None:
        """Move a scheduled job's next run earlier (to now + ``delay``); no-op without a scheduler."""
        if self.scheduler is not None and not self.jobs.stopping:
            run_soon(self.scheduler, job_id, delay)

    # -- life cycle -------------------------------------------------------------------------

    def start(self, *, paused: bool = False) -> None:
        """Open the store (or keep retrying), start the server and the scheduled jobs.

        With ``paused`` the jobs are registered but wait for ``self.scheduler.resume()``.
        """
        if self.serve:
            from monitor.service.server import start_server

            self.server = start_server(self)
        self._open_store()
        self.scheduler = make_scheduler(self.config.daemon)
        self._schedule(job_specs(self.config), first_run={m.name for m in self.config.models})
        self.scheduler.start(paused=paused)
        log.info(
            "driftwatch daemon started: %d model(s), %d job(s), time zone %s",
            len(self.config.models),
            len(self.scheduler.get_jobs()),
            self.config.daemon.timezone,
        )
        for line in describe_retention(self.config, self.clock()):
            log.info("%s", line)

    def _open_store(self) -> None:
        try:
            self.store()
        except StoreUnavailable as exc:
            log.warning("%s; jobs retry every %s", exc, self.config.daemon.store_retry_interval)

    def _schedule(self, specs: list[JobSpec], *, first_run: set[str]) -> None:
        """Add (or replace) jobs; models in ``first_run`` ingest now and check right after."""
        assert self.scheduler is not None
        ingesting = {s.model for s in specs if s.kind == "ingest"}
        self.model_jobs.first_ingest |= ingesting & first_run
        jobs = {
            "ingest": self.ingest_job,
            "check": self.check_job,
            "dispatch": self.dispatch_job,
            "retention": self.retention_job,
        }
        schedule(
            self.scheduler,
            specs,
            jobs,
            run_now=lambda s: s.model in first_run and (s.kind == "ingest" or s.model not in ingesting),
            grace=self.config.daemon.misfire_grace_time,
        )

    def reload(self) -> bool:
        """Read the config file again; a valid one replaces the jobs, an invalid one is logged and ignored."""
        if self.config_path is None:
            log.warning("Reload requested but the daemon has no config file to read")
            return False
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("New configuration is invalid; keeping the running one:\n%s", exc)
            return False
        old = self.config
        if new == old:
            log.info("Configuration reloaded: unchanged")
            return True
        if self.manage_logging and new.daemon != old.daemon:
            configure_logging(new.daemon.log_format, new.daemon.log_level)
        if new.server != old.server:
            log.warning("[server] changes take effect when the daemon restarts")
        if new.daemon.check_workers != old.daemon.check_workers:
            log.warning("[daemon] check_workers takes effect when the daemon restarts")
        self.config = new
        if new.store != old.store or new.models != old.models or new.alerts != old.alerts:
            # New models need their tables and the dispatcher new receivers: reopen. Jobs running
            # now finish on the old store object.
            self.connection.close()
            self._open_store()
        added = {m.name for m in new.models} - {m.name for m in old.models}
        if self.scheduler is not None:
            self._schedule(job_specs(new), first_run=added)
        log.info(
            "Configuration reloaded: %d model(s)%s",
            len(new.models),
            f", new: {', '.join(sorted(added))}" if added else "",
        )
        return True

    def shutdown(self, grace: timedelta | None = None) -> bool:
        """Stop taking jobs, wait for running ones, deliver due alerts, close; all within ``grace``.

        Alert groups are started until ``grace`` (from the call) has passed, so the flush ends
        within ``grace`` plus one delivery's deadline; what is left is logged and stays queued.

        Returns whether every running job finished in time. When one did not, the caller
        should exit the process: the job's uncommitted run rolls back with its connection,
        and its claim is taken over once the lease expires.
        """
        grace = self.config.daemon.shutdown_grace if grace is None else grace
        deadline = time.monotonic() + grace.total_seconds()
        log.info("Stopping: no new jobs; waiting up to %s for running ones", grace)
        self.jobs.stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        finished, running = self.jobs.wait_idle(grace)
        if not finished:
            log.warning("%d job(s) still running after %s; exiting without them", running, grace)
        else:
            housekeeping.flush_outbox(self.jobs, self.connection, self.metrics, deadline)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if finished:
            self.connection.close()
            self.locks.dispose()
        log.info("driftwatch daemon stopped")
        return finished
