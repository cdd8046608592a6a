"""The drift verdict (checks/drift/verdict.py): one test per clause, scale invariance, power.

Each clause test builds a case that only that clause decides, so removing the clause from
the rule flips the test's verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from checks.drift import bin_counts, binned_drift, column_drift, dataset_drift, drift_result, reference_edges
from checks.drift.verdict import corrected
from checks.result import jsonable


def test_clause_method_decides_when_the_test_is_stricter_than_the_significance_level():
    rng = np.random.default_rng(0)
    res = column_drift(rng.normal(size=3000), rng.normal(0.2, 1, size=3000), method="ks", threshold=1e-20)
    assert res.material and res.significance_p_value < 0.05
    assert 1e-20 < res.p_value == pytest.approx(stats.ks_2samp(*_pair(0, 3000, 0.2)).pvalue)
    assert (res.drifted, res.clause) == (False, "method")
    assert res.reason == f"not drifted: ks p {res.p_value:.2g} not below 1e-20"


def test_clause_material_decides_a_significant_negligible_shift():
    rng = np.random.default_rng(3)
    res = column_drift(rng.normal(size=500_000), rng.normal(0.03, 1, size=500_000), method="ks")
    assert res.method_drifted and res.significance_p_value < 1e-10
    assert (res.drifted, res.clause) == (False, "material")
    assert res.reason.startswith(f"not drifted: effect {res.effect_corrected:.3g} below 0.1")


def test_clause_material_subtracts_the_noise_floor_in_quadrature_not_linearly():
    # The case: 0.112 with floor 0.013 is material (linearly it would be 0.099).
    assert corrected(0.112, 0.013, squared=False) == pytest.approx(np.sqrt(0.112**2 - 0.013**2))
    assert corrected(0.112, 0.013, squared=False) >= 0.1 > 0.112 - 0.013
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=5000), rng.normal(0.13, 1, size=5000)
    res = column_drift(ref, cur)
    assert res.method == "wasserstein"
    assert res.effect_size == pytest.approx(stats.wasserstein_distance(ref, cur) / ref.std())
    assert res.effect_size - res.noise_floor < 0.1 <= res.effect_corrected
    assert (res.drifted, res.clause) == (True, "drifted")


def test_clause_material_sees_a_rare_category_collapse_through_jensen_shannon():
    """10% -> 1% at 5,000 rows: TVD 0.09 misses it, JS 0.16 (scipy) does, for tests and distances."""
    rng = np.random.default_rng(0)
    ref = rng.choice(["high", "low", "mid"], 5000, p=[0.10, 0.45, 0.45])
    cur = rng.choice(["high", "low", "mid"], 5000, p=[0.01, 0.50, 0.49])
    ref_counts = pd.Series(ref).value_counts().sort_index().to_numpy()
    cur_counts = pd.Series(cur).value_counts().sort_index().to_numpy()
    js = jensenshannon(ref_counts / 5000, cur_counts / 5000)
    tvd = 0.5 * np.abs(ref_counts / 5000 - cur_counts / 5000).sum()
    p = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False).pvalue
    assert tvd < 0.1 < js and p < 1e-90
    for method in (None, "chisquare", "jensenshannon"):
        res = column_drift(ref, cur, method=method)
        assert res.effect_measure == "jensenshannon" and res.effect_size == pytest.approx(js)
        assert res.drifted, method
    assert not column_drift(ref, cur, method="tvd").drifted  # a TVD method measures with TVD
    frame = pd.DataFrame({"grade": ref}), pd.DataFrame({"grade": cur})
    check = dataset_drift(*frame, numeric=[], categorical=["grade"])
    assert [f.subject for f in check.findings] == ["feature:grade", "model"]


def test_clause_significant_decides_a_large_noisy_effect_in_a_tiny_window():
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=20), rng.normal(0.4, 1, size=20)
    res = column_drift(ref, cur, method="wasserstein", effect_threshold=0.0)
    assert res.method_drifted and res.material
    assert res.significance_p_value == pytest.approx(stats.ks_2samp(ref, cur).pvalue)
    assert (res.drifted, res.clause) == (False, "significant")


def test_clause_significant_uses_benjamini_hochberg_across_columns():
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=3000), rng.normal(0.1, 1, size=3000)
    alone = column_drift(ref, cur, column="x", method="ks", effect_threshold=0.0)
    assert alone.drifted and 0.001 < alone.significance_p_value < 0.05
    quiet = [column_drift(rng.normal(size=300), rng.normal(size=300), column=f"q{i}") for i in range(60)]
    res = drift_result(
        [("feature", alone)] + [("feature", q) for q in quiet], n_reference=3000, n_current=3000
    )
    row = next(jsonable(r) for r in res.details["columns"] if r.column == "x")
    assert row["significance_p_adjusted"] >= 0.05 and (row["drifted"], row["clause"]) == (
        False,
        "significant",
    )
    assert "p adj." in row["reason"]


@pytest.mark.parametrize("share", [0.0, 0.001, 0.2])
def test_clause_constant_reference_any_other_value_is_drift_on_both_paths(share):
    rng = np.random.default_rng(5)
    ref = np.full(2000, 3.25)
    cur = np.where(rng.random(1000) < share, 3.5, 3.25)
    changed = float(np.mean(cur != 3.25))
    res = column_drift(ref, cur, column="rate")
    edges = reference_edges(ref)
    binned = binned_drift(
        bin_counts(ref, edges), bin_counts(cur, edges), method="ks", edges=edges, reference_std=0.0
    )
    for r in (res, binned):
        assert (r.clause, r.constant_reference, r.drifted) == ("constant_reference", True, changed > 0)
        assert r.effect_size == pytest.approx(changed)
    if changed:
        check = drift_result([("feature", res)], n_reference=2000, n_current=1000)
        assert "constant reference" in check.findings[0].message
        assert check.findings[0].evidence["clause"] == "constant_reference"


def _pair(seed, n, shift, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    return offset + scale * rng.normal(size=n), offset + scale * rng.normal(shift, 1, size=n)


NUMERIC_METHODS = [
    "wasserstein",
    "energy",
    "ks",
    "psi",
    "jensenshannon",
    "kl_div",
    "hellinger",
    "tvd",
    "anderson",
]
FIELDS = ("statistic", "effect_size", "noise_floor", "effect_corrected", "significance_p_value")


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    log_scale=st.floats(-6, 6),
    offset=st.floats(-1e3, 1e3),
    shift=st.sampled_from([0.0, 0.05, 0.2]),
    method=st.sampled_from(NUMERIC_METHODS),
    seed=st.integers(0, 2**16),
)
def test_scale_and_offset_change_no_verdict_and_no_effect_size(log_scale, offset, shift, method, seed):
    """``a x + b`` (a > 0; b in units of the column's spread) leaves every number of the verdict."""
    scale = 10.0**log_scale
    base = column_drift(*_pair(seed, 600, shift), method=method)
    moved = column_drift(*_pair(seed, 600, shift, scale, offset * scale), method=method)
    for field in FIELDS:
        assert getattr(moved, field) == pytest.approx(getattr(base, field), rel=1e-6, abs=1e-12), field
    assert (moved.drifted, moved.clause, moved.minimum_detectable_effect) == (
        base.drifted,
        base.clause,
        pytest.approx(base.minimum_detectable_effect, rel=1e-6),
    )
    ref, cur = _pair(seed, 600, shift, scale, offset * scale)
    if method in {"ks", "psi", "jensenshannon", "kl_div", "hellinger", "tvd"}:
        b_ref, b_cur = _pair(seed, 600, shift)
        summaries = [
            (
                bin_counts(r, reference_edges(r)),
                bin_counts(c, reference_edges(r)),
                reference_edges(r),
                r.std(),
            )
            for r, c in ((b_ref, b_cur), (ref, cur))
        ]
        pushed = [binned_drift(a, b, method=method, edges=e, reference_std=s) for a, b, e, s in summaries]
        for field in FIELDS:
            assert getattr(pushed[1], field) == pytest.approx(getattr(pushed[0], field), rel=1e-6, abs=1e-12)
        assert pushed[1].drifted == pushed[0].drifted
        if method != "ks":  # count methods: the pushdown path gives the in-memory numbers and verdict
            for field in ("statistic", "effect_size", "noise_floor"):
                assert getattr(pushed[1], field) == pytest.approx(getattr(moved, field), rel=1e-6, abs=1e-12)
            assert pushed[1].drifted == moved.drifted


@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
def test_a_fifth_of_a_standard_deviation_is_caught_at_every_scale(scale):
    """0.2-SD shift, 5,000 rows, three columns: flagged in >= 95% of windows in memory and pushed down."""
    rng = np.random.default_rng(30)
    hits = binned_hits = 0
    n_windows = 40
    for _ in range(n_windows):
        ref = pd.DataFrame({f"x{i}": scale * rng.normal(size=5000) for i in range(3)})
        cur = pd.DataFrame({f"x{i}": scale * rng.normal(0.2 if i == 0 else 0.0, 1, 5000) for i in range(3)})
        res = dataset_drift(ref, cur, numeric=["x0", "x1", "x2"], categorical=[])
        hits += "feature:x0" in {f.subject for f in res.findings}
        columns = []
        for name in ref.columns:
            edges = reference_edges(ref[name])
            counts = bin_counts(ref[name], edges), bin_counts(cur[name], edges)
            drift = binned_drift(
                *counts, method="ks", edges=edges, reference_std=ref[name].std(ddof=0), column=name
            )
            columns.append(("feature", drift))
        pushed = drift_result(columns, n_reference=5000, n_current=5000)
        binned_hits += "feature:x0" in {f.subject for f in pushed.findings}
    assert hits / n_windows >= 0.95 and binned_hits / n_windows >= 0.95


@pytest.mark.parametrize(("n", "method"), [(5000, None), (1000, "ks"), (20_000, "psi")])
def test_minimum_detectable_shift_is_detected_with_80_percent_power(n, method):
    """At the stated minimum detectable shift, about 80% of windows drift (normal location shift)."""
    rng = np.random.default_rng(n)
    probe = column_drift(rng.normal(size=n), rng.normal(size=n), method=method)
    shift = probe.minimum_detectable_shift_sd
    assert probe.minimum_detectable_effect > 0 and 0.05 < shift < 1
    detected = [
        column_drift(rng.normal(size=n), rng.normal(shift, 1, n), method=method).drifted for _ in range(150)
    ]
    assert 0.7 <= np.mean(detected) <= 0.97


def test_minimum_detectable_effect_of_a_categorical_column_is_detected_with_80_percent_power():
    rng = np.random.default_rng(8)
    ref_p = np.array([0.5, 0.3, 0.15, 0.05])
    probe = column_drift(rng.choice(4, 4000, p=ref_p).astype(str), rng.choice(4, 4000, p=ref_p).astype(str))
    assert probe.minimum_detectable_measure == "jensenshannon"
    target = probe.minimum_detectable_effect

    def moved(t):
        return ref_p + t * np.array([-1, 0, 0, 1])

    t = next(t for t in np.linspace(0, 0.3, 3001) if jensenshannon(ref_p, moved(t)) >= target)
    detected = [
        column_drift(
            rng.choice(4, 4000, p=ref_p).astype(str), rng.choice(4, 4000, p=moved(t)).astype(str)
        ).drifted
        for _ in range(150)
    ]
    assert 0.7 <= np.mean(detected) <= 0.97


def test_result_rows_carry_the_clause_and_the_minimum_detectable_shift():
    rng = np.random.default_rng(9)
    ref = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(list("ab"), 500)})
    cur = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(list("ab"), 500)})
    res = dataset_drift(ref, cur, numeric=["x"], categorical=["c"])
    for row in map(jsonable, res.details["columns"]):
        assert row["clause"] in {"method", "material", "significant"} and row["reason"].startswith(
            "not drifted"
        )
        assert row["minimum_detectable_effect"] > 0
        assert (row["minimum_detectable_shift_sd"] is None) == (row["kind"] == "categorical")
    # Two columns: the power is stated at level fdr / 2, so it is larger than for the column alone.
    alone = column_drift(ref["x"], cur["x"], alpha=0.05)
    row = next(jsonable(r) for r in res.details["columns"] if r.column == "x")
    assert row["minimum_detectable_shift_sd"] > alone.minimum_detectable_shift_sd
