"""Segments that deserve a page: support, a material ratio, significance, and the segment's own change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from checks._params import InvalidParameter
from checks.details import Detail
from checks.segments import segment_check

REGIONS = [f"r{i:02d}" for i in range(24)]
REGION_SHARES = np.r_[np.full(4, 0.15), np.full(20, 0.4 / 20)]


def many_segments(
    n: int, rng: np.random.Generator, *, errors: dict[str, float] | None = None
) -> pd.DataFrame:
    """35 segments (20 regions and the pooled rest, 4 channels, 6 devices, 4 age bins; most are
    small); two regions are structurally worse; ``errors`` overrides named regions' error rates."""
    region = rng.choice(REGIONS, n, p=REGION_SHARES)
    base = {"r00": 0.25, "r01": 0.25, **(errors or {})}
    p_wrong = pd.Series(region).map(base).fillna(0.12).to_numpy()
    y = rng.integers(0, 2, n)
    wrong = rng.uniform(size=n) < p_wrong
    return pd.DataFrame(
        {
            "region": region,
            "channel": rng.choice(["web", "app", "store", "phone"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "device": rng.choice(list("abcdef"), n, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05]),
            "age": rng.gamma(5.0, 8.0, n),
            "y": y,
            "pred": np.where(wrong, 1 - y, y),
        }
    )


COLUMNS = {"segments": ["region", "channel", "device", "age"], "y_true": "y", "y_pred": "pred"}


def test_stationary_windows_with_35_segments_almost_never_alert() -> None:
    windows, alerted, warned = 300, 0, 0
    for i in range(windows):
        rng = np.random.default_rng(i)
        reference, current = many_segments(4000, rng), many_segments(3000, rng)
        result = segment_check(current, reference, **COLUMNS)
        assert result.metrics["n_segments"] >= 30
        alerted += result.status == "alert"
        warned += result.status == "warn"
    # Measured: 1 of 300 windows alerts, 4 of 300 warn (docs/BENCHMARKS.md).
    assert alerted / windows <= 0.01
    assert warned / windows <= 0.05


def test_a_real_segment_incident_still_alerts() -> None:
    rng = np.random.default_rng(7)
    reference, current = many_segments(4000, rng), many_segments(3000, rng, errors={"r02": 0.36})
    result = segment_check(current, reference, **COLUMNS)
    assert result.status == "alert"
    (finding,) = [f for f in result.findings if f.severity == "alert"]
    assert finding.subject == "segment:region=r02"
    assert finding.evidence["alert_ratio"] >= 1.5 and finding.p_value <= 0.01


@pytest.mark.parametrize("rows", [77, 175])
def test_a_small_segment_that_got_much_worse_is_a_warning(rows: int) -> None:
    # The census case: segments of 77 and 175 rows paged. A real tripling is flagged, not paged.
    rng = np.random.default_rng(rows)
    reference = many_segments(6000, rng)
    current = many_segments(6000, rng)
    current.loc[: rows - 1, "device"] = "tiny"
    reference.loc[: rows - 1, "device"] = "tiny"
    tiny = current.index[:rows]
    flip = rng.uniform(size=rows) < 0.45
    current.loc[tiny[flip], "pred"] = 1 - current.loc[tiny[flip], "y"]
    result = segment_check(current, reference, **COLUMNS)
    finding = next(f for f in result.findings if f.subject == "segment:device=tiny")
    assert finding.severity == "warn" and result.status == "warn"
    assert f"{rows} rows < 300" in finding.message


def test_a_segment_under_one_percent_of_a_large_window_is_a_warning() -> None:
    rng = np.random.default_rng(11)
    reference, current = many_segments(60000, rng), many_segments(60000, rng)
    rows = 500  # 0.8% of the window, above the row minimum
    for frame in (reference, current):
        frame.loc[: rows - 1, "device"] = "small"
    flip = rng.uniform(size=rows) < 0.4
    current.loc[current.index[:rows][flip], "pred"] = 1 - current.loc[current.index[:rows][flip], "y"]
    result = segment_check(current, reference, **COLUMNS)
    finding = next(f for f in result.findings if f.subject == "segment:device=small")
    assert finding.severity == "warn" and "0.8% of the window < 1.0%" in finding.message
    lenient = segment_check(current, reference, alert_min_share=0.005, **COLUMNS)
    assert next(f for f in lenient.findings if f.subject == "segment:device=small").severity == "alert"


def test_a_small_rise_amplified_by_the_rest_improving_does_not_alert() -> None:
    # The census age case: 0.218 -> 0.245 in a large segment while the rest of the window improved.
    def frame(n: int, seed: int, age_error: float, rest_error: float) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        old = rng.uniform(size=n) < 0.25
        y = rng.integers(0, 2, n)
        wrong = rng.uniform(size=n) < np.where(old, age_error, rest_error)
        return pd.DataFrame({"age": np.where(old, "60+", "<60"), "y": y, "pred": np.where(wrong, 1 - y, y)})

    alerts = 0
    for seed in range(20):
        reference = frame(8000, 2 * seed, 0.218, 0.20)
        current = frame(8000, 2 * seed + 1, 0.245, 0.17)
        result = segment_check(current, reference, segments=["age"], y_true="y", y_pred="pred")
        row = next(r for r in map(Detail.to_dict, result.details["segments"]) if r["value"] == "60+")
        assert row["ratio_of_ratios"] > row["value_metric"] / row["reference_value"]  # amplified by the rest
        alerts += result.status == "alert"
    assert alerts == 0  # its own rise is ~1.12x: far below min_ratio, however significant


def test_the_own_change_test_agrees_with_scipy() -> None:
    rng = np.random.default_rng(3)
    reference, current = many_segments(4000, rng), many_segments(3000, rng, errors={"r02": 0.3})
    result = segment_check(current, reference, **COLUMNS)
    row = next(r for r in map(Detail.to_dict, result.details["segments"]) if r["value"] == "r02")
    now = current[current.region == "r02"]
    before = reference[reference.region == "r02"]
    k1, n1 = int((now.pred != now.y).sum()), len(now)
    k2, n2 = int((before.pred != before.y).sum()), len(before)
    chi2 = stats.chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)
    assert row["p_own"] == pytest.approx(chi2.pvalue / 2, rel=1e-6)  # one-sided: the segment is worse now
    assert row["p_value"] == max(row["p_own"], row["p_ratio"])


def test_alert_rule_parameters_are_validated() -> None:
    frame = many_segments(500, np.random.default_rng(0))
    with pytest.raises(InvalidParameter, match=r"'min_ratio' of segment_check must be >= 1\.0"):
        segment_check(frame, min_ratio=0.5, **COLUMNS)
    with pytest.raises(InvalidParameter, match="'alert_min_share' of segment_check"):
        segment_check(frame, alert_min_share=2.0, **COLUMNS)
