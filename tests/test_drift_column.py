"""column_drift, the default method rule, reference-fixed bins and parameter checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests.registry import _get_default_stattest
from evidently.legacy.core import ColumnType
from scipy import stats
from scipy.spatial.distance import jensenshannon

from checks._params import InvalidParameter
from checks.drift import METHODS, bin_counts, column_drift, default_method, reference_edges
from checks.drift.binning import bin_index, sturges_bins

EVIDENTLY_NAMES = {"ed": "energy", "TVD": "tvd"}


@pytest.mark.parametrize("n_reference", [500, 1000, 1001, 5000])
@pytest.mark.parametrize(
    ("kind", "n_values"), [("numeric", 2), ("numeric", 4), ("numeric", 50), ("categorical", 2)]
)
def test_default_method_is_evidently_rule(n_reference, kind, n_values):
    rng = np.random.default_rng(n_values)
    ref = pd.Series(rng.integers(0, n_values, n_reference))
    cur = pd.Series(rng.integers(0, n_values, 300))
    if kind == "categorical":
        ref, cur = ref.astype(str), cur.astype(str)
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    expected = _get_default_stattest(ref, cur, column_type).name
    assert column_drift(ref, cur, kind=kind).method == EVIDENTLY_NAMES.get(expected, expected)
    assert default_method(kind, n_reference, n_values) == EVIDENTLY_NAMES.get(expected, expected)


def test_categorical_default_with_many_values():
    assert default_method("categorical", 100, 10) == "chisquare"


def test_reference_edges_are_equal_frequency_and_fixed_by_the_reference():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=10_000)
    edges = reference_edges(ref, n_bins=10)
    assert edges.size == 9
    np.testing.assert_array_equal(bin_counts(ref, edges), np.full(10, 1000))
    # Values beyond the reference range fall in the open outer bins.
    assert bin_counts([-1e9, 1e9], edges).tolist() == [1] + [0] * 8 + [1]
    assert sturges_bins(ref.size) == reference_edges(ref).size + 1


def test_bins_follow_postgres_width_bucket():
    """width_bucket(x, ARRAY[1,2,3]) is 0 below 1, i for thresholds[i] <= x < thresholds[i+1]."""
    edges = np.array([1.0, 2.0, 3.0])
    assert bin_index(np.array([0.5, 1.0, 1.5, 2.0, 3.0, 7.0]), edges).tolist() == [0, 1, 1, 2, 3, 3]


def test_discrete_reference_gets_one_bin_per_value():
    ref = np.repeat([0.0, 1.0, 5.0], [10, 20, 30])
    edges = reference_edges(ref)
    assert edges.tolist() == [1.0, 5.0]
    assert bin_counts(ref, edges).tolist() == [10, 20, 30]


def test_numeric_result_and_histogram():
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=4000), rng.normal(0.5, 1, size=3000)
    res = column_drift(ref, cur, column="amount")
    assert (res.column, res.kind, res.method, res.threshold) == ("amount", "numeric", "wasserstein", 0.1)
    assert res.p_value is None and res.score == res.statistic
    assert res.statistic == pytest.approx(stats.wasserstein_distance(ref, cur) / ref.std(), rel=1e-9)
    assert res.effect_size == res.statistic
    assert res.significance_method == "ks"
    assert res.significance_p_value == pytest.approx(stats.ks_2samp(ref, cur).pvalue, abs=1e-300)
    assert res.drifted and res.method_drifted and res.material
    hist = res.histogram
    assert len(hist.bins) == len(hist.reference) + 1 == len(hist.current) + 1
    assert hist.bins[0] == min(ref.min(), cur.min()) and hist.bins[-1] == max(ref.max(), cur.max())
    assert sum(hist.reference) == pytest.approx(1) and sum(hist.current) == pytest.approx(1)


def test_categorical_result_and_histogram():
    ref = pd.Series(["a"] * 60 + ["b"] * 40)
    cur = pd.Series(["a"] * 30 + ["b"] * 50 + ["c"] * 20)
    res = column_drift(ref, cur)
    assert (res.kind, res.method) == ("categorical", "chisquare")
    assert res.histogram.bins == ("a", "b", "c")
    assert res.histogram.reference == pytest.approx((0.6, 0.4, 0.0))
    # A test method's categorical effect is the larger of TVD (0.3) and JS beyond their floors.
    js = jensenshannon([0.6, 0.4, 0.0], [0.3, 0.5, 0.2])
    assert res.effect_measure == ("tvd" if js <= 0.3 else "jensenshannon")
    assert res.effect_size == pytest.approx(max(0.3, js))
    assert res.drifted


def test_noise_floor_is_the_99th_percentile_of_the_null_effect():
    """The noise floor is what stationary windows exceed 1% of the time (large-sample law)."""
    rng = np.random.default_rng(2)
    cases = {
        "wasserstein": lambda: (rng.normal(size=1000), rng.normal(size=1000)),
        "energy": lambda: (rng.exponential(size=800), rng.exponential(size=1200)),
        "jensenshannon": lambda: (rng.choice(list("abcd"), 1000), rng.choice(list("abcd"), 1000)),
        "psi": lambda: (rng.choice(list("abcdef"), 2000), rng.choice(list("abcdef"), 1000)),
    }
    for method, draw in cases.items():
        results = [column_drift(*draw(), method=method) for _ in range(400)]
        effects = np.array([r.effect_size for r in results])
        floor = np.mean([r.noise_floor for r in results])
        assert np.mean(effects > floor) == pytest.approx(0.01, abs=0.015), method
        assert np.quantile(effects, 0.99) == pytest.approx(floor, rel=0.25), method


def test_large_sample_negligible_shift_is_significant_but_not_material():
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=500_000), rng.normal(0.03, 1, size=500_000)
    res = column_drift(ref, cur, method="ks")
    assert res.method_drifted and res.significance_p_value < 1e-10
    assert not res.material and not res.drifted


def test_small_sample_large_noisy_effect_is_not_significant():
    rng = np.random.default_rng(4)
    res = column_drift(rng.normal(size=8), rng.normal(0.3, 1, size=8), method="wasserstein")
    assert res.effect_size > 0.1
    assert not res.drifted


def test_input_containers_and_order_do_not_matter():
    rng = np.random.default_rng(5)
    ref, cur = rng.normal(size=300), rng.normal(0.3, 1, size=200)
    base = column_drift(ref, cur, method="ks")
    for a, b in [(list(ref), list(cur)), (pd.Series(ref), pd.Series(cur)), (ref[::-1], rng.permutation(cur))]:
        other = column_drift(a, b, method="ks")
        assert (other.statistic, other.p_value, other.effect_size) == pytest.approx(
            (base.statistic, base.p_value, base.effect_size), rel=1e-12
        )


def test_missing_values_are_ignored():
    ref = pd.Series([1.0, 2.0, np.nan, 3.0, 4.0] * 20)
    cur = pd.Series([1.0, 2.0, 3.0, 4.0, None] * 20)
    res = column_drift(ref, cur)
    assert (res.n_reference, res.n_current) == (80, 80)
    assert res.statistic == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "bogus"}, "'method' of column_drift must be one of"),
        ({"method": "ks", "kind": "categorical"}, "applies to ['numeric'] columns"),
        ({"kind": "text"}, "'kind' of column_drift must be one of"),
        ({"alpha": 1.5}, "'alpha' of column_drift must be"),
        ({"effect_threshold": -1.0}, "'effect_threshold' of column_drift must be >= 0"),
        ({"n_bins": 1}, "'n_bins' of column_drift must be >= 2"),
    ],
)
def test_invalid_parameters_are_named(kwargs, message):
    with pytest.raises(InvalidParameter, match=message.replace("[", r"\[").replace("]", r"\]")):
        column_drift([1.0, 2.0, 3.0], [1.0, 2.0, 4.0], **kwargs)


def test_bad_data_is_rejected_with_the_column_name():
    with pytest.raises(InvalidParameter, match="'price' is declared numeric"):
        column_drift(["a", "b"], ["c", "d"], kind="numeric", column="price")
    with pytest.raises(InvalidParameter, match="non-missing"):
        column_drift([np.nan, np.nan], [1.0])
    with pytest.raises(InvalidParameter, match="infinite"):
        column_drift([1.0, np.inf], [1.0])


def test_evidently_aliases_are_accepted():
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(size=100), rng.normal(size=100)
    assert column_drift(ref, cur, method="ed").method == "energy"
    assert (
        column_drift(
            ref.round().astype(int).astype(str), cur.round().astype(int).astype(str), method="TVD"
        ).method
        == "tvd"
    )


def test_registry_is_plain_data():
    for name, method in METHODS.items():
        assert method.name == name
        assert method.kinds <= {"numeric", "categorical"}
        assert method.input in {"samples", "counts"}
        assert 0 < method.default_threshold < 1
