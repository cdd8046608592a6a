"""binned_drift: the same verdicts from count vectors (SQL pushdown) as from the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from checks._params import InvalidParameter
from checks.drift import bin_counts, binned_drift, column_drift, drift_result, reference_edges
from checks.drift.binned import BINNED_METHODS

COUNT_METHODS = sorted(BINNED_METHODS - {"ks"})


@pytest.fixture(scope="module")
def numeric_windows():
    rng = np.random.default_rng(0)
    return rng.normal(size=200_000), rng.normal(0.2, 1, size=150_000)


@pytest.mark.parametrize("method", COUNT_METHODS)
def test_numeric_counts_give_the_in_memory_statistic(numeric_windows, method):
    ref, cur = numeric_windows
    edges = reference_edges(ref)
    res = binned_drift(
        bin_counts(ref, edges), bin_counts(cur, edges), method=method, edges=edges, reference_std=ref.std()
    )
    expected = column_drift(ref, cur, method=method)
    assert res.statistic == pytest.approx(expected.statistic, rel=1e-9)
    if expected.p_value is None:
        assert res.p_value is None
    else:
        assert res.p_value == pytest.approx(expected.p_value, rel=1e-9, abs=1e-300)
    assert res.histogram.reference == pytest.approx(expected.histogram.reference)
    assert res.drifted == expected.drifted


@pytest.mark.parametrize("method", COUNT_METHODS)
def test_categorical_counts_give_the_in_memory_result(method):
    rng = np.random.default_rng(1)
    ref = pd.Series(rng.choice(list("abcd"), 5000, p=[0.4, 0.3, 0.2, 0.1]))
    cur = pd.Series(rng.choice(list("abcd"), 4000, p=[0.3, 0.3, 0.25, 0.15]))
    categories = list("abcd")
    ref_counts = ref.value_counts().reindex(categories).to_numpy()
    cur_counts = cur.value_counts().reindex(categories).to_numpy()
    res = binned_drift(ref_counts, cur_counts, method=method, kind="categorical", categories=categories)
    expected = column_drift(ref, cur, method=method)
    for field in ("statistic", "effect_size", "noise_floor", "significance_p_value"):
        assert getattr(res, field) == pytest.approx(getattr(expected, field), rel=1e-9)
    assert (res.drifted, res.histogram.bins) == (expected.drifted, tuple(categories))


def test_binned_ks_and_effect_size_accuracy(numeric_windows):
    """Documented accuracy: KS at the edges and Wasserstein between the outer edges."""
    ref, cur = numeric_windows
    for n_bins, rel in ((21, 0.12), (100, 0.03)):
        edges = reference_edges(ref, n_bins=n_bins)
        res = binned_drift(
            bin_counts(ref, edges), bin_counts(cur, edges), method="ks", edges=edges, reference_std=ref.std()
        )
        exact = stats.ks_2samp(ref, cur)
        assert exact.statistic - 1 / n_bins <= res.statistic <= exact.statistic
        assert res.p_value >= exact.pvalue
        w_exact = stats.wasserstein_distance(ref, cur) / ref.std()
        assert res.effect_size == pytest.approx(w_exact, rel=rel)
        assert res.effect_size <= w_exact
        assert res.drifted


def test_binned_stationary_windows_do_not_drift(numeric_windows):
    ref, _ = numeric_windows
    cur = np.random.default_rng(9).normal(size=150_000)
    edges = reference_edges(ref)
    for method in ("ks", "psi", "tvd"):
        res = binned_drift(
            bin_counts(ref, edges),
            bin_counts(cur, edges),
            method=method,
            edges=edges,
            reference_std=ref.std(),
        )
        assert not res.drifted


def test_binned_parameters_are_checked():
    with pytest.raises(InvalidParameter, match="'method' of binned_drift must be one of"):
        binned_drift([1, 2], [2, 1], method="wasserstein")
    with pytest.raises(InvalidParameter, match="needs 'edges' and 'reference_std'"):
        binned_drift([1, 2], [2, 1], method="psi")
    with pytest.raises(InvalidParameter, match="one value fewer"):
        binned_drift([1, 2], [2, 1], method="psi", edges=[0.0, 1.0], reference_std=1.0)
    with pytest.raises(InvalidParameter, match="same length"):
        binned_drift([1, 2], [2, 1, 3], method="psi", kind="categorical")
    with pytest.raises(InvalidParameter, match="non-negative"):
        binned_drift([1, -2], [2, 1], method="psi", kind="categorical")
    with pytest.raises(InvalidParameter, match="strictly increasing"):
        binned_drift([1, 2, 3], [2, 1, 3], method="psi", edges=[1.0, 1.0], reference_std=1.0)


def _binned_window_rate(n_rows, n_windows, *, shift, seed, n_columns=10, n_bins=21):
    """Share of windows with any drift finding, from multinomial bin counts (no rows drawn)."""
    rng = np.random.default_rng(seed)
    edges = stats.norm.ppf(np.arange(1, n_bins) / n_bins)
    ref_p = np.full(n_bins, 1 / n_bins)
    cur_p = np.diff(np.concatenate(([0.0], stats.norm.cdf(edges - shift), [1.0])))
    hits = 0
    for _ in range(n_windows):
        columns = []
        for i in range(n_columns):
            ref_counts = rng.multinomial(n_rows, ref_p)
            cur_counts = rng.multinomial(n_rows, cur_p if i == 0 else ref_p)
            drift = binned_drift(
                ref_counts, cur_counts, method="ks", edges=edges, reference_std=1.0, column=f"x{i}"
            )
            columns.append(("feature", drift))
        hits += bool(drift_result(columns, n_reference=n_rows, n_current=n_rows).findings)
    return hits / n_windows


def test_pushdown_stationary_windows_rarely_alert_at_1000000_rows():
    assert _binned_window_rate(1_000_000, 300, shift=0.0, seed=20) <= 0.01


def test_pushdown_catches_a_small_shift_at_5000_rows():
    assert _binned_window_rate(5000, 100, shift=0.2, seed=21) >= 0.95
