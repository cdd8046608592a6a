"""Prometheus metrics of one daemon process, in a registry of its own (not the global one).

Counters count what this process did (sum them across replicas in PromQL); the gauges that
describe shared state (pending alerts, label coverage, time since the last successful
check) are read from the store or from the daemon, so every replica reports the same value.

>>> from datetime import UTC, datetime
>>> metrics = DaemonMetrics(clock=lambda: datetime(2026, 11, 1, 12, tzinfo=UTC))
>>> metrics.observe_ingest("fraud", stored=90, duplicates=0, quarantined=10)
>>> b'driftwatch_ingested_rows_total{model="fraud",outcome="quarantined"} 10.0' in metrics.render()
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from checks.result import ModelRun

__all__ = ["CONTENT_TYPE_LATEST", "DaemonMetrics"]

#: A run reads two windows, runs every check and writes a report: seconds to many minutes.
RUN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class _SinceLastCheck(Collector):
    """``driftwatch_seconds_since_last_check{model}``, computed at scrape time."""

    def __init__(
        self, last: Callable[[], Mapping[str, datetime | None]], clock: Callable[[], datetime]
    ) -> None:
        self._last = last
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "driftwatch_seconds_since_last_check",
            "Seconds since the last successful check cycle of a model (by any replica); "
            "absent until the first one.",
            labels=["model"],
        )
        now = self._clock()
        for model, moment in sorted(self._last().items()):
            if moment is not None:
                family.add_metric([model], max(0.0, (now - moment).total_seconds()))
        yield family


class DaemonMetrics:
    """Every metric the daemon exports; ``render()`` gives the exposition text."""

    def __init__(self, *, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs = Counter(
            "driftwatch_runs",
            "Model runs (one model, one window) finished, by status.",
            ["model", "status"],
            registry=r,
        )
        self.run_duration = Histogram(
            "driftwatch_run_duration_seconds",
            "Time to check one window of a model.",
            ["model"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.cycle_duration = Histogram(
            "driftwatch_cycle_duration_seconds",
            "Time of one check job of a model (catch-up plus re-evaluations).",
            ["model"],
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.check_results = Counter(
            "driftwatch_check_results",
            "Check results, by check and status.",
            ["model", "check", "status"],
            registry=r,
        )
        self.findings = Counter(
            "driftwatch_findings",
            "Findings, by check and severity.",
            ["model", "check", "severity"],
            registry=r,
        )
        self.job_failures = Counter(
            "driftwatch_job_failures", "Jobs that ended in an error, by job.", ["job", "model"], registry=r
        )
        self.job_skips = Counter(
            "driftwatch_job_skips",
            "Jobs skipped because another replica or job held the model's lock.",
            ["job", "model"],
            registry=r,
        )
        self.ingested_rows = Counter(
            "driftwatch_ingested_rows",
            "Rows received, by what became of them (stored, duplicate, quarantined).",
            ["model", "outcome"],
            registry=r,
        )
        self.alerts = Counter(
            "driftwatch_alert_notifications",
            "Alert notifications (outbox rows) handled by this process: delivered, retried or failed.",
            ["outcome"],
            registry=r,
        )
        self.alerts_pending = Gauge(
            "driftwatch_alert_notifications_pending", "Alert notifications waiting in the outbox.", registry=r
        )
        self.label_coverage = Gauge(
            "driftwatch_label_coverage",
            "Label coverage of the newest checked window of a model.",
            ["model"],
            registry=r,
        )
        self.ready = Gauge("driftwatch_ready", "1 when /readyz answers 200, else 0.", registry=r)
        self.store_up = Gauge("driftwatch_store_up", "1 when the store answered the last probe.", registry=r)
        self.last_check_source: Callable[[], Mapping[str, datetime | None]] = dict
        r.register(_SinceLastCheck(lambda: self.last_check_source(), clock))

    def observe_runs(self, model: str, runs: Iterable[ModelRun], durations: Mapping[int, float]) -> None:
        """Count the runs of one check job with their checks, findings and durations (by run id)."""
        for run in runs:
            self.runs.labels(model, run.status).inc()
            if run.run_id is not None and run.run_id in durations:
                self.run_duration.labels(model).observe(durations[run.run_id])
            for check in run.checks:
                self.check_results.labels(model, check.check, check.status).inc()
                for finding in check.findings:
                    self.findings.labels(model, check.check, finding.severity).inc()

    def observe_ingest(self, model: str, *, stored: int, duplicates: int, quarantined: int) -> None:
        for outcome, count in (("stored", stored), ("duplicate", duplicates), ("quarantined", quarantined)):
            self.ingested_rows.labels(model, outcome).inc(count)

    def observe_dispatch(self, *, delivered: int, retried: int, failed: int, pending: int | None) -> None:
        for outcome, count in (("delivered", delivered), ("retried", retried), ("failed", failed)):
            self.alerts.labels(outcome).inc(count)
        if pending is not None:
            self.alerts_pending.set(pending)

    def render(self) -> bytes:
        return generate_latest(self.registry)
