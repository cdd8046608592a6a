"""What the daemon runs and when: APScheduler jobs from the config.

Per model: an ingestion job (every ``interval`` of its fastest source; none without
sources) and a check job (its cron ``schedule``); for the whole daemon: alert dispatch
(``daemon.dispatch_interval``) and retention (``daemon.retention_interval``). Job ids are
``<kind>:<model>`` (``dispatch`` and ``retention`` alone), so with ``max_instances=1`` two
jobs of one kind for one model never run at once.

The scheduler keeps its jobs in memory: which windows were checked lives in the store, and
a job store shared by two schedulers would run every job twice.

>>> from monitor.config import parse_config
>>> config = parse_config({"models": [{"name": "fraud", "features": {"numeric": ["amount"]},
...     "sources": [{"path": "a/*.csv", "interval": "10m"}, {"path": "b/*.csv", "kind": "outcomes",
...                  "interval": "1h"}]}]})
>>> [(s.id, str(s.trigger)) for s in job_specs(config)][:2]  # doctest: +NORMALIZE_WHITESPACE
[('ingest:fraud', 'interval[0:10:00]'),
 ('check:fraud', "cron[month='*', day='*', day_of_week='*', hour='0', minute='5']")]
>>> overdue_after(config.models[0], config.daemon)
datetime.timedelta(days=2, seconds=3600)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Config, DaemonConfig, ModelConfig

JobKind = Literal["ingest", "check", "dispatch", "retention"]

#: Worker threads for ingestion, dispatch and retention, which mostly wait on I/O. Check jobs
#: run in an executor of their own, ``daemon.check_workers`` threads: they are CPU-bound, and
#: each holds a window and its reference in memory, so more of them at once than there are
#: CPUs adds memory, not speed.
WORKERS = 8
#: The executor of the check jobs.
CHECKS = "checks"


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: its id, what it does, for which model, and its trigger."""

    id: str
    kind: JobKind
    model: str | None
    trigger: BaseTrigger


def ingest_interval(model: ModelConfig) -> timedelta | None:
    """How often to ingest ``model``: the smallest ``interval`` of its sources (None: no sources)."""
    return min((s.interval for s in model.sources), default=None)


def overdue_after(model: ModelConfig, daemon: DaemonConfig) -> timedelta:
    """A model whose last successful check is older than this is overdue (not ready).

    Two windows, so one slow or missed cycle is tolerated, plus the schedule's slack
    (``daemon.misfire_grace_time``: how late a scheduled run may still start).
    """
    return 2 * model.window.nominal + daemon.misfire_grace_time


def job_id(kind: JobKind, model: str | None = None) -> str:
    """``<kind>:<model>``, or the kind alone for a daemon-wide job.

    >>> job_id("check", "fraud"), job_id("dispatch")
    ('check:fraud', 'dispatch')
    """
    return kind if model is None else f"{kind}:{model}"


def job_specs(config: Config) -> list[JobSpec]:
    """Every job the config asks for, models first (in config order)."""
    tz = config.daemon.timezone
    specs: list[JobSpec] = []
    for model in config.models:
        interval = ingest_interval(model)
        if interval is not None:
            trigger = IntervalTrigger(seconds=_seconds(interval), timezone=tz)
            specs.append(JobSpec(job_id("ingest", model.name), "ingest", model.name, trigger))
        specs.append(JobSpec(job_id("check", model.name), "check", model.name, model.cron_trigger(tz)))
    daemon = config.daemon
    for kind, every in (("dispatch", daemon.dispatch_interval), ("retention", daemon.retention_interval)):
        trigger = IntervalTrigger(seconds=_seconds(every), timezone=tz)
        specs.append(JobSpec(job_id(kind), kind, None, trigger))
    return specs


def _seconds(delta: timedelta) -> float:
    return max(1.0, delta.total_seconds())


def make_scheduler(daemon: DaemonConfig) -> BackgroundScheduler:
    """A scheduler with an in-memory job store, coalescing missed runs, one instance per job,
    and at most ``daemon.check_workers`` check jobs at once."""
    return BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={
            "default": ThreadPoolExecutor(max_workers=WORKERS),
            CHECKS: ThreadPoolExecutor(max_workers=daemon.check_workers),
        },
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(max(1.0, daemon.misfire_grace_time.total_seconds())),
        },
        timezone=daemon.timezone,
    )


def schedule(
    scheduler: BackgroundScheduler,
    specs: list[JobSpec],
    jobs: Mapping[str, Callable[..., Any]],
    *,
    run_now: Callable[[JobSpec], bool],
    grace: timedelta,
) -> None:
    """Add (or replace) the jobs of ``specs``, those ``run_now`` says at once; remove the others.

    Each runs the function ``jobs`` has for its kind, with its model as the argument (if any).
    """
    misfire = int(max(1.0, grace.total_seconds()))
    now = datetime.now(UTC)
    for spec in specs:
        extra: dict[str, Any] = {"next_run_time": now} if run_now(spec) else {}
        scheduler.add_job(
            jobs[spec.kind],
            spec.trigger,
            args=() if spec.model is None else (spec.model,),
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=misfire,
            executor=CHECKS if spec.kind == "check" else "default",
            **extra,
        )
    keep = {s.id for s in specs}
    for job in scheduler.get_jobs():
        if job.id not in keep:
            job.remove()


def run_soon(scheduler: BackgroundScheduler, job_id: str, delay: timedelta = timedelta(0)) -> None:
    """Move a scheduled job's next run earlier, to now + ``delay`` (no-op for an unknown job)."""
    job = scheduler.get_job(job_id)
    if job is None:
        return
    at = datetime.now(UTC) + delay
    if job.next_run_time is None or at < job.next_run_time:
        job.modify(next_run_time=at)


def ago(delta: timedelta) -> str:
    """A duration as people read it in a reason.

    >>> ago(timedelta(seconds=90)), ago(timedelta(hours=5)), ago(timedelta(days=3))
    ('90s', '5.0h', '3.0d')
    """
    seconds = int(delta.total_seconds())
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds}s"
