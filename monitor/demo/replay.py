"""The replay: the daemon's own jobs, driven by an accelerated clock.

driftwatch is installed at the end of the reference period: the serving system's logs of the
reference weeks are already there (ingested on the first tick), and the daemon checks every
day after them.

A real APScheduler ``BackgroundScheduler`` runs one interval job, the *tick*; a finished tick
brings the job's next run forward to now, so ticks follow each other as fast as the checks
run and never overlap. Each tick moves
the simulated clock to the next time the model's check is scheduled (its cron ``schedule``,
e.g. 00:05 every day), lets the serving system write the log files of the day that just
ended, and then runs what :class:`monitor.service.daemon.Daemon` runs at that moment -- its
ingestion job, its check job (the runner: every due window, re-evaluations of windows whose
late labels arrived), and its alert dispatch -- through the daemon's own job methods, with
the daemon's clock being the simulated one. Alerts reach the configured receivers (the
console prints them as they would appear). One tick per window, as fast as the checks run.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO

from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from checks.result import ModelRun
from monitor.config import Config, ModelConfig
from monitor.demo.scenario import Scenario
from monitor.demo.serving import LogWriter, day_of
from monitor.service.daemon import Daemon
from monitor.store.schema import runs
from monitor.store.windows import window_counts
from monitor.windows import window_start

#: Interval of the tick job; each tick also brings its successor forward to "now".
TICK_SECONDS = 60.0


class SimulatedClock:
    """A thread-safe clock that only moves when told to."""

    def __init__(self, now: datetime) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, now: datetime) -> None:
        with self._lock:
            self._now = now


@dataclass(frozen=True)
class Evaluation:
    """One check of one window: the first one, or a re-evaluation after late labels."""

    window_end: datetime
    evaluated_at: datetime
    run_id: int | None
    status: str
    reevaluation: bool
    label_coverage: float | None
    checks_run: frozenset[str]
    firing: dict[str, str]
    recommendations: tuple[str, ...]
    report_url: str | None
    predictions: int
    quarantined: int

    @property
    def labels_mature(self) -> bool:
        return "performance" in self.checks_run


@dataclass
class ReplayResult:
    """Every evaluation of the replay, oldest first, and the ticks that failed."""

    evaluations: list[Evaluation] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _firing(run: ModelRun) -> dict[str, str]:
    """Check name -> the worst severity of its findings (checks without findings left out)."""
    out: dict[str, str] = {}
    for check in run.checks:
        severities = {f.severity for f in check.findings}
        if severities:
            out[check.check] = "alert" if "alert" in severities else "warn"
    return out


def _verdict(e: Evaluation) -> tuple[object, ...]:
    return (tuple(sorted(e.firing.items())), e.recommendations, e.labels_mature)


class Replay:
    """Replays ``scenario`` against the daemon of ``config`` (model ``model``).

    Parameters
    ----------
    config : Config
    model : ModelConfig
    scenario : Scenario
    writer : LogWriter
        Writes each day's log files when the clock has passed the day.
    out : text stream, default ``sys.stdout``
        Where the day-by-day story goes (alerts go to the configured receivers).
    tick_seconds : float, default TICK_SECONDS
    """

    def __init__(
        self,
        config: Config,
        model: ModelConfig,
        scenario: Scenario,
        writer: LogWriter,
        *,
        out: TextIO | None = None,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.config = config
        self.model = model
        self.scenario = scenario
        self.writer = writer
        self.out = out
        self.tick_seconds = tick_seconds
        self.clock = SimulatedClock(scenario.start)
        self.daemon = Daemon(config, clock=self.clock, serve=False)
        self.result = ReplayResult()
        self._day = 0
        self._done = threading.Event()
        self._last_seen: dict[datetime, tuple[object, ...]] = {}
        self._trigger = model.cron_trigger(config.daemon.timezone)
        self._job: Job | None = None

    def _say(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)

    def run(self) -> ReplayResult:
        """Replay every day of the scenario; returns when the last day has been checked."""
        scheduler = BackgroundScheduler(timezone=UTC)
        self._job = scheduler.add_job(
            self._tick,
            "interval",
            seconds=self.tick_seconds,
            id="demo-tick",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.start()
        try:
            self._done.wait()
        finally:
            scheduler.shutdown(wait=True)
            self.daemon.shutdown(grace=timedelta(seconds=30))
        return self.result

    def _tick(self) -> None:
        if self._done.is_set():
            return
        try:
            self._advance()
        except Exception as exc:  # the story stops, the caller reports it
            self.result.failures.append(f"{type(exc).__name__}: {exc}")
            self._done.set()
        if not self._done.is_set() and self._job is not None:
            self._job.modify(next_run_time=datetime.now(UTC))

    def _advance(self) -> None:
        day = self._day
        if day >= self.scenario.days:
            self._done.set()
            return
        # The check job's next fire time once day ``day`` has ended.
        day_end = self.scenario.day_start(day + 1)
        fire = self._trigger.get_next_fire_time(None, day_end - timedelta(microseconds=1))
        assert fire is not None
        self.writer.write_day(day)
        self.clock.set(fire.astimezone(UTC))
        if day < self.scenario.reference_days - 1:
            # The reference weeks were served before driftwatch was installed: logs only.
            self._day += 1
            return
        if day == self.scenario.reference_days - 1:
            self._say(
                f"Days 0-{day}: the model served before driftwatch was installed; their logs are its "
                "reference. driftwatch starts now, ingesting them, then checking each new day."
            )
        name = self.model.name
        self.daemon.ingest_job(name)
        done = self.daemon.check_job(name)
        if done is None:
            self.result.failures.append(f"day {day}: the check job failed (see the log)")
        else:
            self._tell(day, done)
        self.daemon.dispatch_job()
        self._day += 1

    # -- the story ------------------------------------------------------------------------

    def _tell(self, day: int, done: list[ModelRun]) -> None:
        now = self.clock()
        store = self.daemon.store()
        coverage = self._coverage([r.run_id for r in done if r.run_id is not None])
        latest = max((r.window_end for r in done), default=None)
        told_window = False
        for run in sorted(done, key=lambda r: r.window_end):
            start = window_start(run.window_end, self.model.window, self.config.daemon.timezone)
            counts = window_counts(store, self.model, start, run.window_end)
            evaluation = Evaluation(
                window_end=run.window_end,
                evaluated_at=now,
                run_id=run.run_id,
                status=run.status,
                reevaluation=run.window_end != latest,
                label_coverage=coverage.get(run.run_id),
                checks_run=frozenset(c.check for c in run.checks if c.status != "skipped"),
                firing=_firing(run),
                recommendations=tuple(r.action for r in run.recommendations),
                report_url=run.report_url,
                predictions=counts.predictions,
                quarantined=counts.quarantined,
            )
            self.result.evaluations.append(evaluation)
            if evaluation.reevaluation:
                self._tell_reevaluation(evaluation)
            else:
                told_window = True
                self._last_seen[evaluation.window_end] = _verdict(evaluation)
                self._say(self._window_line(evaluation))
        if not told_window:
            self._say(f"{self.scenario.day_start(day):%a %b %d}  (no new window)")

    def _coverage(self, run_ids: list[int]) -> dict[int | None, float | None]:
        if not run_ids:
            return {}
        with self.daemon.store().engine.connect() as conn:
            rows = conn.execute(select(runs.c.id, runs.c.label_coverage).where(runs.c.id.in_(run_ids))).all()
        return {r.id: r.label_coverage for r in rows}

    def _flags(self, e: Evaluation, *, labels_only: bool = False) -> str:
        label_checks = {"performance", "calibration", "segments", "threshold"}
        firing = {c: s for c, s in e.firing.items() if not labels_only or c in label_checks}
        parts = [f"{check} {severity}" for check, severity in sorted(firing.items())]
        text = ", ".join(parts) if parts else "all clear"
        if e.recommendations:
            text += "  =>  " + " + ".join(a.replace("_", " ").upper() for a in e.recommendations)
        return text

    def _window_line(self, e: Evaluation) -> str:
        day = day_of(e.window_end - timedelta(seconds=1), self.scenario)
        faults = ", ".join(f.kind for f in self.scenario.active(day)) or "-"
        quarantined = f" ({e.quarantined} quarantined)" if e.quarantined else ""
        return (
            f"{self.scenario.day_start(day):%a %b %d}  day {day:>2}  {e.predictions:>5,} predictions"
            f"{quarantined:<17} fault: {faults:<14} {e.status.upper():<6} {self._flags(e)}"
        )

    def _tell_reevaluation(self, e: Evaluation) -> None:
        """A line for a re-evaluated window only when its label-based verdict changed."""
        key = _verdict(e)
        if self._last_seen.get(e.window_end) == key:
            return
        self._last_seen[e.window_end] = key
        if not e.labels_mature:
            return
        day = day_of(e.window_end - timedelta(seconds=1), self.scenario)
        coverage = f"{e.label_coverage:.0%}" if e.label_coverage is not None else "?"
        self._say(
            f"{'':<18}late labels for {self.scenario.day_start(day):%b %d} (day {day}, {coverage} labelled): "
            f"{self._flags(e, labels_only=True)}"
        )


def run_replay(
    config: Config,
    model: ModelConfig,
    scenario: Scenario,
    writer: LogWriter,
    *,
    out: TextIO | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReplayResult:
    """Replay ``scenario`` (see :class:`Replay`)."""
    replay = Replay(config, model, scenario, writer, out=out)
    if progress is not None:
        progress(f"replaying {scenario.days} days, one tick per window")
    return replay.run()
