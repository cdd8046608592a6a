"""The grouped binary kernel against the row-by-row definitions it replaced (issue 18)."""

import numpy as np
import pytest
from sklearn import metrics as skm

from checks import metric_kernels
from checks.bootstrap import bootstrap_distribution, percentile_interval
from checks.metric_kernels import (
    metric_distribution,
    metric_window,
    score_groups,
    tie_groups,
    weighted_ranking_metrics,
)

NAMES = ("roc_auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier")


def window(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    s = 1 / (1 + np.exp(-(rng.normal(size=n) * 1.5 + 1.2 * y - 0.4)))
    order = np.argsort(s, kind="stable")
    return y[order], s[order]


def row_kernel(y, s, threshold):
    """The previous kernel: one weight per row, exact tie groups, resample size fixed at n."""
    p = (s >= threshold).astype(float)
    starts = tie_groups(s)
    sc = np.clip(s, 1e-15, 1 - 1e-15)
    ll, brier, n = -(y * np.log(sc) + (1 - y) * np.log1p(-sc)), (s - y) ** 2, len(y)

    def kernel(w, _rows):
        w = w.astype(float)
        tp, pp, pos = w @ (y * p), w @ p, w @ y
        auc, ap = weighted_ranking_metrics(w, y, starts)
        f1, prec, rec = 2 * tp / (pp + pos), tp / pp, tp / pos
        return np.column_stack([auc, ap, f1, prec, rec, w @ (y == p) / n, w @ ll / n, w @ brier / n])

    return kernel


@pytest.mark.parametrize("max_groups", [256, 64])
def test_grouped_intervals_match_the_row_bootstrap_within_monte_carlo_error(monkeypatch, max_groups):
    # 6,000 distinct scores: every cell is a rank group of the scores, not a single score.
    monkeypatch.setattr(metric_kernels, "MAX_GROUPS", max_groups)
    y, s = window(6000, seed=4)
    mw = metric_window(y, None, s, "binary", 0.5, None)
    assert len(mw.sizes) <= 4 * max_groups
    new = metric_distribution(mw, 2000, np.random.SeedSequence(1))
    old = bootstrap_distribution(
        row_kernel(y, s, 0.5), np.arange(6000), n_resamples=2000, seed=2, weighted=True
    )
    for j, name in enumerate(NAMES):
        assert mw.names[j] == name
        low_new, high_new = percentile_interval(new[:, j])
        low_old, high_old = percentile_interval(old[:, j])
        width = high_old - low_old
        # Each endpoint of a 2,000-resample percentile interval has a Monte Carlo sd of about
        # 1.6% of the width; allow 5 sd of the difference of two independent ones.
        assert abs(low_new - low_old) < 0.12 * width, name
        assert abs(high_new - high_old) < 0.12 * width, name
        assert abs(np.std(new[:, j]) / np.std(old[:, j]) - 1) < 0.1, name


def test_grouped_window_values_are_exact():
    y, s = window(5000, seed=5)
    s = np.round(s, 3)  # ties across and inside groups
    mw = metric_window(y, None, s, "binary", 0.5, None)
    p = (s >= 0.5).astype(int)
    assert mw.values["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert mw.values["pr_auc"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert mw.values["f1"] == pytest.approx(skm.f1_score(y, p), abs=1e-12)
    assert mw.values["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-12)


def test_score_groups_never_split_ties_and_cover_the_window():
    s = np.sort(np.round(np.random.default_rng(0).uniform(size=10_000), 2))
    starts = score_groups(s, 30)
    assert starts[0] == 0 and np.all(np.diff(starts) > 0)
    assert np.all(s[starts[1:]] != s[starts[1:] - 1])
    assert 20 <= len(starts) <= 30


def test_the_distribution_does_not_depend_on_how_many_counts_are_drawn_at_once(monkeypatch):
    """Blocks of resamples (bounded memory for many cells) take the same draws in the same order."""
    from checks.multiclass_performance import multiclass_window

    y, s = window(3000, seed=8)
    rng = np.random.default_rng(3)
    p = rng.dirichlet([1, 1, 1, 1, 1], 2000)
    windows = [
        metric_window(y, None, s, "binary", 0.5, None),  # cells with a within-cell normal term
        multiclass_window(rng.integers(0, 5, 2000), p, classes=list(range(5))),  # cells ~ rows
    ]
    whole = [metric_distribution(w, 301, np.random.SeedSequence(5)) for w in windows]
    for cells in (1, 97):
        monkeypatch.setattr(metric_kernels, "MAX_DRAWN", cells * len(windows[1].sizes))
        for w, expected in zip(windows, whole, strict=True):
            got = metric_distribution(w, 301, np.random.SeedSequence(5))
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)  # BLAS rounding only
