"""Run durations in /metrics, and the report index written by two threads at once."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

import monitor.pipeline.runner  # noqa: F401  (imported up front: the timing below is of the runs, not of imports)
from monitor.reports import run_report
from monitor.reports.run_report import write_atomic
from monitor.service.daemon import Daemon
from tests.conftest import DAY, START, light_config, load_days, metric_samples


def test_run_duration_sum_covers_the_time_the_runs_took(tmp_path: Path) -> None:
    """Reproducer: driftwatch_run_duration_seconds_sum said 0.03 s for 30 runs that took 23 s."""
    base, t0 = START + 6 * DAY + timedelta(minutes=10), time.perf_counter()
    clock = lambda: base + timedelta(seconds=time.perf_counter() - t0)  # noqa: E731  (follows real time)
    daemon = Daemon(light_config(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path), clock=clock, serve=False)
    load_days(daemon, range(7), now=clock())
    started = time.perf_counter()
    done = daemon.check_job("fraud")
    took = time.perf_counter() - started
    assert len(done) == 6
    total = metric_samples(daemon, "driftwatch_run_duration_seconds_sum")[("fraud",)]
    assert 0.5 * took <= total <= took
    daemon.shutdown(timedelta(seconds=1))


def test_two_writers_of_the_index_do_not_trip_over_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproducer: two check threads raced on the index's temporary file (FileNotFoundError)."""
    target = tmp_path / "index.html"
    replace = run_report.os.replace
    interleaved: list[str] = []

    def other_thread_writes_in_between(src: str, dst: str) -> None:
        if not interleaved:  # the other thread writes and renames between our write and our rename
            interleaved.append("other")
            write_atomic(target, "other")
        replace(src, dst)

    monkeypatch.setattr(run_report.os, "replace", other_thread_writes_in_between)
    write_atomic(target, "mine")
    assert target.read_text() == "mine" and interleaved == ["other"]
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]  # no temporary file left behind
