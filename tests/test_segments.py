"""Segment-level error: planted bad segments, global and structural non-alerts, every statistic vs scipy."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from checks._params import InvalidParameter
from checks.details import Detail
from checks.segmentation import OTHER, segmentation
from checks.segments import segment_check, wilson_interval

COUNTRIES = ["DE", "FR", "IT", "ES", "NL"]
Z95 = stats.norm.ppf(0.975)


def window(
    n: int,
    seed: int,
    *,
    bad: str | None = None,
    bad_error: float = 0.3,
    error: float = 0.1,
    errors: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Labels and predictions, wrong with probability ``error`` (``bad_error`` in segment ``bad``,
    ``errors[country]`` in the countries it names)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "country": rng.choice(COUNTRIES, n, p=[0.3, 0.25, 0.2, 0.15, 0.1]),
            "amount": rng.gamma(2.0, 50.0, n),
            "y": rng.integers(0, 2, n),
        }
    )
    p_wrong = df["country"].map({bad: bad_error, **(errors or {})}).fillna(error).to_numpy(dtype=float)
    wrong = rng.uniform(size=n) < p_wrong
    df["pred"] = np.where(wrong, 1 - df["y"], df["y"])
    return df


def rows_by_value(result) -> dict[tuple[str, str], dict]:
    return {(r["column"], r["value"]): r for r in map(Detail.to_dict, result.details["segments"])}


def flagged(result) -> list[str]:
    return [f.subject for f in result.findings]


def errors_in(df: pd.DataFrame, mask: pd.Series) -> tuple[int, int]:
    return int((df.pred != df.y)[mask].sum()), int(mask.sum())


def log_relative_risk(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Log risk ratio of group 1 over group 2 and its standard error, read off scipy's Katz interval."""
    rr = stats.contingency.relative_risk(k1, n1, k2, n2)
    ci = rr.confidence_interval(confidence_level=0.95)
    return math.log(rr.relative_risk), (math.log(ci.high) - math.log(ci.low)) / (2 * Z95)


def test_planted_bad_segment_is_the_only_one_flagged_with_its_evidence() -> None:
    ref, cur = window(6000, seed=1), window(3000, seed=2, bad="IT")
    result = segment_check(cur, ref, segments=["country", "amount"], y_true="y", y_pred="pred")
    assert result.check == "segments" and result.status == "alert"
    # IT's errors raise every amount bin above its reference too, but not above the rest's change.
    assert flagged(result) == ["segment:country=IT"]
    top = result.details["segments"][0].to_dict()
    assert (top["column"], top["value"], top["flagged"]) == ("country", "IT", True)
    assert top["comparison"] == "reference" and top["flagged_against"] == ["reference"]
    seg, rest = cur[cur.country == "IT"], cur[cur.country != "IT"]
    ref_seg, ref_rest = ref[ref.country == "IT"], ref[ref.country != "IT"]
    value, rest_value = (seg.pred != seg.y).mean(), (rest.pred != rest.y).mean()
    reference, reference_rest = (ref_seg.pred != ref_seg.y).mean(), (ref_rest.pred != ref_rest.y).mean()
    assert top["support"] == len(seg) and top["reference_support"] == len(ref_seg)
    assert top["rest_support"] == len(rest) and top["reference_rest_support"] == len(ref_rest)
    assert top["value_metric"] == pytest.approx(value)
    assert top["reference_value"] == pytest.approx(reference)
    assert top["rest_value"] == pytest.approx(rest_value)
    assert top["reference_rest_value"] == pytest.approx(reference_rest)
    assert top["gap"] == pytest.approx(value - rest_value)
    assert top["reference_gap"] == pytest.approx(reference - reference_rest)
    assert top["gap_change"] == pytest.approx(value - rest_value - reference + reference_rest)
    assert top["expected_value"] == pytest.approx(reference * rest_value / reference_rest)
    assert top["excess"] == pytest.approx(value - reference * rest_value / reference_rest)
    assert top["ratio_of_ratios"] == pytest.approx((value / rest_value) / (reference / reference_rest))
    countries = [r for r in map(Detail.to_dict, result.details["segments"]) if r["column"] == "country"]
    assert countries[0] == top and not any(r["flagged"] for r in countries[1:])
    reported = {"column", "value", "support", "share", "metric", "value_metric", "ci_low", "ci_high"}
    reported |= {"reference_value", "reference_support", "rest_value", "rest_support", "p_value"}
    assert reported | {"p_adjusted", "flagged", "flagged_against"} <= set(top)
    finding = result.findings[0]
    assert finding.method == "error_rate" and finding.severity == "alert"
    assert finding.statistic == top["value_metric"] and finding.effect_size == top["excess"]
    assert finding.evidence["ratio"] == pytest.approx(value / reference) and finding.evidence["ratio"] > 2
    assert finding.evidence["flagged_against"] == ["reference"] and 0.1 < finding.evidence["share"] < 0.3
    json.dumps(result.to_dict())


def test_ratio_of_ratios_z_test_agrees_with_scipy_relative_risks() -> None:
    ref, cur = window(8000, seed=20), window(4000, seed=21, bad="ES", bad_error=0.16)
    result = segment_check(cur, ref, segments=["country"], y_true="y", y_pred="pred")
    for (_, value), row in rows_by_value(result).items():
        now = log_relative_risk(*errors_in(cur, cur.country == value), *errors_in(cur, cur.country != value))
        before = log_relative_risk(
            *errors_in(ref, ref.country == value), *errors_in(ref, ref.country != value)
        )
        z = (now[0] - before[0]) / math.hypot(now[1], before[1])
        assert row["comparison"] == "reference"
        assert row["p_ratio"] == pytest.approx(stats.norm.sf(z), rel=1e-6)
        assert row["ratio_of_ratios"] == pytest.approx(math.exp(now[0] - before[0]), rel=1e-9)


def test_an_empty_cell_gets_the_half_correction() -> None:
    def frame(a_errors: int, b_errors: int) -> pd.DataFrame:
        country = ["A"] * 100 + ["B"] * 400
        wrong = [1] * a_errors + [0] * (100 - a_errors) + [1] * b_errors + [0] * (400 - b_errors)
        return pd.DataFrame({"country": country, "y": 0, "pred": wrong})

    ref, cur = frame(0, 20), frame(15, 20)  # A had no error in the reference
    result = segment_check(cur, ref, segments=["country"], y_true="y", y_pred="pred")
    a, b, c, d = 0.5, 100.5, 20.5, 380.5  # 0 | 100 | 20 | 380, each + 0.5
    before = math.log(a / (a + b)) - math.log(c / (c + d)), 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    now = math.log(0.15 / 0.05), 1 / 15 - 1 / 100 + 1 / 20 - 1 / 400
    z = (now[0] - before[0]) / math.sqrt(now[1] + before[1])
    row = rows_by_value(result)[("country", "A")]
    assert row["p_ratio"] == pytest.approx(stats.norm.sf(z), rel=1e-9)
    assert row["expected_value"] == pytest.approx(0.15 / math.exp(now[0] - before[0]))


@pytest.mark.parametrize(
    "before",
    [{}, {"IT": 0.2}],  # equal segments; IT structurally twice as bad
    ids=["equal-segments", "structurally-worse-segment"],
)
def test_global_degradation_flags_no_segment(before: dict[str, float]) -> None:
    factor = 2.0
    ref = window(20000, seed=30, errors=before)
    cur = window(10000, seed=31, error=0.1 * factor, errors={k: v * factor for k, v in before.items()})
    result = segment_check(cur, ref, segments=["country", "amount"], y_true="y", y_pred="pred")
    assert result.metrics["overall"] > 1.8 * result.metrics["reference_overall"]
    rows = [row.to_dict() for row in result.details["segments"]]
    assert all(r["value_metric"] > r["reference_value"] + 0.05 for r in rows)  # every segment got worse ...
    assert result.status == "ok" and flagged(result) == []  # ... and none more than the others


def test_one_segment_worse_on_top_of_a_global_degradation_is_the_only_one_flagged() -> None:
    ref = window(8000, seed=41, errors={"IT": 0.2})
    cur = window(6000, seed=42, error=0.15, errors={"IT": 0.3, "FR": 0.3})  # all x1.5, FR x3
    result = segment_check(cur, ref, segments=["country", "amount"], y_true="y", y_pred="pred")
    assert flagged(result) == ["segment:country=FR"]


def test_a_structurally_worse_segment_stable_over_time_is_not_flagged() -> None:
    ref, cur = window(8000, seed=34, bad="IT"), window(4000, seed=35, bad="IT")
    with_reference = segment_check(cur, ref, segments=["country", "amount"], y_true="y", y_pred="pred")
    assert with_reference.status == "ok"
    it = rows_by_value(with_reference)[("country", "IT")]
    assert it["gap"] > 0.15 and it["reference_gap"] > 0.15 and it["comparison"] == "reference"
    without = segment_check(cur, segments=["country"], y_true="y", y_pred="pred")  # nothing else to ask
    assert flagged(without) == ["segment:country=IT"]
    assert without.findings[0].evidence["flagged_against"] == ["rest"]


def test_the_rest_improving_alone_flags_nothing() -> None:
    ref = window(20000, seed=36, bad="IT", bad_error=0.2)
    cur = window(20000, seed=37, bad="IT", bad_error=0.2, error=0.05)  # e.g. a model update helps all but IT
    result = segment_check(cur, ref, segments=["country"], y_true="y", y_pred="pred")
    it = rows_by_value(result)[("country", "IT")]
    assert it["p_ratio"] < 1e-6 and it["excess"] > 0.05  # the gap did widen ...
    assert it["p_own"] > 0.05 and it["p_value"] == it["p_own"]  # ... but IT is no worse than it was
    assert result.status == "ok" and it["p_adjusted"] > 0.05


def test_a_new_category_is_compared_with_the_rest_of_the_window() -> None:
    ref, cur = window(6000, seed=38), window(3000, seed=39)
    rng = np.random.default_rng(40)
    new = cur.index[:300]
    cur.loc[new, "country"] = "PT"
    cur.loc[new, "pred"] = np.where(rng.uniform(size=300) < 0.3, 1 - cur.loc[new, "y"], cur.loc[new, "y"])
    result = segment_check(cur, ref, segments=["country"], y_true="y", y_pred="pred")
    assert flagged(result) == ["segment:country=PT"]
    pt = rows_by_value(result)[("country", "PT")]
    assert pt["reference_support"] == 0 and pt["flagged_against"] == ["rest"]
    assert pt["excess"] == pytest.approx(pt["value_metric"] - pt["rest_value"])


def test_false_flag_rate_on_stationary_windows() -> None:
    structural = {"IT": 0.2, "NL": 0.05}  # segments differ, nothing changes
    alerts = sum(
        segment_check(
            window(2000, seed=1000 + i, errors=structural),
            window(6000, seed=3000 + i, errors=structural),
            segments=["country", "amount"],
            y_true="y",
            y_pred="pred",
        ).status
        == "alert"
        for i in range(100)
    )
    assert alerts <= 5


def test_numeric_bins_come_from_reference_quantiles() -> None:
    rng = np.random.default_rng(4)
    ref, cur = window(4000, seed=5), window(2000, seed=6)
    cur["amount"] = cur["amount"] * 1.5 + rng.normal(0, 1, len(cur))  # shifted: edges must not follow it
    result = segment_check(cur, ref, segments=["amount"], y_true="y", y_pred="pred", numeric_bins=4)
    edges = np.quantile(ref["amount"], [0.25, 0.5, 0.75])
    assert result.details["binning"]["amount"]["edges"] == pytest.approx(edges.tolist())
    expected_counts = np.bincount(np.searchsorted(edges, cur["amount"], side="left"), minlength=4)
    labels = result.details["binning"]["amount"]["labels"]
    support = {r["value"]: r["support"] for r in map(Detail.to_dict, result.details["segments"])}
    assert [support.get(label, 0) for label in labels] == expected_counts.tolist()
    ref_support = {
        r["value"]: r["reference_support"] for r in map(Detail.to_dict, result.details["segments"])
    }
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
    support = {r["value"]: r["support"] for r in map(Detail.to_dict, result.details["segments"])}
    assert set(support) == {*kept, OTHER, "__missing__"}
    assert support[OTHER] == cur["merchant"].notna().sum() - cur["merchant"].isin(kept).sum()
    assert support["__missing__"] == 10


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(["US", "DE", None, "FR", "US", "BR", "DE", "US"] * 50, dtype=object),
        pd.Series(
            [1, "1", 1.0, None, "a", np.nan, True, "b"] * 50, dtype=object
        ),  # equal values, other texts
        pd.Series(pd.array([1, 2, None, 3, 1, 1, 2, 4] * 50, dtype="Int64")),
        pd.Series(pd.Categorical(["a", "b", None, "c", "a", "a", "d", "e"] * 50)),
    ],
)
def test_segments_are_the_text_of_each_value_top_k_kept(column: pd.Series) -> None:
    # The definition, row by row: each value as text (missing apart), the top_k texts by count
    # (ties by text) kept, the rest pooled; the reference's rows labelled the same way.
    reference = column.sample(frac=0.7, random_state=1).reset_index(drop=True)
    split = segmentation(column, reference, top_k=3, sort=True)

    def labels(values: pd.Series) -> np.ndarray:
        text = values.astype(str).where(values.notna(), "__missing__")
        counts = column.astype(str)[column.notna()].value_counts()
        kept = sorted(counts.index, key=lambda v: (-counts[v], v))[:3]
        return np.where(text.isin([*kept, "__missing__"]), text, OTHER).astype(object)

    expected, expected_ref = labels(column), labels(reference)
    assert split.labels == sorted(set(expected))
    assert (np.asarray(split.labels, dtype=object)[split.codes] == expected).all()
    assert split.reference_codes is not None
    ref_labels = np.asarray(split.labels, dtype=object)[split.reference_codes]
    known = np.isin(expected_ref, split.labels)
    assert (ref_labels[known] == expected_ref[known]).all() and (split.reference_codes[~known] == -1).all()


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


@pytest.mark.parametrize("with_reference", [False, True])
def test_benjamini_hochberg_across_all_tested_segments(with_reference: bool) -> None:
    cur = window(4000, seed=10, bad="NL", bad_error=0.15)
    ref = window(8000, seed=15) if with_reference else None
    result = segment_check(cur, ref, segments=["country", "amount"], y_true="y", y_pred="pred")
    rows = [row.to_dict() for row in result.details["segments"]]
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


def regression_window(n: int, seed: int, scale: dict[str, float]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"region": rng.choice(["north", "south", "east"], n), "y": rng.normal(10, 2, n)})
    df["pred"] = df["y"] + df["region"].map(scale).to_numpy() * rng.normal(size=n)
    return df


def test_regression_ratio_of_ratios_of_mae_by_hand() -> None:
    ref = regression_window(6000, seed=16, scale={"north": 1.0, "south": 1.0, "east": 2.0})
    degraded = {"north": 1.5, "south": 1.5, "east": 3.0}  # every region's MAE x1.5: global, not a segment's
    cur = regression_window(3000, seed=17, scale=degraded)
    options = {
        "segments": ["region"],
        "y_true": "y",
        "y_pred": "pred",
        "task": "regression",
        "n_resamples": 50,
    }
    assert segment_check(cur, ref, **options).status == "ok"
    cur = regression_window(3000, seed=18, scale={**degraded, "south": 2.5})
    result = segment_check(cur, ref, **options)
    assert flagged(result) == ["segment:region=south"]
    assert result.metrics["min_delta"] == pytest.approx(0.1 * (ref.pred - ref.y).abs().mean())

    def log_ratio(df: pd.DataFrame, value: str) -> tuple[float, float]:
        err = (df.pred - df.y).abs()
        seg, rest = err[df.region == value], err[df.region != value]
        variance = sum(g.var(ddof=1) / (len(g) * g.mean() ** 2) for g in (seg, rest))
        return math.log(seg.mean() / rest.mean()), variance

    for (_, value), row in rows_by_value(result).items():
        now, before = log_ratio(cur, value), log_ratio(ref, value)
        z = (now[0] - before[0]) / math.sqrt(now[1] + before[1])
        assert row["p_ratio"] == pytest.approx(stats.norm.sf(z), rel=1e-6)
        assert row["ratio_of_ratios"] == pytest.approx(math.exp(now[0] - before[0]), rel=1e-9)


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
