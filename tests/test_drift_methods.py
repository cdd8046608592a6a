"""Every drift statistic against an independent computation (scipy) and Evidently 0.7's own stattest."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations.stattests.anderson_darling_stattest import _anderson_darling
from evidently.legacy.calculations.stattests.cramer_von_mises_stattest import _cramer_von_mises
from evidently.legacy.calculations.stattests.energy_distance import _energy_dist
from evidently.legacy.calculations.stattests.hellinger_distance import _hellinger_distance
from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
from evidently.legacy.calculations.stattests.kl_div import _kl_div
from evidently.legacy.calculations.stattests.ks_stattest import _ks_stat_test
from evidently.legacy.calculations.stattests.mann_whitney_urank_stattest import _mannwhitneyu_rank
from evidently.legacy.calculations.stattests.psi import _psi
from evidently.legacy.calculations.stattests.tvd_stattest import _total_variation_distance
from evidently.legacy.calculations.stattests.wasserstein_distance_norm import _wasserstein_distance_norm
from evidently.legacy.calculations.stattests.z_stattest import _z_stat_test
from evidently.legacy.core import ColumnType
from scipy import spatial, stats

from checks.drift import METHODS, column_drift
from checks.drift.count_tests import chisquare, ks_binned
from checks.drift.sample_tests import SortedPair, anderson, cramer_von_mises, energy, ks, mannw, wasserstein

NUM, CAT = ColumnType.Numerical, ColumnType.Categorical


def _samples(n_ref: int, n_cur: int, *, shift: float = 0.02, decimals: int | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(size=n_ref), rng.normal(shift, 1.0, size=n_cur)
    if decimals is not None:
        ref, cur = ref.round(decimals), cur.round(decimals)
    return ref, cur


SAMPLE_CASES = [
    pytest.param(300, 400, None, id="small"),
    pytest.param(300, 400, 1, id="ties"),
    pytest.param(20_000, 15_000, None, id="asymptotic"),
    pytest.param(20_000, 15_000, 1, id="asymptotic-ties"),
]


@pytest.mark.parametrize(("n_ref", "n_cur", "decimals"), SAMPLE_CASES)
def test_ks_matches_scipy_and_evidently(n_ref, n_cur, decimals):
    ref, cur = _samples(n_ref, n_cur, decimals=decimals)
    statistic, p_value = ks(SortedPair.of(ref, cur))
    expected = stats.ks_2samp(ref, cur)
    evidently_p = _ks_stat_test(pd.Series(ref), pd.Series(cur), NUM, 0.05)[0]
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    if max(n_ref, n_cur) <= 10_000:  # exact p-value: scipy's own
        assert p_value == pytest.approx(expected.pvalue, rel=1e-9)
        assert p_value == pytest.approx(evidently_p, rel=1e-9)
    else:  # Kolmogorov's limit with Stephens' correction, close to scipy's kstwo
        root = np.sqrt(n_ref * n_cur / (n_ref + n_cur))
        assert p_value == pytest.approx(
            stats.kstwobign.sf((root + 0.12 + 0.11 / root) * statistic), rel=1e-12
        )
        assert p_value == pytest.approx(expected.pvalue, rel=3e-3)
        assert p_value == pytest.approx(evidently_p, rel=3e-3)


def test_ks_where_the_exact_computation_fails_is_scipys_asymptotic_p_value_without_a_warning():
    # a 0/1 column of 1,989 rows on each side, nearly the same share: scipy's recursion gives up
    ref = np.r_[np.zeros(1000), np.ones(989)]
    cur = np.r_[np.zeros(1010), np.ones(979)]
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        expected = stats.ks_2samp(ref, cur)  # scipy falls back and says so
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        statistic, p_value = ks(SortedPair.of(ref, cur))
    assert (statistic, p_value) == (expected.statistic, expected.pvalue)
    assert p_value == stats.ks_2samp(ref, cur, method="asymp").pvalue


@pytest.mark.parametrize(("n_ref", "n_cur", "decimals"), SAMPLE_CASES)
def test_wasserstein_and_energy_match_scipy_and_evidently(n_ref, n_cur, decimals):
    ref, cur = _samples(n_ref, n_cur, decimals=decimals)
    pair = SortedPair.of(ref, cur)
    w_expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert wasserstein(pair)[0] == pytest.approx(w_expected, rel=1e-9)
    evidently_w = _wasserstein_distance_norm(pd.Series(ref), pd.Series(cur), NUM, 0.1)[0]
    assert wasserstein(pair)[0] == pytest.approx(evidently_w, rel=1e-9)
    # Energy distance is divided by the root of the reference SD (scale-free, unlike Evidently's).
    root_sd = np.sqrt(np.std(ref))
    assert energy(pair)[0] * root_sd == pytest.approx(stats.energy_distance(ref, cur), rel=1e-9)
    assert energy(pair)[0] * root_sd == pytest.approx(
        _energy_dist(pd.Series(ref), pd.Series(cur), NUM, 0.1)[0], rel=1e-9
    )


def test_wasserstein_of_a_location_shift_is_the_shift_in_standard_deviations():
    rng = np.random.default_rng(3)
    ref = rng.normal(10.0, 2.0, size=50_000)
    assert wasserstein(SortedPair.of(ref, ref + 0.4))[0] == pytest.approx(0.4 / np.std(ref), rel=1e-9)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(15, 12), (300, 400)])
def test_cramer_von_mises_matches_scipy_and_evidently(n_ref, n_cur):
    ref, cur = _samples(n_ref, n_cur, shift=0.5)
    statistic, p_value = cramer_von_mises(SortedPair.of(ref, cur))
    expected = stats.cramervonmises_2samp(ref, cur)
    assert (statistic, p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)
    evidently_p = _cramer_von_mises(pd.Series(ref), pd.Series(cur), NUM, 0.1)[0]
    assert p_value == pytest.approx(evidently_p, rel=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("shift", [0.0, 0.15, 1.0])
def test_anderson_matches_scipy_and_evidently(shift):
    ref, cur = _samples(400, 300, shift=shift, seed=5)
    statistic, p_value = anderson(SortedPair.of(ref, cur))
    expected = stats.anderson_ksamp([ref, cur])
    assert (statistic, p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)
    assert p_value == pytest.approx(_anderson_darling(pd.Series(ref), pd.Series(cur), NUM, 0.1)[0], rel=1e-9)


@pytest.mark.parametrize("shift", [0.4, -0.4])
def test_mannw_is_two_sided_where_evidently_is_one_sided(shift):
    ref, cur = _samples(400, 300, shift=shift, seed=2)
    statistic, p_value = mannw(SortedPair.of(ref, cur))
    expected = stats.mannwhitneyu(ref, cur, alternative="two-sided")
    assert (statistic, p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)
    evidently_less = _mannwhitneyu_rank(pd.Series(ref), pd.Series(cur), NUM, 0.05)[0]
    # Two-sided ~ twice the smaller one-sided p (continuity correction aside);
    # Evidently's "less" misses a downward shift.
    assert p_value == pytest.approx(2 * min(evidently_less, 1 - evidently_less), rel=1e-2)
    assert (evidently_less < 0.05) == (shift > 0)


def _categorical(seed: int = 0, n_ref: int = 900, n_cur: int = 700):
    rng = np.random.default_rng(seed)
    ref = pd.Series(rng.choice(list("abcde"), n_ref, p=[0.3, 0.3, 0.2, 0.15, 0.05]))
    cur = pd.Series(rng.choice(list("abcdef"), n_cur, p=[0.25, 0.3, 0.2, 0.15, 0.05, 0.05]))
    return ref, cur


EVIDENTLY_DISTANCES = {
    "psi": lambda r, c, t: _psi(r, c, t, 0.1)[0],
    "kl_div": lambda r, c, t: _kl_div(r, c, t, 0.1)[0],
    "jensenshannon": lambda r, c, t: _jensenshannon(r, c, t, 0.1)[0],
    "hellinger": lambda r, c, t: _hellinger_distance(r.copy(), c.copy(), t, 0.1)[0],
    "tvd": lambda r, c, t: _total_variation_distance(r, c),
}


@pytest.mark.parametrize("method", sorted(EVIDENTLY_DISTANCES))
@pytest.mark.parametrize("seed", [0, 1])
def test_categorical_distances_match_evidently(method, seed):
    ref, cur = _categorical(seed)
    ours = column_drift(ref, cur, method=method).statistic
    assert ours == pytest.approx(EVIDENTLY_DISTANCES[method](ref, cur, CAT), rel=1e-9)


@pytest.mark.parametrize("method", sorted(EVIDENTLY_DISTANCES))
def test_low_cardinality_numeric_distances_match_evidently(method):
    """With <= 20 distinct values Evidently bins per value, and so do reference-fixed edges."""
    rng = np.random.default_rng(4)
    ref = pd.Series(rng.integers(0, 8, 3000).astype(float))
    cur = pd.Series(rng.integers(0, 8, 2000).astype(float) + (rng.random(2000) < 0.1))
    cur = cur.clip(upper=7.0)
    ours = column_drift(ref, cur, method=method).statistic
    if method == "hellinger":  # Evidently bins numeric Hellinger on Sturges edges: compare with scipy below
        p, q = ref.value_counts(normalize=True).sort_index(), cur.value_counts(normalize=True).sort_index()
        expected = np.sqrt(1 - np.sum(np.sqrt(p * q)))
    else:
        expected = EVIDENTLY_DISTANCES[method](ref, cur, NUM)
    assert ours == pytest.approx(expected, rel=1e-9)


def test_distances_match_scipy():
    ref, cur = _categorical(7)
    p = ref.value_counts(normalize=True).reindex(list("abcdef"), fill_value=0).to_numpy()
    q = cur.value_counts(normalize=True).reindex(list("abcdef"), fill_value=0).to_numpy()
    assert column_drift(ref, cur, method="jensenshannon").statistic == pytest.approx(
        spatial.distance.jensenshannon(p, q), rel=1e-9
    )
    assert column_drift(ref, cur, method="tvd").statistic == pytest.approx(
        0.5 * np.abs(p - q).sum(), rel=1e-9
    )
    assert column_drift(ref, cur, method="hellinger").statistic == pytest.approx(
        spatial.distance.euclidean(np.sqrt(p), np.sqrt(q)) / np.sqrt(2), rel=1e-9
    )
    p_eps, q_eps = np.where(p == 0, 1e-4, p), np.where(q == 0, 1e-4, q)  # Evidently's smoothing
    assert column_drift(ref, cur, method="kl_div").statistic == pytest.approx(
        stats.entropy(p_eps, q_eps), rel=1e-9
    )
    psi_expected = np.sum((p_eps - q_eps) * np.log(p_eps / q_eps))
    assert column_drift(ref, cur, method="psi").statistic == pytest.approx(psi_expected, rel=1e-9)


def test_chisquare_is_scipy_contingency_test():
    ref, cur = _categorical(3)
    res = column_drift(ref, cur, method="chisquare")
    table = pd.crosstab(np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref.to_numpy(), cur.to_numpy()])
    expected = stats.chi2_contingency(table.to_numpy(), correction=False)
    assert (res.statistic, res.p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)


def test_chisquare_holds_its_level_where_goodness_of_fit_does_not():
    """Stationary 1,000 vs 1,000 rows: the homogeneity test rejects ~5%, Evidently's ~much more."""
    rng = np.random.default_rng(11)
    probs = [0.4, 0.3, 0.2, 0.1]
    ours, goodness_of_fit = 0, 0
    for _ in range(300):
        r, c = rng.multinomial(1000, probs), rng.multinomial(1000, probs)
        ours += chisquare(r, c)[1] < 0.05
        goodness_of_fit += stats.chisquare(c, r * c.sum() / r.sum()).pvalue < 0.05
    assert ours / 300 < 0.09
    assert goodness_of_fit / 300 > 0.15


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_z_matches_evidently_and_chisquare(seed):
    rng = np.random.default_rng(seed)
    ref = pd.Series(rng.choice(["no", "yes"], 800, p=[0.7, 0.3]))
    cur = pd.Series(rng.choice(["no", "yes"], 600, p=[0.64, 0.36]))
    res = column_drift(ref, cur, method="z")
    assert res.p_value == pytest.approx(_z_stat_test(ref, cur, CAT, 0.05)[0], rel=1e-9)
    chi = column_drift(ref, cur, method="chisquare")
    assert res.statistic**2 == pytest.approx(chi.statistic, rel=1e-9)
    assert res.p_value == pytest.approx(chi.p_value, rel=1e-9)


def test_binned_ks_is_a_conservative_lower_bound():
    rng = np.random.default_rng(8)
    ref, cur = rng.normal(size=20_000), rng.normal(0.2, 1, size=20_000)
    edges = np.quantile(ref, np.linspace(0.05, 0.95, 19))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=20)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=20)
    exact = stats.ks_2samp(ref, cur)
    d_binned, p_binned = ks_binned(ref_counts, cur_counts)
    largest_bin = max(ref_counts.max() / ref.size, cur_counts.max() / cur.size)
    assert exact.statistic - largest_bin <= d_binned <= exact.statistic + 1e-12
    assert p_binned >= exact.pvalue


def test_every_method_runs_through_column_drift():
    rng = np.random.default_rng(0)
    ref, cur = rng.normal(size=500), rng.normal(0.3, 1, size=500)
    ref_c, cur_c = pd.Series(rng.choice(list("abc"), 500)), pd.Series(rng.choice(list("abc"), 500))
    for name, method in METHODS.items():
        for kind in sorted(method.kinds):
            res = (
                column_drift(ref, cur, method=name)
                if kind == "numeric"
                else column_drift(ref_c, cur_c, method=name)
            )
            assert res.method == name
            assert res.threshold == method.default_threshold
            assert (res.p_value is not None) == (method.is_p_value or name in {"ks", "mannw"})
            assert np.isfinite(res.statistic)
