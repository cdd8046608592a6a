import numpy as np
import pytest
from scipy import stats

from checks._params import InvalidParameter
from checks.bootstrap import (
    bootstrap_ci,
    bootstrap_difference,
    bootstrap_distribution,
    bootstrap_p_value,
    counts_from_indices,
    percentile_interval,
    resample_indices,
)


def weighted_mean(counts, x):
    return counts @ x / len(x)


def test_weighted_and_plain_forms_draw_identical_resamples():
    x = np.random.default_rng(0).normal(size=300)
    plain = bootstrap_distribution(np.mean, x, n_resamples=250, seed=4)
    weighted = bootstrap_distribution(weighted_mean, x, n_resamples=250, seed=4, weighted=True)
    np.testing.assert_allclose(plain, weighted, rtol=1e-12)


def test_batching_does_not_change_the_resamples():
    one = np.concatenate(list(resample_indices(50, n_resamples=30, rng=np.random.default_rng(2))))
    many = np.concatenate(
        list(resample_indices(50, n_resamples=30, rng=np.random.default_rng(2), max_cells=120))
    )
    np.testing.assert_array_equal(one, many)


def test_counts_sum_to_n_and_match_indices():
    idx = np.random.default_rng(1).integers(0, 20, size=(7, 20))
    counts = counts_from_indices(idx, 20)
    assert counts.shape == (7, 20)
    assert (counts.sum(axis=1) == 20).all()
    for r in range(7):
        np.testing.assert_array_equal(counts[r], np.bincount(idx[r], minlength=20))


def test_paired_statistic_over_several_arrays_resamples_rows_together():
    x = np.arange(200.0)
    dist = bootstrap_distribution(lambda a, b: float(np.mean(a - b)), x, x.copy(), n_resamples=50)
    np.testing.assert_array_equal(dist, np.zeros(50))


def test_ci_agrees_with_scipy_percentile_bootstrap():
    x = np.random.default_rng(5).exponential(size=500)
    low, high = bootstrap_ci(weighted_mean, x, n_resamples=4000, seed=0, weighted=True)
    ref = stats.bootstrap((x,), np.mean, n_resamples=4000, method="percentile", rng=1).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.01)
    assert high == pytest.approx(ref.high, abs=0.01)


def test_difference_agrees_with_scipy_two_sample_bootstrap():
    rng = np.random.default_rng(6)
    cur, ref = rng.normal(0.3, 1.0, 400), rng.normal(0.0, 2.0, 600)
    d = bootstrap_difference(weighted_mean, [cur], [ref], n_resamples=4000, seed=0, weighted=True)
    low, high = percentile_interval(d)
    expected = stats.bootstrap(
        (cur, ref),
        lambda a, b, axis: np.mean(a, axis=axis) - np.mean(b, axis=axis),
        n_resamples=4000,
        method="percentile",
        paired=False,
        rng=1,
    ).confidence_interval
    assert low == pytest.approx(expected.low, abs=0.03)
    assert high == pytest.approx(expected.high, abs=0.03)
    assert np.mean(d) == pytest.approx(cur.mean() - ref.mean(), abs=0.02)


def test_nominal_95_interval_covers_the_true_mean_in_90_to_99_percent_of_draws():
    covered = 0
    for seed in range(120):
        x = np.random.default_rng(1000 + seed).normal(loc=2.0, size=200)
        low, high = bootstrap_ci(weighted_mean, x, n_resamples=400, seed=seed, weighted=True)
        covered += low <= 2.0 <= high
    assert 0.90 <= covered / 120 <= 0.99


def test_nan_resamples_are_ignored():
    y = np.r_[np.zeros(3), np.ones(3)]

    def ratio(a):
        return float(np.mean(a)) if 0 < a.sum() < len(a) else float("nan")

    dist = bootstrap_distribution(ratio, y, n_resamples=200, seed=0)
    assert np.isnan(dist).any()
    low, high = percentile_interval(dist)
    assert 0 < low <= high < 1
    assert percentile_interval([np.nan, np.nan]) == pytest.approx((np.nan, np.nan), nan_ok=True)


def test_p_value_inverts_the_one_sided_interval():
    d = np.random.default_rng(0).normal(loc=-1.0, scale=0.4, size=999)
    p = bootstrap_p_value(d, alternative="less")
    assert p == (1 + np.count_nonzero(d >= 0)) / 1000
    assert p < 0.05
    assert np.quantile(d, 0.95) < 0
    assert bootstrap_p_value(d, alternative="greater") > 0.95


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bootstrap_ci(np.mean, [1.0, 2.0], [1.0]), "same length"),
        (lambda: bootstrap_ci(np.mean, []), "empty"),
        (lambda: bootstrap_ci(np.mean), "at least one array"),
        (lambda: bootstrap_ci(np.mean, [1.0, 2.0], n_resamples=0), "'n_resamples' of bootstrap_ci"),
        (lambda: bootstrap_ci(np.mean, [1.0, 2.0], confidence=1.0), "'confidence' of bootstrap_ci"),
        (
            lambda: bootstrap_ci(lambda c, x: 1.0, [1.0, 2.0], weighted=True),
            "one value .or one row. per resample",
        ),
        (lambda: bootstrap_p_value([0.0], alternative="two-sided"), "'alternative'"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(call, message):
    with pytest.raises(InvalidParameter, match=message):
        call()


def test_weighted_statistic_may_return_several_columns_from_the_same_resamples():
    x = np.random.default_rng(3).normal(size=150)
    both = bootstrap_distribution(
        lambda c, v: np.column_stack([c @ v, c @ v**2]) / len(v), x, n_resamples=80, seed=9, weighted=True
    )
    assert both.shape == (80, 2)
    np.testing.assert_allclose(both[:, 0], bootstrap_distribution(np.mean, x, n_resamples=80, seed=9))
    seq_cur, seq_ref = np.random.SeedSequence(5).spawn(2)
    y = x[:100] + 1
    d = bootstrap_difference(np.mean, [x], [y], n_resamples=60, seed=5)
    expected = bootstrap_distribution(np.mean, x, n_resamples=60, seed=seq_cur) - bootstrap_distribution(
        np.mean, y, n_resamples=60, seed=seq_ref
    )
    np.testing.assert_allclose(d, expected)
