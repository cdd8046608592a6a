"""The two jobs of each model: ingest its sources, and check its due windows.

A model's first check runs right after its first ingestion (the daemon puts the models whose
jobs it schedules for the first time in :attr:`ModelJobs.first_ingest`).

Each runs under the model's job lock (:mod:`monitor.service.locks`): a replica or thread that
finds it held skips the job. Heavy modules (ingestion with pandas; the runner with pandas,
scipy, scikit-learn, evidently) are imported inside the jobs, and the check stack only when a
window is due, so the daemon is ready in well under two seconds and a daemon with nothing to
check stays small. Catch-up after an outage needs nothing of its own: the due windows are
read from the store (:mod:`monitor.pipeline.due`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.config import Config, ModelConfig
from monitor.engines import window_counts
from monitor.pipeline.due import due_windows, windows_with_new_labels
from monitor.service.health import SourceHealth
from monitor.service.locks import JobLocks
from monitor.service.metrics import DaemonMetrics
from monitor.service.readiness import Readiness
from monitor.service.scheduling import job_id
from monitor.store import Store
from monitor.store.runs import newest_done_window

if TYPE_CHECKING:
    from checks.result import ModelRun
    from monitor.ingest.batch import IngestCounts

log = logging.getLogger("driftwatch.daemon")


class ModelJobs:
    """Ingestion and check job bodies, sharing the daemon's locks, metrics and readiness state."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        owner: str,
        locks: JobLocks,
        metrics: DaemonMetrics,
        readiness: Readiness,
        sources: SourceHealth,
        run_soon: Callable[[str], None],
    ) -> None:
        self.clock = clock
        self.owner = owner
        self.locks = locks
        self.metrics = metrics
        self.readiness = readiness
        self.sources = sources
        self.run_soon = run_soon
        #: Models whose check job waits for their first ingestion.
        self.first_ingest: set[str] = set()

    def ingest(self, store: Store, model: ModelConfig) -> IngestCounts | None:
        """Ingest every source of ``model`` once; ``None`` when another process is ingesting it."""
        from monitor.ingest.sources import ingest_sources  # pandas: imported by the first job, not at start

        with self.locks.hold(job_id("ingest", model.name)) as mine:
            if mine:
                counts = ingest_sources(store, model, now=self.clock(), health=self.sources)
        if model.name in self.first_ingest:
            self.first_ingest.discard(model.name)
            self.run_soon(job_id("check", model.name))
        if not mine:
            self.metrics.job_skips.labels("ingest", model.name).inc()
            log.debug('Another process is ingesting model "%s"; skipped', model.name)
            return None
        self.metrics.observe_ingest(
            model.name, stored=counts.stored, duplicates=counts.duplicates, quarantined=counts.quarantined
        )
        for warning in counts.warnings:
            log.warning("Ingestion: %s", warning)
        if counts.rows:
            log.info('Ingested model "%s": %s', model.name, counts.summary())
        return counts

    def check(self, store: Store, config: Config, model_name: str) -> list[ModelRun] | None:
        """Check every due window of a model, re-evaluate those with new labels; ``None`` if skipped."""
        model = config.model(model_name)
        with self.locks.hold(job_id("check", model.name)) as mine:
            if not mine:
                self.metrics.job_skips.labels("check", model.name).inc()
                log.debug('Another process is checking model "%s"; skipped', model.name)
                self.readiness.load(store)
                return None
            started, now = time.perf_counter(), self.clock()
            due = due_windows(store, config, model, now)
            relabelled = windows_with_new_labels(store, config, model, now)
            runs: list[ModelRun] = []  # nothing due: the check stack is not even imported
            seconds: dict[int, float] = {}
            if due or relabelled:
                from monitor.pipeline.runner import Runner  # pandas, scipy, scikit-learn: only with work

                work = Runner(store, config, clock=self.clock, owner=self.owner).work(model, due, relabelled)
                runs, seconds = work.runs, work.seconds
            self.metrics.cycle_duration.labels(model.name).observe(time.perf_counter() - started)
        self.readiness.checked(model.name, self.clock())
        self.metrics.observe_runs(model.name, runs, seconds)
        newest = newest_done_window(store.engine, model.name)
        if newest is not None:
            # Counted now, not as of the window's last evaluation: labels keep arriving in between.
            self.metrics.label_coverage.labels(model.name).set(window_counts(store, model, *newest).coverage)
        self.readiness.refresh_traffic(store)
        return runs
