"""Traffic volume: "traffic dropped / stopped" findings and ``/readyz`` (checked against scipy's Poisson)."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from checks.volume import Expectation, expected_rows, traffic_volume
from monitor.cli import main
from monitor.pipeline.check_suite import run_suite
from monitor.service.daemon import Daemon
from monitor.service.server import start_server
from tests.conftest import DAY, LIGHT, START, Clock, http_request, load_days, make_config, model_dict
from tests.test_calendar_windows import events, setup

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def conditional_p(n: int, expected: Expectation) -> float:
    """P(N <= n | N + K = n + k) for two Poisson counts with mean ratio ``ratio``, summed by hand."""
    total, q = n + expected.reference_rows, expected.ratio / (1 + expected.ratio)
    log_terms = (
        math.lgamma(total + 1)
        - math.lgamma(i + 1)
        - math.lgamma(total - i + 1)
        + i * math.log(q)
        + (total - i) * math.log1p(-q)
        for i in range(n + 1)
    )
    return sum(math.exp(t) for t in log_terms)


def test_expected_rows_is_the_reference_rate_times_the_window() -> None:
    times = pd.Series(T0 + pd.to_timedelta(np.arange(7000) * (7 * 86400 / 7000), unit="s"))
    reference = (T0, T0 + pd.Timedelta(days=7))
    window = (T0 + pd.Timedelta(days=7), T0 + pd.Timedelta(days=8))
    day = expected_rows(times, reference, window)
    assert (day.reference_rows, day.ratio, day.phase) == (1000, 1.0, "week")  # the same weekday
    two_days = expected_rows(times, reference, (window[0], window[0] + pd.Timedelta(days=2)), weight=4.0)
    assert two_days.rows == pytest.approx(8000)
    short = (T0, T0 + pd.Timedelta(days=3))
    whole = expected_rows(times[times < short[1]], short, (short[1], short[1] + pd.Timedelta(days=1)))
    assert (whole.reference_rows, whole.phase) == (3000, "none") and whole.rows == pytest.approx(1000)


def test_windows_expect_the_reference_rate_at_the_same_time_of_day_and_week() -> None:
    # 14 days: 10 rows in each night hour (00-06), 100 in each other hour; days 5 and 6 of each
    # week (the "weekend") a third of that.
    hours = np.arange(14 * 24)
    per_hour = np.where(hours % 24 < 6, 10, 100) // np.where((hours // 24) % 7 >= 5, 3, 1)
    times = pd.Series(
        [
            T0 + pd.Timedelta(hours=int(h), minutes=1)
            for h, k in zip(hours, per_hour, strict=True)
            for _ in range(k)
        ]
    )
    reference = (T0, T0 + pd.Timedelta(days=14))
    week = T0 + pd.Timedelta(days=14)  # the start of the third week
    night = expected_rows(times, reference, (week + pd.Timedelta(hours=3), week + pd.Timedelta(hours=4)))
    assert night.rows == pytest.approx(10) and night.reference_rows == 20
    weekend = week + pd.Timedelta(days=5)
    saturday = expected_rows(times, reference, (weekend, weekend + pd.Timedelta(days=1)))
    assert saturday.rows == pytest.approx(6 * 3 + 18 * 33) and saturday.phase == "week"
    # A quiet night hour or a quiet Saturday is not a drop; the average rate would call both one.
    average = Expectation(len(times), 1 / (14 * 24))
    assert traffic_volume(9, night)[1] is None and traffic_volume(9, average)[1] is not None
    whole_day = Expectation(len(times), 1 / 14)
    assert traffic_volume(600, saturday)[1] is None and traffic_volume(600, whole_day)[1] is not None


@pytest.mark.parametrize(
    ("n", "expected", "flagged", "kind"),
    [
        (0, Expectation(10, 1.0), True, "stopped"),  # (1/2)^10 = 0.001: ten rows last time, none now
        (0, Expectation(3, 1.0), False, None),  # (1/2)^3 = 0.125: three rows were no evidence
        (0, Expectation(100_000, 1e-4), True, "stopped"),  # the Poisson limit: e^-10
        (400, Expectation(1000, 1.0), True, "dropped"),
        (600, Expectation(1000, 1.0), False, None),  # significant but not material (60% >= 50%)
        (3, Expectation(80_000, 1e-4), False, None),  # material (37.5%) but P(X <= 3 | 8) = 0.042
        (0, Expectation(0, 1.0), False, None),  # nothing expected
    ],
)
def test_traffic_volume_against_a_hand_computed_conditional_test(
    n: int, expected: Expectation, flagged: bool, kind: str | None
) -> None:
    metrics, finding = traffic_volume(n, expected)
    if expected.reference_rows:
        assert metrics["traffic_p_value"] == pytest.approx(conditional_p(n, expected), rel=1e-9)
        assert metrics["traffic_share"] == pytest.approx(n / expected.rows)
    if expected.reference_rows >= 80_000:  # a large reference: the one-sample Poisson test
        assert metrics["traffic_p_value"] == pytest.approx(stats.poisson.cdf(n, expected.rows), rel=1e-3)
    assert (finding is not None) == flagged
    if finding is not None:
        assert finding.subject == "traffic" and finding.severity == "alert"
        assert finding.message.startswith(f"traffic {kind}")
        assert finding.p_value == metrics["traffic_p_value"]


def test_stationary_poisson_traffic_is_flagged_in_at_most_alpha_of_windows() -> None:
    rng = np.random.default_rng(12)
    for mean in (8.0, 200.0):
        counts, references = rng.poisson(mean, 2000), rng.poisson(7 * mean, 2000)
        flagged = sum(
            traffic_volume(int(n), Expectation(int(k), 1 / 7))[1] is not None
            for n, k in zip(counts, references, strict=True)
        )
        assert flagged / 2000 <= 0.01
    # Busy traffic falling to 30% is seen in every window.
    fallen = rng.poisson(0.3 * 200.0, 300)
    assert all(traffic_volume(int(n), Expectation(1400, 1 / 7))[1] is not None for n in fallen)


def test_suite_reports_stopped_traffic_for_an_empty_window() -> None:
    config = make_config("sqlite:///unused.db", Path("."), [model_dict(**LIGHT)])
    reference = events(START, START + 2 * DAY, 5, seed=4)
    reference["ts"] = pd.to_datetime(reference.pop("timestamp"), utc=True)
    reference["age"] = 40.0
    empty = reference.iloc[:0]
    outcome = run_suite(
        config.models[0],
        reference,
        empty,
        quarantined=0,
        window_seconds=86400,
        seed=0,
        expected_rows=Expectation(240, 0.5),
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
    # Daily windows against a week: the same weekday last week (480 rows), equal exposure.
    assert finding["p_value"] == pytest.approx(conditional_p(96, Expectation(480, 1.0)), rel=1e-6)

    assert main(["--config", str(path), "check", "--json", "--at", (start + 9 * DAY).isoformat()]) == 0
    (run,) = json.loads(capsys.readouterr().out)["models"]
    quality = next(c for c in run["checks"] if c["check"] == "data_quality")
    assert run["status"] == "alert" and quality["status"] == "alert"
    assert quality["findings"][0]["message"].startswith(
        "traffic stopped: no predictions where the reference rate predicts"
    )
    assert quality["metrics"]["n_current"] == 0
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "reports" / "fraud").rglob("*.html")]
    assert any("rows expected (reference rate)" in p and "traffic stopped" in p for p in pages)


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
        status, _, body = http_request(server, "GET", "/readyz")
        reply = json.loads(body)
        assert status == 200 and reply["ready"] is True
        assert reply["no_traffic"]["fraud"].startswith(
            "traffic stopped: no predictions where the reference rate predicts 200"
        )
        assert reply["no_traffic"]["fraud"].endswith("(window ending 2026-10-05 00:00 UTC)")

        load_days(daemon, range(3, 5), now=clock())
        clock.now += DAY
        daemon.check_job("fraud")
        status, _, body = http_request(server, "GET", "/readyz")
        assert "no_traffic" not in json.loads(body)
    finally:
        daemon.shutdown(timedelta(seconds=2))
