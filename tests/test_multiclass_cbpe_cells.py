"""Multiclass CBPE's cell simulation against the row simulation it replaced and scikit-learn.

The old definition (one categorical draw per row, realised metrics from the rows) is kept
here as the reference the cells are held to.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

import checks.multiclass_estimation as me
from tests.multiclass_world import CLASSES, assert_same_distribution, rounded, world


def row_simulation(p: np.ndarray, n_simulations: int, seed: int) -> np.ndarray:
    """The old definition: ``y_i ~ Categorical(p_i)`` row by row, metrics from the rows."""
    rng = np.random.default_rng(seed)
    n, k = p.shape
    cum = np.cumsum(p, axis=1)[:, :-1]
    pred = np.argmax(p, axis=1)
    ranks = np.column_stack([stats.rankdata(p[:, c]) for c in range(k)])
    out = []
    for _ in range(n_simulations):
        sim = (rng.random((n, 1)) > cum).sum(axis=1)
        aucs, f1s = [], []
        for c in range(k):
            y = (sim == c).astype(np.float64)
            n_pos, is_pred = y.sum(), pred == c
            f1s.append(2 * (y @ is_pred) / (is_pred.sum() + n_pos) if is_pred.sum() + n_pos else 0.0)
            defined = 0 < n_pos < n
            aucs.append(
                (y @ ranks[:, c] - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos)) if defined else np.nan
            )
        out.append([np.nanmean(aucs), np.mean(sim == pred), np.mean(f1s)])
    return np.array(out)


def label_cells(p: np.ndarray) -> me.LabelCells:
    cells = me.label_cells(p)
    assert cells is not None
    return cells


WINDOWS = {
    "continuous": lambda: world(3000, seed=3)[1],
    "rounded": lambda: rounded(world(3000, seed=4)[1]),
    "vague": lambda: world(3000, seed=5, sep=0.6, model_sep=0.6)[1],
}


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_cell_simulation_matches_the_row_simulation_within_monte_carlo_error(window: str) -> None:
    p = WINDOWS[window]()
    new = me.cell_simulation(label_cells(p), n_simulations=2000, seed=1)
    old = row_simulation(p, 2000, seed=2)
    assert_same_distribution(new, old, me.ESTIMATED)


def test_realised_metrics_of_exact_cells_are_sklearns_with_the_counts_as_weights() -> None:
    # Rounded probabilities: every cell holds one probability vector, so one draw of cell
    # counts is a labelled window whose rows are weighted by those counts.
    p = rounded(world(2000, seed=6)[1])
    cells = label_cells(p)
    assert np.allclose(cells.auc_shift, 0.0, atol=1e-12)
    assert np.allclose(cells.mean_p[cells.cell_of_row], p)  # one probability vector per cell
    counts = me.simulated_counts(cells, 3, np.random.default_rng(0))
    got = me.realised_metrics(cells, counts)
    m, k = cells.mean_p.shape
    first = np.unique(cells.cell_of_row, return_index=True)[1]
    score, pred = np.repeat(p[first], k, axis=0), np.repeat(cells.pred, k)
    truth = np.tile(np.arange(k), m)
    for row, c in zip(got, counts, strict=True):
        w = c.reshape(-1)
        f1 = skm.f1_score(truth, pred, average="macro", sample_weight=w, zero_division=0)
        aucs = [skm.roc_auc_score(truth == j, score[:, j], sample_weight=w) for j in range(k)]
        assert row[0] == pytest.approx(np.mean(aucs), abs=1e-12)
        assert row[1] == pytest.approx(skm.accuracy_score(truth, pred, sample_weight=w), abs=1e-12)
        assert row[2] == pytest.approx(f1, abs=1e-12)


def test_the_point_estimates_are_the_old_definitions_and_a_direct_formula() -> None:
    p = world(1500, seed=7)[1]
    r = me.multiclass_estimate(p, classes=CLASSES, n_resamples=100)
    pred = p.argmax(axis=1)
    assert r.metrics["accuracy"] == pytest.approx(p[np.arange(len(p)), pred].mean(), abs=1e-12)
    f1 = [2 * p[pred == c, c].sum() / ((pred == c).sum() + p[:, c].sum()) for c in range(3)]
    assert r.metrics["macro_f1"] == pytest.approx(np.mean(f1), abs=1e-12)
    aucs = []
    for c in range(3):  # expected concordant over expected pairs of distinct rows, pair by pair
        s = p[:, c]
        order = (s[:, None] > s[None, :]) + 0.5 * (s[:, None] == s[None, :])
        pairs = np.outer(s, 1 - s)
        np.fill_diagonal(pairs, 0.0)
        aucs.append(np.sum(pairs * order) / pairs.sum())
    assert r.metrics["roc_auc"] == pytest.approx(np.mean(aucs), abs=1e-12)


def test_the_cells_barely_add_variance_to_the_class_counts() -> None:
    # A cell's Multinomial(rows, mean p) counts vary by sum_i (p_ik - mean_k)^2 more than its
    # rows' own categorical draws: bounded here relative to the rows' variance sum_i p_ik (1 - p_ik).
    for p in (world(20000, seed=8)[1], world(20000, seed=9, sep=0.6, model_sep=0.6)[1]):
        cells = label_cells(p)
        excess = np.sum((p - cells.mean_p[cells.cell_of_row]) ** 2, axis=0)
        assert np.all(excess / np.sum(p * (1 - p), axis=0) < 5e-3)  # 0.2% here
        assert len(cells.sizes) < 2000  # the cells stay few when the rows grow


def test_the_row_path_is_the_old_definition_draw_for_draw() -> None:
    for p in (world(700, seed=10)[1], rounded(world(500, seed=11)[1])):
        assert np.allclose(
            me.row_simulation(p, n_simulations=50, seed=3), row_simulation(p, 50, seed=3), atol=1e-12
        )


def test_many_classes_simulate_rows_and_few_classes_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    monkeypatch.setattr(me, "row_simulation", lambda p, **_: called.append("rows"))
    monkeypatch.setattr(me, "cell_simulation", lambda cells, **_: called.append("cells"))
    rng = np.random.default_rng(12)
    me.simulated_metrics(world(20000, seed=12)[1], n_simulations=10, seed=0)
    me.simulated_metrics(rng.dirichlet(np.ones(10), 20000), n_simulations=10, seed=0)
    assert called == ["cells", "rows"]


@pytest.mark.parametrize("n", [3000, 20000])
def test_verdicts_and_p_values_agree_with_the_row_simulation(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _, p_ref, _ = world(n, seed=20)
    baseline = me.expected_multiclass_metrics(p_ref, classes=CLASSES)
    sep = 1.4 if n > 3000 else 1.3
    windows = [
        world(n, seed=21)[1],
        world(n, seed=23, sep=1.47, model_sep=1.47)[1],
        world(n, seed=22, sep=sep, model_sep=sep)[1],
    ]
    # Cells whatever the window (a 3,000-row window would be simulated row by row).
    monkeypatch.setattr(me, "simulated_metrics", lambda p, **kw: me.cell_simulation(label_cells(p), **kw))
    new = [me.multiclass_estimate(p, classes=CLASSES, reference=baseline, n_resamples=1000) for p in windows]
    # The old definition, draw for draw (test_the_row_path_is_the_old_definition_draw_for_draw).
    monkeypatch.setattr(me, "simulated_metrics", me.row_simulation)
    old = [me.multiclass_estimate(p, classes=CLASSES, reference=baseline, n_resamples=1000) for p in windows]
    for a, b in zip(new, old, strict=True):
        assert a.status == b.status
        assert {f.method for f in a.findings} == {f.method for f in b.findings}
        for x, y in zip(a.details["metrics"], b.details["metrics"], strict=True):
            assert x.value == y.value
            # A p-value of 1,000 draws has a Monte Carlo sd of sqrt(p (1 - p) / 1000); four sd of
            # the difference of two (the window at sep 1.47 has p near 0.05, the others near 0.5 and 0.001).
            assert abs(x.p_value - y.p_value) < 4 * np.sqrt(2 * y.p_value * (1 - y.p_value) / 1000) + 0.002, (
                x.name
            )
