"""Segment-level error: planted bad segments, false flags, binning, and every statistic vs scipy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from checks._params import InvalidParameter
from checks.segments import OTHER, segment_check, wilson_interval

COUNTRIES = ["DE", "FR", "IT", "ES", "NL"]


def window(
    n: int, seed: int, *, bad: str | None = None, bad_error: float = 0.3, error: float = 0.1
) -> pd.DataFrame:
    """Labels and predictions, wrong with probability ``error`` (``bad_error`` in segment ``bad``)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "country": rng.choice(COUNTRIES, n, p=[0.3, 0.25, 0.2, 0.15, 0.1]),
            "amount": rng.gamma(2.0, 50.0, n),
            "y": rng.integers(0, 2, n),
        }
    )
    p_wrong = np.where(df["country"] == bad, bad_error, error)
    wrong = rng.uniform(size=n) < p_wrong
    df["pred"] = np.where(wrong, 1 - df["y"], df["y"])
    return df


def rows_by_value(result) -> dict[tuple[str, str], dict]:
    return {(r["column"], r["value"]): r for r in result.details["segments"]}


def test_planted_bad_segment_is_found_first_with_its_evidence() -> None:
    ref, cur = window(6000, seed=1), window(3000, seed=2, bad="IT")
    result = segment_check(cur, ref, segments=["country", "amount"], y_true="y", y_pred="pred")
    assert result.check == "segments" and result.status == "alert"
    # IT's errors also raise every amount bin above its reference; only IT is worse than the rest.
    assert result.findings[0].subject == "segment:country=IT"
    against_rest = [r for r in result.details["segments"] if "rest" in r["flagged_against"]]
    assert [(r["column"], r["value"]) for r in against_rest] == [("country", "IT")]
    top = result.details["segments"][0]
    assert (top["column"], top["value"], top["flagged"]) == ("country", "IT", True)
    assert set(top["flagged_against"]) == {"reference", "rest"}
    seg = cur[cur.country == "IT"]
    assert top["support"] == len(seg)
    assert top["value_metric"] == pytest.approx((seg.pred != seg.y).mean())
    assert top["reference_value"] == pytest.approx(
        (ref[ref.country == "IT"].pred != ref[ref.country == "IT"].y).mean()
    )
    rest = cur[cur.country != "IT"]
    assert top["rest_value"] == pytest.approx((rest.pred != rest.y).mean())
    countries = [r for r in result.details["segments"] if r["column"] == "country"]
    assert countries[0] is top and not any(r["flagged"] for r in countries[1:])
    keys = {"column", "value", "support", "metric", "value_metric", "ci_low", "ci_high", "reference_value"}
    assert keys | {"rest_value", "p_value", "p_adjusted", "flagged"} <= set(top)
    finding = result.findings[0]
    assert finding.method == "error_rate" and finding.severity == "alert"
    assert finding.evidence["ratio"] > 2 and 0.1 < finding.evidence["share"] < 0.3
    json.dumps(result.to_dict())


def test_false_flag_rate_on_stationary_windows() -> None:
    ref = window(6000, seed=3)
    flagged = sum(
        segment_check(
            window(2000, seed=1000 + i), ref, segments=["country", "amount"], y_true="y", y_pred="pred"
        ).status
        == "alert"
        for i in range(100)
    )
    assert flagged <= 5


def test_numeric_bins_come_from_reference_quantiles() -> None:
    rng = np.random.default_rng(4)
    ref, cur = window(4000, seed=5), window(2000, seed=6)
    cur["amount"] = cur["amount"] * 1.5 + rng.normal(0, 1, len(cur))  # shifted: edges must not follow it
    result = segment_check(cur, ref, segments=["amount"], y_true="y", y_pred="pred", numeric_bins=4)
    edges = np.quantile(ref["amount"], [0.25, 0.5, 0.75])
    assert result.details["binning"]["amount"]["edges"] == pytest.approx(edges.tolist())
    expected_counts = np.bincount(np.searchsorted(edges, cur["amount"], side="left"), minlength=4)
    labels = result.details["binning"]["amount"]["labels"]
    support = {r["value"]: r["support"] for r in result.details["segments"]}
    assert [support.get(label, 0) for label in labels] == expected_counts.tolist()
    ref_support = {r["value"]: r["reference_support"] for r in result.details["segments"]}
    assert sorted(ref_support.values()) == [1000, 1000, 1000, 1000]


def test_high_cardinality_keeps_top_k_and_pools_the_rest() -> None:
    rng = np.random.default_rng(7)
    cur = window(3000, seed=8)
    weights = 1 / np.arange(1, 31)
    cur["merchant"] = rng.choice([f"m{i:02d}" for i in range(30)], len(cur), p=weights / weights.sum())
    cur.loc[:9, "merchant"] = None
    result = segment_check(cur, segments=["merchant"], y_true="y", y_pred="pred", top_k=5)
    kept = cur["merchant"].value_counts().index[:5].tolist()
    assert result.details["binning"]["merchant"]["kept"] == kept
    support = {r["value"]: r["support"] for r in result.details["segments"]}
    assert set(support) == {*kept, OTHER, "__missing__"}
    assert support[OTHER] == cur["merchant"].notna().sum() - cur["merchant"].isin(kept).sum()
    assert support["__missing__"] == 10


def test_wilson_intervals_and_one_sided_two_proportion_p_values_agree_with_scipy() -> None:
    cur = window(3000, seed=9, bad="ES", bad_error=0.16)
    result = segment_check(cur, segments=["country"], y_true="y", y_pred="pred")
    for (_, value), row in rows_by_value(result).items():
        seg, rest = cur[cur.country == value], cur[cur.country != value]
        k, n = int((seg.pred != seg.y).sum()), len(seg)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
        k_rest = int((rest.pred != rest.y).sum())
        chi2 = stats.chi2_contingency([[k, n - k], [k_rest, len(rest) - k_rest]], correction=False)
        one_sided = chi2.pvalue / 2 if k / n > k_rest / len(rest) else 1 - chi2.pvalue / 2
        assert row["p_value"] == pytest.approx(one_sided, rel=1e-6)
    assert wilson_interval(0, 20)[0] == 0.0


def test_benjamini_hochberg_across_all_tested_segments() -> None:
    cur = window(4000, seed=10, bad="NL", bad_error=0.15)
    result = segment_check(cur, segments=["country", "amount"], y_true="y", y_pred="pred")
    rows = result.details["segments"]
    raw = np.array([r["p_value"] for r in rows])
    m = raw.size
    order = np.argsort(raw)
    scaled = raw[order] * m / np.arange(1, m + 1)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1, np.minimum.accumulate(scaled[::-1])[::-1])
    np.testing.assert_allclose([r["p_adjusted"] for r in rows], adjusted, rtol=1e-12)


def test_regression_mae_segment_with_bootstrap_interval_and_welch_test() -> None:
    rng = np.random.default_rng(11)
    n = 2500
    df = pd.DataFrame({"region": rng.choice(["north", "south", "east"], n), "y": rng.normal(10, 2, n)})
    noise = np.where(df.region == "east", 2.0, 1.0) * rng.normal(size=n)
    df["pred"] = df["y"] + noise
    result = segment_check(
        df, segments=["region"], y_true="y", y_pred="pred", task="regression", n_resamples=400
    )
    assert [f.subject for f in result.findings] == ["segment:region=east"]
    assert result.findings[0].method == "mae"
    for (_, value), row in rows_by_value(result).items():
        err = (df.pred - df.y).abs()
        seg, rest = err[df.region == value], err[df.region != value]
        assert row["value_metric"] == pytest.approx(seg.mean())
        welch = stats.ttest_ind(seg, rest, equal_var=False, alternative="greater")
        assert row["p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
        boot = stats.bootstrap(
            (seg.to_numpy(),), np.mean, n_resamples=2000, method="percentile", random_state=0
        )
        assert row["ci_low"] == pytest.approx(boot.confidence_interval.low, rel=0.02)
        assert row["ci_high"] == pytest.approx(boot.confidence_interval.high, rel=0.02)


def test_small_and_immaterial_segments_are_not_flagged() -> None:
    cur = window(40000, seed=12, bad="DE", bad_error=0.11)  # significant with this n, but +1 point only
    result = segment_check(cur, segments=["country"], y_true="y", y_pred="pred", min_delta=0.02)
    de = rows_by_value(result)[("country", "DE")]
    assert de["p_adjusted"] < 0.05 and not de["flagged"] and result.status == "ok"
    tiny = window(600, seed=13)
    result = segment_check(tiny, segments=["country"], y_true="y", y_pred="pred", min_support=100)
    nl = rows_by_value(result)[("country", "NL")]
    assert nl["support"] < 100 and nl["p_value"] is None and not nl["flagged"]


def test_binary_scores_stand_in_for_predictions_and_bad_inputs_are_rejected() -> None:
    cur = window(2000, seed=14)
    cur["score"] = np.where(cur.pred == 1, 0.8, 0.2)
    by_score = segment_check(cur, segments=["country"], y_true="y", y_score="score")
    by_pred = segment_check(cur, segments=["country"], y_true="y", y_pred="pred")
    assert by_score.details["segments"] == by_pred.details["segments"]
    with pytest.raises(InvalidParameter, match="lacks columns"):
        segment_check(cur, segments=["city"], y_true="y", y_pred="pred")
    with pytest.raises(InvalidParameter, match="'metric' of segment_check"):
        segment_check(cur, segments=["country"], y_true="y", y_pred="pred", metric="mae")
