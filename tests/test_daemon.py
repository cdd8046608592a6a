"""The daemon's jobs driven directly with an injected clock: catch-up, faults, reload, shutdown.

Tests of what the store does (claims, leases, outbox, readiness) run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, select

from monitor.config import ConfigError, parse_config
from monitor.ingest import ingest_frame
from monitor.service.daemon import Daemon
from monitor.service.logs import make_handler
from monitor.service.scheduling import job_specs, make_scheduler, schedule
from monitor.store.alerts import alert_outbox
from monitor.store.runs import claim_window
from monitor.store.schema import quarantine, runs
from tests.conftest import (
    DAY,
    LIGHT,
    START,
    Clock,
    light_config,
    load_days,
    make_config,
    mark_checked,
    metric_samples,
    model_dict,
    traffic,
)


def window_rows(daemon: Daemon, model: str = "fraud") -> list[Any]:
    with daemon.store().engine.connect() as conn:
        return conn.execute(
            select(runs.c.id, runs.c.window_end, runs.c.state, runs.c.attempts)
            .where(runs.c.model == model)
            .order_by(runs.c.id)
        ).all()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'driftwatch.db'}"


@pytest.fixture
def stop_daemons() -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for daemon in daemons:
        daemon.shutdown(timedelta(seconds=5))


def test_catch_up_after_downtime_checks_each_missed_window_once_oldest_first(
    store_url: str, tmp_path: Path, clock: Clock
) -> None:
    config = light_config(store_url, tmp_path)
    clock.now = START + 3 * DAY + timedelta(minutes=10)
    first = Daemon(config, clock=clock, serve=False)
    load_days(first, range(12), now=clock.now)
    before = first.check_job("fraud")
    assert [r.window_end for r in before] == [START + DAY, START + 2 * DAY, START + 3 * DAY]
    assert first.shutdown(timedelta(seconds=1))

    clock.advance(5 * DAY)  # the daemon is down for five windows
    second = Daemon(config, clock=clock, serve=False)
    caught_up = second.check_job("fraud")
    assert [r.window_end for r in caught_up] == [START + d * DAY for d in range(4, 9)]
    assert second.check_job("fraud") == []  # nothing left: each window exactly once
    rows = window_rows(second)
    assert [r.window_end.replace(tzinfo=UTC) for r in rows] == [START + d * DAY for d in range(1, 9)]
    assert {(r.state, r.attempts) for r in rows} == {("done", 1)}
    second.shutdown(timedelta(seconds=1))


def test_catch_up_is_bounded_by_max_catchup_windows(store_url: str, tmp_path: Path, clock: Clock) -> None:
    config = light_config(store_url, tmp_path, daemon={"max_catchup_windows": 2})
    clock.now = START + 10 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    load_days(daemon, range(11), now=clock.now)
    assert [r.window_end for r in daemon.check_job("fraud")] == [START + 9 * DAY, START + 10 * DAY]


def test_abandoned_run_is_taken_over_after_its_lease(store_url: str, tmp_path: Path, clock: Clock) -> None:
    config = light_config(store_url, tmp_path)
    clock.now = START + 2 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    load_days(daemon, range(3), now=clock.now)
    # a replica claimed the newest window and died past its shutdown grace (nothing committed)
    claim = claim_window(
        daemon.store().engine, "fraud", START + DAY, START + 2 * DAY, owner="gone", now=clock.now
    )
    assert claim is not None
    assert [r.window_end for r in daemon.check_job("fraud")] == [START + DAY]
    clock.advance(minutes=31)
    assert [r.window_end for r in daemon.check_job("fraud")] == [START + 2 * DAY]
    assert [(r.state, r.attempts) for r in window_rows(daemon)] == [("done", 2), ("done", 1)]


def test_store_outage_keeps_daemon_up_then_resumes_and_catches_up(tmp_path: Path, clock: Clock) -> None:
    db_dir = tmp_path / "not-yet"
    config = light_config(
        f"sqlite:///{db_dir / 'driftwatch.db'}", tmp_path, daemon={"store_retry_interval": "10s"}
    )
    clock.now = START + 3 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    daemon.scheduler = make_scheduler(config.daemon)
    daemon.scheduler.start(paused=True)
    daemon.scheduler.add_job(
        daemon.check_job, config.models[0].cron_trigger(), args=("fraud",), id="check:fraud"
    )
    try:
        assert daemon.check_job("fraud") is None  # the store cannot be opened: no crash
        ready, reasons = daemon.readiness()
        assert not ready and reasons[0].startswith("store unreachable: unable to open database file")
        retry_at = daemon.scheduler.get_job("check:fraud").next_run_time
        assert timedelta(seconds=8) < retry_at - datetime.now(UTC) <= timedelta(seconds=10)
        # the scheduler ran the retry, so the job's next run is its cron time again when it fails again
        daemon.scheduler.get_job("check:fraud").modify(next_run_time=datetime.now(UTC) + DAY)
        assert daemon.check_job("fraud") is None
        retry_at = daemon.scheduler.get_job("check:fraud").next_run_time
        assert (
            timedelta(seconds=18) < retry_at - datetime.now(UTC) <= timedelta(seconds=20)
        )  # backoff doubles

        db_dir.mkdir()  # the store is back
        load_days(daemon, range(4), now=clock.now)
        done = daemon.check_job("fraud")
        assert [r.window_end for r in done] == [START + d * DAY for d in (1, 2, 3)]
        assert daemon.readiness() == (True, [])
        assert "check:fraud" not in daemon.jobs.retries
    finally:
        daemon.scheduler.shutdown(wait=False)
        daemon.shutdown(timedelta(seconds=1))
    failures = metric_samples(daemon, "driftwatch_job_failures_total")
    assert failures[("check", "fraud")] == 2


def test_one_failing_model_does_not_stop_the_others(
    store_url: str, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    broken = model_dict(name="broken", **{**LIGHT, "reference": {"file": str(tmp_path / "missing.parquet")}})
    config = make_config(store_url, tmp_path, [model_dict(name="fraud", **LIGHT), broken])
    clock.now = START + 2 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    load_days(daemon, range(3), "fraud", now=clock.now)
    load_days(daemon, range(3), "broken", now=clock.now)
    with caplog.at_level(logging.ERROR, logger="driftwatch.daemon"):
        assert daemon.check_job("broken") is None
    assert 'Job "check:broken" failed' in caplog.text
    assert len(daemon.check_job("fraud")) == 2
    assert metric_samples(daemon, "driftwatch_job_failures_total") == {("check", "broken"): 1.0}


def test_jobs_from_config_and_start_up_order(sqlite_url: str, tmp_path: Path, clock: Clock) -> None:
    pushed = model_dict(name="pushed", **LIGHT)  # no sources: fed over POST /v1/log
    files = model_dict(
        name="fraud",
        **LIGHT,
        sources=[
            {"path": str(tmp_path / "in" / "*.csv"), "interval": "2m"},
            {"path": str(tmp_path / "labels" / "*.csv"), "kind": "outcomes", "interval": "10m"},
        ],
    )
    config = make_config(
        sqlite_url,
        tmp_path,
        [files, pushed],
        daemon={"timezone": "Europe/Berlin", "misfire_grace_time": "2h"},
    )
    daemon = Daemon(config, clock=clock, serve=False)
    daemon.start(paused=True)  # the jobs are driven by hand
    try:
        jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
        assert set(jobs) == {"ingest:fraud", "check:fraud", "check:pushed", "dispatch", "retention"}
        assert jobs["ingest:fraud"].trigger.interval == timedelta(minutes=2)
        assert str(jobs["check:fraud"].trigger.timezone) == "Europe/Berlin"
        assert {(j.coalesce, j.max_instances, j.misfire_grace_time) for j in jobs.values()} == {
            (True, 1, 7200)
        }
        now = datetime.now(UTC)
        # start-up: ingestion now; a model's check right after its first ingestion (without sources: now)
        assert jobs["ingest:fraud"].next_run_time <= now + timedelta(seconds=1)
        assert jobs["check:pushed"].next_run_time <= now + timedelta(seconds=1)
        assert jobs["check:fraud"].next_run_time > now + timedelta(minutes=1)
        daemon.ingest_job("fraud")
        assert daemon.scheduler.get_job("check:fraud").next_run_time <= datetime.now(UTC) + timedelta(
            seconds=1
        )
    finally:
        daemon.shutdown(timedelta(seconds=2))
    assert [s.id for s in job_specs(config)] == [
        "ingest:fraud",
        "check:fraud",
        "check:pushed",
        "dispatch",
        "retention",
    ]


def test_reload_rejects_invalid_config_without_secrets_and_applies_valid_one(
    sqlite_url: str, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    base = f'[store]\nurl = "{sqlite_url}"\n[reports]\ndir = "{tmp_path / "reports"}"\n'
    model = '[[models]]\nname = "{}"\nwindow = "1d"\n[models.features]\nnumeric = ["amount"]\n'
    path.write_text(base + model.format("fraud"), encoding="utf-8")
    daemon = Daemon(parse_config({}), config_path=path, clock=clock, serve=False)
    assert daemon.reload()
    daemon.scheduler = make_scheduler(daemon.config.daemon)
    daemon.scheduler.start(paused=True)
    try:
        path.write_text(
            base.replace(sqlite_url, "postgresql://dw:hunter2@db/dw") + model.format("fraud"),
            encoding="utf-8",
        )
        with caplog.at_level(logging.ERROR, logger="driftwatch.daemon"):
            assert not daemon.reload()
        assert "store.url: contains a password" in caplog.text and "hunter2" not in caplog.text
        assert [m.name for m in daemon.config.models] == ["fraud"]

        path.write_text(base + model.format("fraud") + model.format("churn"), encoding="utf-8")
        assert daemon.reload()
        assert [m.name for m in daemon.config.models] == ["fraud", "churn"]
        assert {j.id for j in daemon.scheduler.get_jobs()} == {
            "check:fraud",
            "check:churn",
            "dispatch",
            "retention",
        }
        assert "churn" in daemon.store().models  # the new model's tables exist
    finally:
        daemon.scheduler.shutdown(wait=False)
        daemon.shutdown(timedelta(seconds=1))


def test_shutdown_waits_for_the_running_job_then_flushes_the_outbox(
    store_url: str, tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    slo = model_dict(name="fraud", **{**LIGHT, "latency": {"slo_p95_ms": 1.0}})  # every window alerts
    config = make_config(store_url, tmp_path, [slo])
    clock.now = START + 2 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    load_days(daemon, range(3), now=clock.now)
    daemon.check_job("fraud")
    with daemon.store().engine.connect() as conn:
        queued = conn.execute(select(func.count()).select_from(alert_outbox)).scalar_one()
    assert queued > 0

    release = threading.Event()
    entered = threading.Event()

    def slow(_store: Any) -> str:
        entered.set()
        release.wait(10)
        return "finished"

    results: list[Any] = []
    job = threading.Thread(target=lambda: results.append(daemon.jobs.run("check", "fraud", slow)))
    job.start()
    entered.wait(5)
    stopper = threading.Thread(target=lambda: results.append(daemon.shutdown(timedelta(seconds=10))))
    stopper.start()
    stopper.join(0.3)
    assert stopper.is_alive()  # waiting for the running job
    assert daemon.check_job("fraud") is None  # no new jobs once stopping
    release.set()
    job.join(5)
    stopper.join(5)
    assert results == ["finished", True]
    assert "driftwatch" in capsys.readouterr().out  # the console receiver got the flushed alerts
    check = Daemon(config, clock=clock, serve=False)
    with check.store().engine.connect() as conn:
        pending = conn.execute(
            select(func.count()).select_from(alert_outbox).where(alert_outbox.c.status == "pending")
        ).scalar_one()
    assert pending == 0


def test_shutdown_gives_up_on_a_job_past_the_grace(store_url: str, tmp_path: Path, clock: Clock) -> None:
    daemon = Daemon(light_config(store_url, tmp_path), clock=clock, serve=False)
    release = threading.Event()
    entered = threading.Event()

    def stuck(_store: Any) -> None:
        entered.set()
        release.wait(10)

    job = threading.Thread(target=daemon.jobs.run, args=("check", "fraud", stuck))
    job.start()
    entered.wait(5)
    assert daemon.shutdown(timedelta(seconds=0.2)) is False
    release.set()
    job.join(5)


def test_retention_deletes_old_rows_and_reports(sqlite_url: str, tmp_path: Path, clock: Clock) -> None:
    """Checked windows past their label wait go; the fixed reference (days 0 and 1) stays."""
    config = make_config(
        sqlite_url,
        tmp_path,
        [model_dict(name="fraud", **{**LIGHT, "labels": {"min_count": 50, "max_delay": "1d"}})],
        daemon={"event_retention_days": 5},
        reports={"dir": str(tmp_path / "r"), "retention_days": 5},
    )
    clock.now = START + 10 * DAY
    daemon = Daemon(config, clock=clock, serve=False)
    load_days(daemon, range(10), now=clock.now)
    store = daemon.store()
    mark_checked(store, START, range(10))
    bad = traffic(2).assign(score=2.0).head(3)
    ingest_frame(
        store,
        store.models["fraud"],
        "predictions",
        bad.assign(id=["q1", "q2", "q3"]),
        source="t",
        now=START + 2 * DAY,
    )
    old_report = tmp_path / "r" / "fraud" / "20261003T000000Z-run1.html"
    new_report = tmp_path / "r" / "fraud" / "20261009T000000Z-run7.html"
    for path in (old_report, new_report):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<html></html>", encoding="utf-8")

    removed = daemon.retention_job()

    cutoff = START + 5 * DAY
    expected = sum(int((traffic(d)["timestamp"] < cutoff).sum()) for d in range(2, 10))
    assert removed == {"events": expected, "outcomes": expected, "quarantine": 3, "reports": 1}
    with store.engine.connect() as conn:
        ts = pd.Series(conn.execute(select(store.events("fraud").c.ts)).scalars().all())
        assert conn.execute(select(func.count()).select_from(quarantine)).scalar_one() == 0
    reference = (ts < (START + 2 * DAY).replace(tzinfo=None)).sum()
    assert reference == len(traffic(0)) + len(traffic(1))
    assert ts[ts >= (START + 2 * DAY).replace(tzinfo=None)].min().tz_localize(UTC) >= cutoff
    assert not old_report.exists() and new_report.exists()


def test_logs_carry_job_and_model_in_json(tmp_path: Path, clock: Clock) -> None:
    config = light_config(
        f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", tmp_path, daemon={"log_format": "json"}
    )
    stream = io.StringIO()
    handler = make_handler("json", stream)
    logger = logging.getLogger("driftwatch")
    logger.addHandler(handler)
    try:
        Daemon(config, clock=clock, serve=False).check_job("fraud")
    finally:
        logger.removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    warning = next(r for r in records if r["level"] == "WARNING")
    assert warning["job"] == "check" and warning["model"] == "fraud"
    assert warning["logger"] == "driftwatch.daemon" and "cannot reach the store" in warning["message"]


def test_metrics_and_overdue_readiness(store_url: str, tmp_path: Path, clock: Clock) -> None:
    config = light_config(store_url, tmp_path)
    clock.now = START + 3 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    load_days(daemon, range(4), now=clock.now)
    done = daemon.check_job("fraud")
    daemon.dispatch_job()
    clock.advance(hours=2)

    statuses: dict[str, int] = {}
    for run in done:
        statuses[run.status] = statuses.get(run.status, 0) + 1
    assert {k[1]: v for k, v in metric_samples(daemon, "driftwatch_runs_total").items()} == statuses
    findings: dict[tuple[str, str, str], int] = {}
    for run in done:
        for check in run.checks:
            for f in check.findings:
                key = ("fraud", check.check, f.severity)
                findings[key] = findings.get(key, 0) + 1
    assert metric_samples(daemon, "driftwatch_findings_total") == findings
    assert metric_samples(daemon, "driftwatch_seconds_since_last_check") == {("fraud",): 7200.0}
    with daemon.store().engine.connect() as conn:
        coverage = conn.execute(
            select(runs.c.label_coverage).where(runs.c.window_end == (START + 3 * DAY).replace(tzinfo=None))
        ).scalar_one()
        delivered = conn.execute(
            select(func.count()).select_from(alert_outbox).where(alert_outbox.c.status == "delivered")
        ).scalar_one()
    assert metric_samples(daemon, "driftwatch_label_coverage") == {("fraud",): coverage}
    assert metric_samples(daemon, "driftwatch_alert_notifications_total")[("delivered",)] == delivered
    assert metric_samples(daemon, "driftwatch_alert_notifications_pending") == {(): 0.0}

    assert daemon.readiness() == (True, [])
    clock.advance(2 * DAY)  # 2 days 2 hours > 2 windows + 1 h slack
    ready, reasons = daemon.readiness()
    assert not ready and reasons == ['model "fraud" is overdue: last successful check 2.1d ago (limit 2.0d)']
    assert metric_samples(daemon, "driftwatch_ready") == {(): 0.0}


def test_a_daemon_with_nothing_due_never_loads_the_data_stack(sqlite_url: str, tmp_path: Path) -> None:
    """The CLI, the daemon and a check job with nothing due import neither pandas, scipy nor sklearn."""
    config = light_config(sqlite_url, tmp_path)
    path = tmp_path / "config.json"
    path.write_text(config.model_dump_json(), encoding="utf-8")
    program = f"""
import sys
from monitor.cli import build_parser
from monitor.config import Config
from monitor.service.daemon import Daemon
build_parser()
config = Config.model_validate_json(open({str(path)!r}).read())
daemon = Daemon(config, serve=False)
assert daemon.check_job("fraud") == []
daemon.shutdown()
print(sorted(m for m in ("pandas", "scipy", "sklearn", "evidently", "pyarrow") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_check_jobs_run_at_most_check_workers_at_once_and_never_hold_up_dispatch() -> None:
    """Three models due together with ``check_workers = 1``: one check at a time, dispatch beside it."""
    config = parse_config(
        {
            "daemon": {"check_workers": 1},
            "models": [{"name": f"m{i}", "features": {"numeric": ["x"]}} for i in range(3)],
        }
    )
    lock, running, most = threading.Lock(), [0], [0]
    release, dispatched, checked = threading.Event(), threading.Event(), threading.Semaphore(0)

    def check(model: str) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(30)  # held until dispatch has run: dispatch must not wait for the checks
        with lock:
            running[0] -= 1
        checked.release()

    scheduler = make_scheduler(config.daemon)
    schedule(
        scheduler,
        [s for s in job_specs(config) if s.kind in ("check", "dispatch")],
        {"check": check, "dispatch": dispatched.set},
        run_now=lambda spec: True,
        grace=timedelta(hours=1),
    )
    scheduler.start()
    try:
        assert dispatched.wait(30), "dispatch waited for the check jobs"
        release.set()
        assert all(checked.acquire(timeout=30) for _ in range(3))
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    assert most[0] == 1


def test_check_workers_defaults_to_the_usable_cpus() -> None:
    import os

    assert parse_config({}).daemon.check_workers == len(os.sched_getaffinity(0))
    with pytest.raises(ConfigError, match="check_workers"):
        parse_config({"daemon": {"check_workers": 0}}, "c.toml")
