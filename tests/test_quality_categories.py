"""Categories that vanish or appear: findings of their own, named in the finding and the alert.

Significance is checked against an independent computation: the hypergeometric probability
that a window of ``n`` rows holds none of a category the reference holds ``k`` of ``N`` times
(and its large-reference limit ``(1 - p)^n``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alerts.alert import alerts_from_run
from alerts.notification import AlertView, Notification, RunInfo
from alerts.render import plain_text, slack_blocks
from checks.quality import data_quality
from checks.result import ModelRun
from monitor.reports.run_report import render_run_report

LEVELS = np.array(["US", "DE", "FR", "BR", "JP"])
SHARES = np.array([0.5, 0.25, 0.13, 0.10, 0.02])


def countries(n: int, seed: int, *, shares: np.ndarray = SHARES, levels: np.ndarray = LEVELS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"country": rng.choice(levels, n, p=shares / shares.sum())})


def check(ref: pd.DataFrame, cur: pd.DataFrame, **kwargs: float) -> dict[str, object]:
    result = data_quality(ref, cur, numeric=[], categorical=["country"], **kwargs)
    return {"result": result, "by": {f.method: f for f in result.findings}}


def test_a_vanished_category_is_flagged_at_5000_rows_with_the_exact_probability() -> None:
    ref = countries(20_000, 1)
    cur = countries(5_000, 2, shares=np.array([0.5, 0.25, 0.13, 0.10, 0.0]))
    out = check(ref, cur)
    finding = out["by"]["vanished_categories"]
    k, big_n, n = int((ref["country"] == "JP").sum()), len(ref), len(cur)
    exact = stats.hypergeom.pmf(0, big_n + n, k, n)  # all k + 0 JP rows fell in the reference
    assert finding.evidence["p_values"]["JP"] == pytest.approx(exact, rel=1e-6)
    assert exact == pytest.approx((1 - k / big_n) ** n, rel=0.5)  # the (1 - p)^n limit
    assert finding.severity == "alert" and finding.subject == "feature:country"
    assert finding.statistic == pytest.approx(k / big_n)
    assert f"absent from the window 'JP' (was {k / big_n:.1%})" in finding.message
    row = out["result"].details["columns"][0].to_dict()
    assert row["vanished_categories"] == {"JP": pytest.approx(k / big_n)}
    assert out["result"].metrics["columns_vanished_categories"] == 1


def test_absence_in_a_small_window_is_not_significant() -> None:
    # 2% of the reference, 100 rows: P(none) = 0.98^100 = 0.13, far above alpha.
    ref = countries(20_000, 3)
    cur = countries(100, 4, shares=np.array([0.5, 0.25, 0.13, 0.10, 0.0]))
    out = check(ref, cur)
    assert "vanished_categories" not in out["by"]
    assert out["result"].details["columns"][0].vanished_categories == {}


def test_categories_below_the_share_are_not_candidates() -> None:
    ref = countries(20_000, 5)
    cur = countries(5_000, 6, shares=np.array([0.5, 0.25, 0.13, 0.10, 0.0]))
    assert "vanished_categories" not in check(ref, cur, vanished_category_share=0.05)["by"]


def test_stationary_windows_rarely_lose_a_category() -> None:
    # A 1% category in 300 windows of 460 rows: absent by chance in ~1% of them (0.99^460 =
    # 0.0098), but never significant after the Bonferroni split over the 5 categories tested.
    shares = np.array([0.5, 0.25, 0.14, 0.10, 0.01])
    ref = countries(10_000, 7, shares=shares)
    flagged = absent = 0
    for seed in range(300):
        cur = countries(460, 1000 + seed, shares=shares)
        absent += int(not (cur["country"] == "JP").any())
        flagged += int("vanished_categories" in check(ref, cur)["by"])
    assert absent >= 1  # the situation did occur
    assert flagged / 300 <= 0.01


def test_new_and_vanished_categories_tell_one_story_in_the_alert() -> None:
    ref = countries(20_000, 8)
    renamed = countries(5_000, 9)
    renamed["country"] = renamed["country"].replace({"BR": "Brasil"})
    out = check(ref, renamed)
    vanished, new = out["by"]["vanished_categories"], out["by"]["new_categories"]
    assert vanished.message == new.message
    was, now = (ref["country"] == "BR").mean(), (renamed["country"] == "Brasil").mean()
    assert (
        f"absent from the window 'BR' (was {was:.1%}); unseen in the reference 'Brasil' ({now:.1%})"
        in new.message
    )

    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    run = ModelRun("fraud", t0 - timedelta(days=1), t0, {}, (out["result"],), run_id=3)
    (alert,) = alerts_from_run(run)  # one subject: the worse of the two findings
    view = AlertView(
        alert.fingerprint,
        alert.labels,
        alert.severity,
        "firing",
        t0.isoformat(),
        annotations=alert.annotations,
    )
    note = Notification(
        "model=fraud", "slack", "fraud", "first_notification", (view,), RunInfo(3, None, None, None, None)
    )
    assert "'BR'" in plain_text(note) and "'Brasil'" in plain_text(note)
    assert "'Brasil'" in str(slack_blocks(note))
    html = render_run_report(run)
    assert "vanished categories" in html and f"BR (was {was:.1%})" in html


def test_new_categories_are_named_with_their_shares() -> None:
    ref = countries(20_000, 10)
    cur = countries(
        5_000,
        11,
        shares=np.array([0.5, 0.25, 0.13, 0.10, 0.02, 0.04, 0.01]),
        levels=np.array([*LEVELS, "MX", "CA"]),
    )
    finding = check(ref, cur)["by"]["new_categories"]
    assert "unseen in the reference 'MX' (" in finding.message and "'CA' (" in finding.message
    assert finding.message.endswith(f"{finding.statistic:.1%} of values")
