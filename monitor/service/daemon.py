"""``driftwatch run``: the long-running service.

The daemon owns a scheduler (:mod:`monitor.service.scheduling`), the store, the alert dispatcher and
the HTTP server (:mod:`monitor.service.server`). Each job body runs through :meth:`Daemon._run_job`,
which gives it the store, a log context (job, model), a failure boundary (one model's failing
check never stops another's), and the store-outage policy: a job that cannot reach the store
logs a warning and runs again after ``daemon.store_retry_interval`` (doubling per failure, up
to :data:`MAX_RETRY_DELAY`); catch-up after the outage happens in :meth:`Runner.cycle`, which
reads from the store which windows are done.

Life cycle. :meth:`start` opens the store (or keeps retrying it), starts the server and the
scheduler, and runs every model's ingestion now, then its check job right after its first
ingestion (models without sources: at once). :meth:`shutdown` stops taking jobs, waits up to
``daemon.shutdown_grace`` for running ones, flushes the alert outbox once and closes
everything. :meth:`reload` swaps in a new, valid config (an invalid one keeps the old).
Signals are :mod:`monitor.cli.service_cmds`'s business.

Heavy modules (the runner with pandas, scipy, scikit-learn, evidently; ingestion with
pandas) are imported inside the jobs, so the daemon is ready in well under two seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select, text

from monitor.alerting.delivery import Dispatcher, DispatchStats, default_owner
from monitor.config import Config, ConfigError, load_config
from monitor.engines import window_counts
from monitor.pipeline.due import due_windows, windows_with_new_labels
from monitor.redact import redact_urls
from monitor.service.health import SourceHealth
from monitor.service.locks import JobLocks
from monitor.service.logs import configure_logging, log_context
from monitor.service.metrics import DaemonMetrics
from monitor.service.scheduling import JobSpec, job_specs, make_scheduler, overdue_after
from monitor.store import Store, open_store
from monitor.store.alerts import alert_outbox
from monitor.store.errors import StoreUnavailable, describe_error, is_schema_gone, is_store_error
from monitor.store.retention import apply_retention, describe_retention
from monitor.store.runs import stopped_traffic
from monitor.store.schema import runs
from monitor.windows import aware_utc

log = logging.getLogger("driftwatch.daemon")

T = TypeVar("T")

#: Longest wait between retries of a job that cannot reach the store.
MAX_RETRY_DELAY = timedelta(minutes=5)
#: Doublings of the retry delay counted at most (2**20 times any interval is past the cap).
MAX_RETRY_DOUBLINGS = 20
#: Longest ``/readyz`` waits for the store's answer before saying it is unreachable.
PROBE_TIMEOUT = 2.0


@dataclass
class _Probe:
    """One readiness probe of the store, running in its own thread."""

    started: float
    done: threading.Event = field(default_factory=threading.Event)
    reasons: list[str] = field(default_factory=list)


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
        self._store: Store | None = None
        self._store_error: str | None = "not opened yet"
        self._store_guard = threading.Lock()
        self._opening = threading.Lock()
        self._probe: _Probe | None = None
        self._probe_guard = threading.Lock()
        self._last_tick = self.started_at
        self._dispatcher: Dispatcher | None = None
        self._last_check: dict[str, datetime] = {}
        self._no_traffic: dict[str, str] = {}
        self._first_ingest_pending: set[str] = set()
        self._retries: dict[str, int] = {}
        self._stopping = False
        self._running = 0
        self._idle = threading.Condition()
        if manage_logging:
            configure_logging(config.daemon.log_format, config.daemon.log_level)

    # -- the store ------------------------------------------------------------------------

    def store(self) -> Store:
        """The open store, opening it first if needed.

        One thread opens it at a time, and no lock is held while it connects: a caller that
        finds another thread connecting (readiness, ``/metrics``, another job) does not wait.

        :raises StoreUnavailable: it cannot be opened now, or another thread is opening it.
        """
        store = self._store
        if store is not None:
            return store
        if not self._opening.acquire(blocking=False):
            raise StoreUnavailable(f"being opened by another thread (last error: {self._store_error})")
        try:
            store = self._store
            if store is not None:
                return store
            try:
                store = open_store(self.config)
            except Exception as exc:
                if not is_store_error(exc):
                    raise
                self._store_error = describe_error(exc)
                self.metrics.store_up.set(0)
                raise StoreUnavailable(self._store_error) from None
            try:
                self._load_last_checks(store)
            except Exception:
                store.dispose()  # not kept: its pool (and watchdog) would leak on every retry
                raise
        finally:
            self._opening.release()
        with self._store_guard:
            self._store, self._store_error = store, None
            self._dispatcher = Dispatcher(
                store.engine, self.config.alerts, clock=self.clock, owner=self.owner
            )
            self.locks.bind(store.engine)
            self.metrics.store_up.set(1)
            log.info("Store opened (%s)", redact_urls(store.engine.url.render_as_string(hide_password=True)))
        return store

    def _close_store(self) -> None:
        with self._store_guard:
            store, self._store, self._dispatcher = self._store, None, None
            self._store_error = "not opened yet"
        if store is not None:
            store.dispose()

    def _load_last_checks(self, store: Store) -> None:
        """Newest finished run per model, by any replica (so readiness sees their work too)."""
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(runs.c.model, func.max(runs.c.finished_at))
                .where(runs.c.state == "done")
                .group_by(runs.c.model)
            ).all()
        for model, finished in rows:
            if finished is not None:
                self._note_check(model, aware_utc(finished))
        self._no_traffic = stopped_traffic(store.engine)

    def _note_check(self, model: str, moment: datetime) -> None:
        known = self._last_check.get(model)
        if known is None or moment > known:
            self._last_check[model] = moment

    def no_traffic(self) -> dict[str, str]:
        """Models whose newest checked window had no traffic where rows were expected (``/readyz``)."""
        return dict(self._no_traffic)

    def last_checks(self) -> dict[str, datetime | None]:
        """Last successful check cycle per configured model (``None``: not yet)."""
        return {m.name: self._last_check.get(m.name) for m in self.config.models}

    # -- jobs -----------------------------------------------------------------------------

    def _run_job(
        self, job_id: str, kind: str, model: str | None, body: Callable[[Store], T], *, final: bool = False
    ) -> T | None:
        """Run one job body with the store, a log context and the failure policy.

        Once stopping, only the ``final`` job (the outbox flush) still runs.
        """
        if self._stopping and not final:
            return None
        with self._tracked(), log_context(job=kind, model=model):
            try:
                result = body(self.store())
            except Exception as exc:
                self.metrics.job_failures.labels(kind, model or "").inc()
                if is_schema_gone(exc):
                    log.warning("The store lost its tables (%s); creating them again", describe_error(exc))
                    self._close_store()
                    self._retry_later(job_id, exc)
                elif is_store_error(exc):
                    if not isinstance(exc, StoreUnavailable):
                        self._store_error = describe_error(exc)
                    self.metrics.store_up.set(0)
                    self._retry_later(job_id, exc)
                else:
                    log.error('Job "%s" failed: %s: %s', job_id, type(exc).__name__, exc, exc_info=True)
                return None
            if self._retries.pop(job_id, None):
                log.info('Job "%s" reached the store again', job_id)
            self.metrics.store_up.set(1)
            return result

    def _retry_later(self, job_id: str, exc: BaseException) -> None:
        attempt = self._retries.get(job_id, 0) + 1
        self._retries[job_id] = attempt
        base = self.config.daemon.store_retry_interval
        delay = min(base * 2 ** min(attempt - 1, MAX_RETRY_DOUBLINGS), max(base, MAX_RETRY_DELAY))
        log.warning(
            'Job "%s" cannot reach the store (%s); retrying in %.0fs (attempt %d)',
            job_id,
            describe_error(exc),
            delay.total_seconds(),
            attempt,
        )
        self._run_soon(job_id, delay)

    def _run_soon(self, job_id: str, delay: timedelta = timedelta(0)) -> None:
        """Move a scheduled job's next run earlier (to now + ``delay``); no-op without a scheduler."""
        if self.scheduler is None or self._stopping:
            return
        job = self.scheduler.get_job(job_id)
        if job is None:
            return
        at = datetime.now(UTC) + delay
        if job.next_run_time is None or at < job.next_run_time:
            job.modify(next_run_time=at)

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

    def liveness(self) -> tuple[bool, str]:
        """Alive while jobs keep finishing: the last one ended within ``daemon.liveness_timeout``.

        The dispatch job alone finishes every ``daemon.dispatch_interval``; a daemon whose jobs
        all hang (a store or receiver that never answers) is reported dead so that it is restarted.
        """
        quiet = self.clock() - self._last_tick
        limit = self.config.daemon.liveness_timeout
        if quiet > limit:
            return False, f"no scheduled job has finished for {_ago(quiet)} (limit {_ago(limit)})"
        return True, "alive"

    def ingest_job(self, model_name: str) -> Any:
        """Ingest every source of one model once (skipped while another process ingests it)."""
        return self._run_job(
            f"ingest:{model_name}", "ingest", model_name, lambda s: self._ingest(s, model_name)
        )

    def _ingest(self, store: Store, model_name: str) -> Any:
        from monitor.ingest.sources import ingest_sources  # pandas: imported by the first job, not at start

        model = self.config.model(model_name)
        with self.locks.hold(f"ingest:{model_name}") as mine:
            if mine:
                counts = ingest_sources(store, model, now=self.clock(), health=self.sources)
        if model_name in self._first_ingest_pending:
            self._first_ingest_pending.discard(model_name)
            self._run_soon(f"check:{model_name}")
        if not mine:
            self.metrics.job_skips.labels("ingest", model_name).inc()
            log.debug('Another process is ingesting model "%s"; skipped', model_name)
            return None
        self.metrics.observe_ingest(
            model_name, stored=counts.stored, duplicates=counts.duplicates, quarantined=counts.quarantined
        )
        for warning in counts.warnings:
            log.warning("Ingestion: %s", warning)
        if counts.rows:
            log.info('Ingested model "%s": %s', model_name, counts.summary())
        return counts

    def check_job(self, model_name: str) -> list[Any] | None:
        """Check every due window of one model and re-evaluate those with new labels."""
        return self._run_job(f"check:{model_name}", "check", model_name, lambda s: self._check(s, model_name))

    def _check(self, store: Store, model_name: str) -> list[Any] | None:
        model = self.config.model(model_name)
        with self.locks.hold(f"check:{model_name}") as mine:
            if not mine:
                self.metrics.job_skips.labels("check", model_name).inc()
                log.debug('Another process is checking model "%s"; skipped', model_name)
                self._load_last_checks(store)
                return None
            started, now = time.perf_counter(), self.clock()
            due = due_windows(store, self.config, model, now)
            relabelled = windows_with_new_labels(store, self.config, model, now)
            done = []  # nothing due: the check stack is not even imported
            if due or relabelled:
                from monitor.pipeline.runner import (
                    Runner,  # pandas, scipy, scikit-learn: only with work to do
                )

                runner = Runner(store, self.config, clock=self.clock, owner=self.owner)
                done = runner.work(model, due, relabelled)
            self.metrics.cycle_duration.labels(model_name).observe(time.perf_counter() - started)
        self._note_check(model_name, self.clock())
        self._record_runs(store, model_name, done)
        self._no_traffic = stopped_traffic(store.engine)
        return done

    def _record_runs(self, store: Store, model_name: str, done: list[Any]) -> None:
        ids = [r.run_id for r in done if r.run_id is not None]
        with store.engine.connect() as conn:
            timings = (
                conn.execute(
                    select(runs.c.id, runs.c.started_at, runs.c.finished_at).where(runs.c.id.in_(ids))
                ).all()
                if ids
                else []
            )
            newest = conn.execute(
                select(runs.c.window_start, runs.c.window_end)
                .where(runs.c.model == model_name, runs.c.state == "done")
                .order_by(runs.c.window_end.desc())
                .limit(1)
            ).first()
        # Counted now, not as of the window's last evaluation: labels keep arriving in between.
        model = self.config.model(model_name)
        coverage = None if newest is None else window_counts(store, model, *map(aware_utc, newest)).coverage
        durations = {
            r.id: (r.finished_at - r.started_at).total_seconds()
            for r in timings
            if r.finished_at and r.started_at
        }
        self.metrics.observe_runs(model_name, done, durations)
        if coverage is not None:
            self.metrics.label_coverage.labels(model_name).set(coverage)

    def dispatch_job(self) -> DispatchStats | None:
        """Deliver due alert notifications once."""
        return self._run_job("dispatch", "dispatch", None, self._dispatch)

    def _dispatch(self, store: Store, deadline: float | None = None) -> DispatchStats:
        assert self._dispatcher is not None
        stats = self._dispatcher.dispatch_once(deadline=deadline)
        self.metrics.observe_dispatch(
            delivered=stats.delivered, retried=stats.retried, failed=stats.failed, pending=_pending(store)
        )
        return stats

    def _flush_outbox(self, deadline: float) -> None:
        """Deliver what is due until nothing is or ``deadline`` (monotonic) passes; log what remains."""
        delivered, store = 0, None
        while True:
            stats = self._run_job(
                "dispatch", "dispatch", None, lambda s: self._dispatch(s, deadline), final=True
            )
            if stats is None:
                break
            delivered += stats.delivered
            store = self._store
            if stats.left or not stats.claimed or time.monotonic() >= deadline:
                break
        try:
            remaining = _pending(store) if store is not None else None
        except Exception as exc:
            log.warning("Could not count the queued alert notifications: %s", describe_error(exc))
            remaining = None
        log.info(
            "Flushed the alert outbox: %d notification(s) delivered, %s still queued%s",
            delivered,
            "an unknown number" if remaining is None else remaining,
            " (delivered after the next start)" if remaining else "",
        )

    def retention_job(self) -> dict[str, int] | None:
        """Delete events, outcomes, quarantine past ``daemon.event_retention_days``; prune reports.

        What the checks still need stays (:mod:`monitor.store.retention`).
        """
        return self._run_job("retention", "retention", None, self._retention)

    def _retention(self, store: Store) -> dict[str, int]:
        from monitor.reports import prune_reports

        now = self.clock()
        removed = {**apply_retention(store, self.config, now), "reports": 0}
        reports = prune_reports(
            Path(self.config.reports.dir), retention_days=self.config.reports.retention_days, now=now
        )
        removed["reports"] = len(reports)
        if any(removed.values()):
            log.info(
                "Retention removed %d event(s), %d outcome(s), %d quarantined row(s), %d report file(s)",
                removed["events"],
                removed["outcomes"],
                removed["quarantine"],
                removed["reports"],
            )
        return removed

    # -- readiness ------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, list[str]]:
        """Ready when the store answers, every alert receiver is healthy and no model is overdue.

        The store is probed in a thread of its own, one probe at a time; the answer waits at
        most :data:`PROBE_TIMEOUT` for it, so ``/readyz`` and ``/metrics`` answer promptly even
        when the store never does.
        """
        reasons = self._probe_store()
        reasons.extend(self.sources.problems())
        now = self.clock()
        for model in self.config.models:
            since = self._last_check.get(model.name) or self.started_at
            limit = overdue_after(model, self.config.daemon)
            if now - since > limit:
                reasons.append(
                    f'model "{model.name}" is overdue: last successful check {_ago(now - since)} ago '
                    f"(limit {_ago(limit)})"
                )
        self.metrics.ready.set(0 if reasons else 1)
        return not reasons, reasons

    def _probe_store(self) -> list[str]:
        with self._probe_guard:
            probe = self._probe
            if probe is None or probe.done.is_set():
                probe = self._probe = _Probe(time.monotonic())
                threading.Thread(
                    target=self._run_probe, args=(probe,), name="driftwatch-probe", daemon=True
                ).start()
        if not probe.done.wait(PROBE_TIMEOUT):
            self.metrics.store_up.set(0)
            waited = time.monotonic() - probe.started
            return [
                f"store unreachable: no answer for {waited:.0f}s (last error: {self._store_error or 'none'})"
            ]
        return probe.reasons

    def _run_probe(self, probe: _Probe) -> None:
        """``SELECT 1`` and the receivers' health; the reasons go on ``probe``."""
        try:
            store = self.store()
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            dispatcher = self._dispatcher
            health = dispatcher.receiver_health() if dispatcher is not None else {}
        except StoreUnavailable as exc:
            probe.reasons.append(str(exc))
        except Exception as exc:
            if is_schema_gone(exc):
                self._close_store()
            probe.reasons.append(f"store unreachable: {describe_error(exc)}")
        else:
            for name, status in health.items():
                if status is not True:
                    probe.reasons.append(f'alert receiver "{name}" is unhealthy: {status}')
        self.metrics.store_up.set(0 if probe.reasons and probe.reasons[0].startswith("store") else 1)
        probe.done.set()

    # -- life cycle -----------------------------------------------------------------------

    def start(self, *, paused: bool = False) -> None:
        """Open the store (or keep retrying), start the server and the scheduled jobs.

        With ``paused`` the jobs are registered but wait for ``self.scheduler.resume()``.
        """
        if self.serve:
            from monitor.service.server import start_server

            self.server = start_server(self)
        try:
            self.store()
        except StoreUnavailable as exc:
            log.warning("%s; jobs retry every %s", exc, self.config.daemon.store_retry_interval)
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

    def _job_function(self, spec: JobSpec) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if spec.kind == "ingest":
            return self.ingest_job, (spec.model,)
        if spec.kind == "check":
            return self.check_job, (spec.model,)
        if spec.kind == "dispatch":
            return self.dispatch_job, ()
        return self.retention_job, ()

    def _schedule(self, specs: list[JobSpec], *, first_run: set[str]) -> None:
        """Add (or replace) jobs; models in ``first_run`` ingest now and check right after."""
        assert self.scheduler is not None
        grace = int(max(1.0, self.config.daemon.misfire_grace_time.total_seconds()))
        ingesting = {s.model for s in specs if s.kind == "ingest"}
        now = datetime.now(UTC)
        for spec in specs:
            func, args = self._job_function(spec)
            extra: dict[str, Any] = {}
            if spec.model in first_run and (spec.kind == "ingest" or spec.model not in ingesting):
                extra["next_run_time"] = now
            if spec.kind == "ingest" and spec.model in first_run:
                self._first_ingest_pending.add(spec.model)
            self.scheduler.add_job(
                func,
                spec.trigger,
                args=args,
                id=spec.id,
                name=spec.id,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=grace,
                **extra,
            )
        keep = {s.id for s in specs}
        for job in self.scheduler.get_jobs():
            if job.id not in keep:
                job.remove()

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
        self.config = new
        if new.store != old.store or new.models != old.models or new.alerts != old.alerts:
            # New models need their tables and the dispatcher new receivers: reopen. Jobs running
            # now finish on the old store object.
            self._close_store()
            try:
                self.store()
            except StoreUnavailable as exc:
                log.warning("%s; jobs retry every %s", exc, new.daemon.store_retry_interval)
        old_models = {m.name for m in old.models}
        added = {m.name for m in new.models} - old_models
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
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with self._idle:
            finished = self._idle.wait_for(lambda: self._running == 0, timeout=grace.total_seconds())
            running = self._running
        if not finished:
            log.warning("%d job(s) still running after %s; exiting without them", running, grace)
        else:
            self._flush_outbox(deadline)
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if finished:
            self._close_store()
            self.locks.dispose()
        log.info("driftwatch daemon stopped")
        return finished


def _pending(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(alert_outbox).where(alert_outbox.c.status == "pending")
            ).scalar_one()
        )


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds}s"
