"""Multiclass calibration's cell bootstrap against the row bootstrap it replaced and direct formulas.

The old definition (every row drawn with replacement, the bins' sums of ``p - y`` from the
rows) is kept here as the reference the cells are held to.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy import sparse

import checks.multiclass_calibration as mc
from checks.bootstrap import counts_from_indices, resample_indices
from checks.calibration import (
    brier_decomposition,
    calibrated_eces,
    expected_calibration_error,
    maximum_calibration_error,
    reliability_curve,
)
from tests.multiclass_world import CLASSES, assert_same_distribution, world


def row_gaps(
    y: np.ndarray, p: np.ndarray, labels: np.ndarray, n_bins: int, strategy: str
) -> sparse.csr_matrix:
    """The old definition: ``(n, (K + 1) * n_bins)`` sparse ``p - y`` in each row's bin."""
    correct, conf = mc.top_label(y, p, labels)
    onehot = (y[:, None] == labels[None, :]).astype(np.float64)
    cols = [(correct, conf), *((onehot[:, k], p[:, k]) for k in range(len(labels)))]
    n, blocks = len(y), []
    for j, (yy, pp) in enumerate(cols):
        edges = np.percentile(pp, np.linspace(0, 100, n_bins + 1)) if strategy == "quantile" else None
        edges = np.linspace(0.0, 1.0, n_bins + 1) if edges is None else edges
        ids = np.searchsorted(edges[1:-1], pp) + j * n_bins
        blocks.append(sparse.csr_matrix((pp - yy, (np.arange(n), ids)), shape=(n, len(cols) * n_bins)))
    return sparse.csr_matrix(sum(blocks))


def row_bootstrap(gaps: sparse.csr_matrix, k: int, n_bins: int, n_resamples: int, seed: Any) -> np.ndarray:
    """The old definition: top-label and class-wise ECE of index resamples of the rows."""
    n, out = gaps.shape[0], []
    for idx in resample_indices(n, n_resamples=n_resamples, rng=np.random.default_rng(seed)):
        w = counts_from_indices(idx, n).astype(np.float64)
        binned = np.abs(np.asarray((gaps.T @ w.T).T)).reshape(len(w), k + 1, n_bins).sum(axis=2) / n
        out.append(np.column_stack([binned[:, 0], binned[:, 1:].mean(axis=1)]))
    return np.concatenate(out)


CASES = {
    "calibrated, 10 uniform bins": (world(3000, seed=1), 10, "uniform"),
    "over-confident, 10 quantile bins": (world(3000, seed=2, temperature=0.6), 10, "quantile"),
    "3 wide bins": (world(3000, seed=3), 3, "uniform"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cell_bootstrap_matches_the_row_bootstrap_within_monte_carlo_error(case: str) -> None:
    (y, p, _), n_bins, strategy = CASES[case]
    new = mc._bootstrap(
        mc.gap_cells(mc.binned(y, p, CLASSES, n_bins, strategy)), 3, n_bins, 2000, np.random.SeedSequence(1)
    )
    old = row_bootstrap(row_gaps(y, p, CLASSES, n_bins, strategy), 3, n_bins, 2000, seed=2)
    assert_same_distribution(new, old, mc.MEASURES)


def test_many_classes_resample_rows_and_match_the_row_bootstrap() -> None:
    # Ten classes: about as many cells as rows, so the cells are resampled by row index.
    rng = np.random.default_rng(8)
    labels = np.arange(10)
    p = rng.dirichlet(np.full(10, 0.5), 3000)
    y = (rng.random((3000, 1)) > np.cumsum(p, axis=1)[:, :-1]).sum(axis=1)
    cells = mc.gap_cells(mc.binned(y, p, labels, 10, "uniform"))
    assert cells.by_row
    new = mc._bootstrap(cells, 10, 10, 2000, np.random.SeedSequence(1))
    old = row_bootstrap(row_gaps(y, p, labels, 10, "uniform"), 10, 10, 2000, seed=2)
    assert_same_distribution(new, old, mc.MEASURES, means=False)


def weighted_ece(truth: np.ndarray, score: np.ndarray, w: np.ndarray, n_bins: int) -> float:
    """ECE of rows weighted by ``w``, bins ``(e[k-1], e[k]]``, written out bin by bin."""
    edges, total = np.linspace(0, 1, n_bins + 1), 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (score > lo) & (score <= hi) if lo > 0 else (score >= lo) & (score <= hi)
        total += abs(np.sum(w[inside] * (score[inside] - truth[inside])))
    return total / w.sum()


def test_cells_of_repeated_probability_vectors_give_the_weighted_rows_ece() -> None:
    # Rows share probability vectors, one per combination of bins: every cell holds one, nothing
    # varies inside a cell, and a row of cell counts is the window weighted by them.
    rng = np.random.default_rng(4)
    vectors = rng.dirichlet([1, 1, 1], 200)
    bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], vectors)
    vectors = vectors[np.unique(bins, axis=0, return_index=True)[1]]
    p = vectors[rng.integers(0, len(vectors), 3000)]
    y = CLASSES[[rng.choice(3, p=row) for row in p]]
    cells = mc.gap_cells(mc.binned(y, p, CLASSES, 10, "uniform"))
    assert np.allclose(cells.within_root, 0.0)
    w = rng.poisson(1.0, 3000).astype(np.float64)
    cell_w = np.bincount(cells.cell_of_row, weights=w)
    sums = np.abs(cells.gaps.T @ cell_w).reshape(4, 10).sum(axis=1) / w.sum()
    correct, conf = mc.top_label(y, p, CLASSES)
    assert sums[0] == pytest.approx(weighted_ece(correct, conf, w, 10), abs=1e-12)
    for k, c in enumerate(CLASSES):
        assert sums[1 + k] == pytest.approx(weighted_ece((y == c).astype(float), p[:, k], w, 10), abs=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_cells_hold_each_window_s_eces_and_the_bootstrap_s_covariance(case: str) -> None:
    (y, p, _), n_bins, strategy = CASES[case]
    cells = mc.gap_cells(mc.binned(y, p, CLASSES, n_bins, strategy))
    m = mc.multiclass_calibration(y, p, classes=CLASSES, n_bins=n_bins, strategy=strategy)
    eces = np.abs(cells.gaps.T @ cells.sizes).reshape(4, n_bins).sum(axis=1) / len(y)
    assert eces[0] == pytest.approx(m.top_label_ece, abs=1e-12)
    assert eces[1:].mean() == pytest.approx(m.classwise_ece, abs=1e-12)
    # The Poisson bootstrap's covariance of the bins' sums of p - y is sum_i g_i g_i^T; the cell
    # counts carry the part between cells and the normal term the rest, exactly.
    g = row_gaps(y, p, CLASSES, n_bins, strategy)
    rows = (g.T @ g).toarray()
    between = (cells.gaps.T @ sparse.diags(cells.sizes) @ cells.gaps).toarray()
    cov = between + cells.within_root.T @ cells.within_root
    assert np.allclose(cov, rows, atol=1e-9 * np.abs(rows).max())
    # What the normal term carries (the only part not drawn as the bootstrap draws it): 0.4% of the
    # variance with 10 bins, 5% with 3 (the interval still matches the row bootstrap above).
    within = np.trace(cells.within_root.T @ cells.within_root) / np.trace(rows)
    assert within < (0.01 if n_bins == 10 else 0.08)


SCENARIOS = [
    (world(6000, seed=4), world(3000, seed=5)),
    (world(6000, seed=4), world(3000, seed=5, temperature=0.5)),
    (world(6000, seed=4), world(3000, seed=6, temperature=0.85)),
    (world(10000, seed=6), world(300, seed=10)),
]


@pytest.mark.parametrize("scenario", range(len(SCENARIOS)))
def test_verdicts_and_p_values_agree_with_the_row_bootstrap(
    scenario: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    (y_ref, p_ref, _), (y, p, _) = SCENARIOS[scenario]

    def run() -> Any:
        return mc.multiclass_calibration_check(
            y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=1000
        )

    new = run()
    monkeypatch.setattr(mc, "gap_cells", lambda w: row_gaps(w.y, w.p, w.labels, w.n_bins, w.strategy))
    monkeypatch.setattr(mc, "_bootstrap", row_bootstrap)
    old = run()
    assert new.status == old.status
    assert [f.method for f in new.findings] == [f.method for f in old.findings]
    for name in mc.MEASURES:
        assert new.metrics[f"{name}_delta"] == old.metrics[f"{name}_delta"]
        width = old.metrics[f"{name}_delta_ci_high"] - old.metrics[f"{name}_delta_ci_low"]
        for end in ("low", "high"):
            key = f"{name}_delta_ci_{end}"
            assert abs(new.metrics[key] - old.metrics[key]) < 0.12 * width, key
        # A p-value of 1,000 resamples has a Monte Carlo sd of sqrt(p (1 - p) / 1000); four sd of
        # the difference of two (the third scenario has p near 0.05).
        key = f"{name}_delta_p_value"
        p_old = old.metrics[key]
        assert abs(new.metrics[key] - p_old) < 4 * np.sqrt(2 * p_old * (1 - p_old) / 1000) + 0.002, key


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_the_window_s_measures_are_the_binary_functions_one_vs_rest(strategy: str) -> None:
    # The old definitions: every measure by the binary functions of checks.calibration, binning
    # its own column each time; the check now bins each column once and reads all from the bins.
    y, p, _ = world(2500, seed=7, temperature=0.7)
    r = mc.multiclass_calibration_check(y, p, classes=CLASSES, n_bins=8, strategy=strategy, seed=5)
    m = mc.multiclass_calibration(y, p, classes=CLASSES, n_bins=8, strategy=strategy)
    correct, conf = mc.top_label(y, p, CLASSES)
    columns = [(correct, conf), *(((y == c).astype(float), p[:, k]) for k, c in enumerate(CLASSES))]
    eces = [expected_calibration_error(t, s, n_bins=8, strategy=strategy) for t, s in columns]
    noises = [
        calibrated_eces(s, n_bins=8, strategy=strategy, seed=5 + j).mean() for j, (_, s) in enumerate(columns)
    ]
    parts = [brier_decomposition(t, s, n_bins=8, strategy=strategy) for t, s in columns[1:]]
    assert r.metrics["ece"] == m.top_label_ece == pytest.approx(eces[0], abs=1e-15)
    assert r.metrics["classwise_ece"] == pytest.approx(np.mean(eces[1:]), abs=1e-15)
    assert r.metrics["ece_noise"] == pytest.approx(noises[0], abs=1e-15)
    assert r.metrics["classwise_ece_noise"] == pytest.approx(np.mean(noises[1:]), abs=1e-15)
    assert r.metrics["mce"] == pytest.approx(
        maximum_calibration_error(correct, conf, n_bins=8, strategy=strategy), abs=1e-15
    )
    for field in (
        "brier",
        "reliability",
        "resolution",
        "uncertainty",
        "within_bin_variance",
        "within_bin_covariance",
    ):
        assert getattr(m, field) == pytest.approx(sum(getattr(d, field) for d in parts), abs=1e-12), field
    curves = [r.details["reliability"], *(r.details["class_reliability"][c] for c in CLASSES)]
    for curve, (t, s) in zip(curves, columns, strict=True):
        old = reliability_curve(t, s, n_bins=8, strategy=strategy)
        for field in ("mean_predicted", "fraction_positive", "count", "bin_edges"):
            assert np.array_equal(getattr(curve, field), getattr(old, field), equal_nan=True), field
