"""Traffic volume: "traffic dropped / stopped" findings and ``/readyz`` (checked against scipy's Poisson)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from checks.volume import expected_rows, traffic_volume
from monitor.check_suite import run_suite
from monitor.cli import main
from monitor.daemon import Daemon
from monitor.server import start_server
from tests.conftest import Clock, make_config, model_dict
from tests.test_calendar_windows import events, setup
from tests.test_daemon import DAY, LIGHT, START, load_days
from tests.test_server import request

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def test_expected_rows_is_the_reference_rate_times_the_window() -> None:
    times = pd.Series(T0 + pd.to_timedelta(np.arange(7000) * (7 * 86400 / 7000), unit="s"))
    reference = (T0, T0 + pd.Timedelta(days=7))
    window = (T0 + pd.Timedelta(days=7), T0 + pd.Timedelta(days=8))
    assert expected_rows(times, reference, window) == pytest.approx(1000)
    two_days = (window[0], window[0] + pd.Timedelta(days=2))
    assert expected_rows(times, reference, two_days, weight=4.0) == pytest.approx(8000)


def test_sub_day_windows_expect_the_reference_rate_at_the_same_time_of_day() -> None:
    # 7 days of traffic: 10 rows in each night hour (00-06), 100 in each other hour.
    hours = np.arange(7 * 24)
    per_hour = np.where(hours % 24 < 6, 10, 100)
    times = pd.Series(
        [
            T0 + pd.Timedelta(hours=int(h), minutes=1)
            for h, k in zip(hours, per_hour, strict=True)
            for _ in range(k)
        ]
    )
    reference = (T0, T0 + pd.Timedelta(days=7))
    night = (T0 + pd.Timedelta(days=7, hours=3), T0 + pd.Timedelta(days=7, hours=4))
    day = (T0 + pd.Timedelta(days=7, hours=14), T0 + pd.Timedelta(days=7, hours=15))
    assert expected_rows(times, reference, night) == pytest.approx(10)
    assert expected_rows(times, reference, day) == pytest.approx(100)
    # A quiet night hour is not a drop; the average rate (7,840 rows / 168 h = 46.7/h) would call it one.
    assert traffic_volume(9, expected_rows(times, reference, night))[1] is None
    assert traffic_volume(9, len(times) / (7 * 24))[1] is not None


@pytest.mark.parametrize(
    ("n", "expected", "flagged", "kind"),
    [
        (0, 10.0, True, "stopped"),  # P(0) = e^-10 = 4.5e-5
        (0, 3.0, False, None),  # P(0) = e^-3 = 0.05: an empty window this small is chance
        (400, 1000.0, True, "dropped"),
        (600, 1000.0, False, None),  # significant but not material (60% >= 50%)
        (3, 8.0, False, None),  # material (37.5%) but P(X <= 3 | 8) = 0.042
        (0, 0.0, False, None),  # nothing expected
    ],
)
def test_traffic_volume_against_scipy_poisson(
    n: int, expected: float, flagged: bool, kind: str | None
) -> None:
    metrics, finding = traffic_volume(n, expected)
    if expected > 0:
        assert metrics["traffic_p_value"] == pytest.approx(stats.poisson.cdf(n, expected))
        assert metrics["traffic_share"] == pytest.approx(n / expected)
    assert (finding is not None) == flagged
    if finding is not None:
        assert finding.subject == "traffic" and finding.severity == "alert"
        assert finding.message.startswith(f"traffic {kind}")
        assert finding.p_value == pytest.approx(stats.poisson.cdf(n, expected))


def test_stationary_poisson_traffic_is_flagged_in_at_most_alpha_of_windows() -> None:
    rng = np.random.default_rng(12)
    for mean in (8.0, 200.0):
        counts = rng.poisson(mean, 2000)
        flagged = sum(traffic_volume(int(n), mean)[1] is not None for n in counts)
        assert flagged / 2000 <= 0.01
    # Busy traffic falling to 30% is seen in every window.
    fallen = rng.poisson(0.3 * 200.0, 300)
    assert all(traffic_volume(int(n), 200.0)[1] is not None for n in fallen)


def test_suite_reports_stopped_traffic_for_an_empty_window() -> None:
    config = make_config("sqlite:///unused.db", Path("."), [model_dict(**LIGHT)])
    reference = events(START, START + 2 * DAY, 5, seed=4)
    reference["ts"] = pd.to_datetime(reference.pop("timestamp"), utc=True)
    reference["age"] = 40.0
    empty = reference.iloc[:0]
    outcome = run_suite(
        config.models[0], reference, empty, quarantined=0, window_seconds=86400, seed=0, expected_rows=120.0
    )
    quality = next(c for c in outcome.checks if c.check == "data_quality")
    assert quality.status == "alert" and quality.findings[0].message.startswith("traffic stopped")
    assert {c.check: c.status for c in outcome.checks}["drift"] == "skipped"


def test_check_reports_dropped_and_stopped_traffic(store_url, tmp_path, capsys):
    start = START
    frame = events(start, start + 7 * DAY, 20, seed=5)  # 480 a day
    thin = events(start + 7 * DAY, start + 8 * DAY, 4, seed=6)  # 96 on day 8
    thin["id"] = "t" + thin["id"]
    path = setup(
        tmp_path,
        store_url,
        timezone="UTC",
        window="1d",
        reference='trailing = "7d"',
        frame=pd.concat([frame, thin]),
    )
    assert main(["--config", str(path), "check", "--json", "--at", (start + 8 * DAY).isoformat()]) == 0
    (run,) = json.loads(capsys.readouterr().out)["models"]
    quality = next(c for c in run["checks"] if c["check"] == "data_quality")
    (finding,) = [f for f in quality["findings"] if f["subject"] == "traffic"]
    expected = (
        "traffic dropped to 20% of what the reference rate predicts: 96 predictions where 480 were expected"
    )
    assert finding["message"] == expected
    assert finding["p_value"] == pytest.approx(stats.poisson.cdf(96, 480), rel=1e-6)

    assert main(["--config", str(path), "check", "--json", "--at", (start + 9 * DAY).isoformat()]) == 0
    (run,) = json.loads(capsys.readouterr().out)["models"]
    quality = next(c for c in run["checks"] if c["check"] == "data_quality")
    assert run["status"] == "alert" and quality["status"] == "alert"
    assert quality["findings"][0]["message"].startswith(
        "traffic stopped: no predictions where the reference rate predicts"
    )
    assert quality["metrics"]["n_current"] == 0


def test_readyz_lists_models_without_traffic(tmp_path: Path, clock: Clock) -> None:
    config = make_config(
        f"sqlite:///{tmp_path / 'driftwatch.db'}",
        tmp_path,
        [model_dict(name="fraud", **LIGHT)],
        server={"port": 0},
    )
    clock.now = START + 4 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    server = start_server(daemon)
    daemon.server = server
    try:
        load_days(daemon, range(3), now=clock())  # day 3 (the newest window) has no traffic
        daemon.check_job("fraud")
        status, _, body = request(server, "GET", "/readyz")
        reply = json.loads(body)
        assert status == 200 and reply["ready"] is True
        assert reply["no_traffic"]["fraud"].startswith(
            "traffic stopped: no predictions where the reference rate predicts 200"
        )
        assert reply["no_traffic"]["fraud"].endswith("(window ending 2026-10-05 00:00 UTC)")

        load_days(daemon, range(3, 5), now=clock())
        clock.now += DAY
        daemon.check_job("fraud")
        status, _, body = request(server, "GET", "/readyz")
        assert "no_traffic" not in json.loads(body)
    finally:
        daemon.shutdown(timedelta(seconds=2))
