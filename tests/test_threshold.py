"""The threshold check against scikit-learn's precision/recall computations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_curve

from checks._params import InvalidParameter
from checks.threshold import NORMAL_ROWS, Objective, _grid, best_threshold, threshold_check


def scored(n: int, base_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed model: class-conditional normal logits, so only the class balance varies."""
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=n) < base_rate).astype(int)
    z = np.where(y == 1, 1.0, -1.0) + rng.normal(scale=1.2, size=n)
    return y, 1 / (1 + np.exp(-z))


def sklearn_f1_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    precision, recall, thresholds = precision_recall_curve(y, s)
    with np.errstate(invalid="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return thresholds, f1[:-1]


def test_f1_optimum_agrees_with_precision_recall_curve() -> None:
    y, s = scored(3000, 0.3, seed=1)
    result = threshold_check(y, s, current_threshold=0.5, n_resamples=50)
    thresholds, f1 = sklearn_f1_curve(y, s)
    assert result.metrics["objective_proposed"] == pytest.approx(f1.max(), rel=1e-12)
    assert result.metrics["proposed_threshold"] == pytest.approx(thresholds[np.argmax(f1)])
    assert result.metrics["objective_current"] == pytest.approx(f1_score(y, s >= 0.5), rel=1e-12)
    curve = result.details["curve"]
    assert 2 <= len(curve.thresholds) <= 200
    lookup = dict(zip(thresholds.tolist(), f1.tolist(), strict=True))
    np.testing.assert_allclose(curve.objective, [lookup[t] for t in curve.thresholds], rtol=1e-12)


def test_cost_optimum_is_the_brute_force_minimum() -> None:
    y, s = scored(500, 0.2, seed=2)
    result = threshold_check(
        y, s, current_threshold=0.5, objective="cost", fp_cost=1, fn_cost=5, n_resamples=50
    )

    def cost(t: float) -> float:
        _tn, fp, fn, _tp = confusion_matrix(y, s >= t, labels=[0, 1]).ravel()
        return (1 * fp + 5 * fn) / y.size

    costs = {
        t: ((s >= t) & (y == 0)).sum() / y.size + 5 * ((s < t) & (y == 1)).sum() / y.size
        for t in np.unique(s)
    }
    assert result.metrics["objective_proposed"] == pytest.approx(min(costs.values()), rel=1e-12)
    assert cost(result.metrics["proposed_threshold"]) == pytest.approx(min(costs.values()), rel=1e-12)
    assert result.metrics["objective_current"] == pytest.approx(cost(0.5), rel=1e-12)
    assert result.metrics["apparent_gain"] == pytest.approx(cost(0.5) - min(costs.values()), rel=1e-12)


@pytest.mark.parametrize(("objective", "target"), [("precision_at", 0.7), ("recall_at", 0.8)])
def test_constrained_objectives_agree_with_precision_recall_curve(objective: str, target: float) -> None:
    y, s = scored(3000, 0.3, seed=3)
    result = threshold_check(y, s, current_threshold=0.5, objective=objective, target=target, n_resamples=50)
    precision, recall, thresholds = precision_recall_curve(y, s)
    precision, recall = precision[:-1], recall[:-1]
    if objective == "precision_at":
        feasible = precision >= target
        best = recall[feasible].max()
    else:
        feasible = recall >= target
        best = precision[feasible].max()
    assert result.metrics["objective_proposed"] == pytest.approx(best, rel=1e-12)
    i = int(np.flatnonzero(thresholds == result.metrics["proposed_threshold"])[0])
    assert feasible[i]


@pytest.mark.parametrize("objective", ["f1", "cost"])
def test_gain_distribution_is_the_out_of_bag_bootstrap_of_the_selection(objective: str) -> None:
    # The check draws Poisson counts per cell; the definition resamples row indices. Same
    # distribution within Monte Carlo error: 2,000 resamples of the check against 800 naive ones.
    y, s = scored(800, 0.3, seed=4)
    current = 0.7
    result = threshold_check(y, s, current_threshold=current, objective=objective, n_resamples=2000, seed=5)

    def value(yy: np.ndarray, pred: np.ndarray) -> float:
        if objective == "f1":
            return f1_score(yy, pred)
        return -float(np.sum(pred & (yy == 0)) + np.sum(~pred & (yy == 1))) / yy.size

    rng = np.random.default_rng(6)
    gains = []
    for _ in range(800):
        idx = rng.integers(0, y.size, y.size)
        out = np.setdiff1d(np.arange(y.size), idx)
        # best_threshold: the exhaustive search over observed scores (tested against sklearn above)
        chosen, _ = best_threshold(y[idx], s[idx], Objective(objective))
        gains.append(value(y[out], s[out] >= chosen) - value(y[out], s[out] >= current))
    sd = np.std(gains)
    assert result.metrics["gain"] == pytest.approx(np.mean(gains), abs=0.2 * sd)
    low, high = np.quantile(gains, [0.025, 0.975])
    assert result.details["gain_ci"] == pytest.approx([low, high], abs=0.35 * sd)
    assert result.metrics["n_resamples_used"] == 2000


def test_class_balance_shift_moves_the_best_threshold_and_is_recommended() -> None:
    y_ref, s_ref = scored(20000, 0.1, seed=6)
    configured = threshold_check(y_ref, s_ref, current_threshold=0.5, n_resamples=20).metrics[
        "proposed_threshold"
    ]
    y, s = scored(4000, 0.5, seed=7)
    result = threshold_check(y, s, current_threshold=configured, n_resamples=300)
    assert result.metrics["proposed_threshold"] < configured - 0.1
    assert result.status == "warn"
    (finding,) = result.findings
    assert finding.subject == "threshold" and finding.method == "f1"
    assert finding.statistic == result.metrics["proposed_threshold"] and finding.threshold == configured
    assert finding.evidence["gain_ci"][0] > 0 and finding.effect_size >= 0.01
    assert set(result.details) == {"curve", "current", "proposed", "gain", "gain_ci", "objective"}
    json.dumps(result.to_dict())


def test_no_recommendation_on_stationary_data() -> None:
    y_ref, s_ref = scored(20000, 0.3, seed=8)
    configured = threshold_check(y_ref, s_ref, current_threshold=0.5, n_resamples=20).metrics[
        "proposed_threshold"
    ]
    flagged = 0
    for seed in range(20):
        y, s = scored(2000, 0.3, seed=100 + seed)
        flagged += (
            threshold_check(y, s, current_threshold=configured, n_resamples=100, seed=seed).status != "ok"
        )
    assert flagged <= 1


def test_parameters_and_small_windows() -> None:
    y, s = scored(1000, 0.3, seed=9)
    with pytest.raises(InvalidParameter, match="'target' of threshold_check is required"):
        threshold_check(y, s, current_threshold=0.5, objective="precision_at")
    with pytest.raises(InvalidParameter, match="'objective' of threshold_check must be one of"):
        threshold_check(y, s, current_threshold=0.5, objective="youden")
    skipped = threshold_check(y[:100], s[:100], current_threshold=0.5)
    assert skipped.status == "skipped" and "need 200 rows" in skipped.reason


@pytest.mark.parametrize(
    ("objective", "target", "n"),
    [
        ("f1", None, 30_000),
        ("cost", None, 30_000),
        ("f1", None, 12_000),
        ("precision_at", 0.75, 12_000),
        ("recall_at", 0.9, 6_000),
    ],
)
def test_cell_draws_agree_with_row_poisson_counts_on_a_large_window(
    objective: str, target: float | None, n: int
) -> None:
    # Above GRID_POINTS distinct scores the bootstrap's candidates are score quantiles: at
    # 30,000 rows most cells hold NORMAL_ROWS rows or more (their draws are normal), at 12,000
    # most hold 10 to 40, at 6,000 most 3 to 15 (both kinds of draw side by side). The
    # definition: every row gets its own Poisson(1) count; the best candidate on the counts,
    # both thresholds scored on the rows counted 0. 3,000 resamples of the check against 600
    # of the definition.
    y, s = scored(n, 0.3, seed=11)
    current = 0.7
    result = threshold_check(
        y, s, current_threshold=current, objective=objective, target=target, n_resamples=3000, seed=12
    )
    obj = Objective(objective, target=target)
    s_asc = np.sort(s)
    grid = _grid(s_asc, current)
    cell = np.searchsorted(grid, s, side="right")  # bin b: grid[b - 1] <= score < grid[b]
    at_current = int(np.searchsorted(grid, current))
    sizes = np.bincount(cell * 2 + y, minlength=2 * (grid.size + 1))
    assert np.mean(sizes[sizes > 0] >= NORMAL_ROWS) > (0.5 if n > 20_000 else 0.1)

    size = grid.size + 1
    code = cell * 2 + y  # (bin, label) of each row

    def above(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positive and negative weight at or above each candidate, per resample (rows of ``weights``)."""
        flat = (code + np.arange(len(weights))[:, None] * 2 * size).ravel()
        sums = np.bincount(flat, weights=weights.ravel(), minlength=len(weights) * 2 * size)
        sums = sums.reshape(len(weights), size, 2)
        cum = np.cumsum(sums[:, ::-1], axis=1)[:, ::-1][:, 1:]
        return cum[:, :, 1], cum[:, :, 0]

    rng = np.random.default_rng(13)
    gains = []
    for _ in range(6):
        counts = rng.poisson(1.0, (100, y.size)).astype(float)
        tp, fp = above(counts)
        scores = obj.score(tp, fp, (counts @ y)[:, None], counts.sum(axis=1)[:, None])
        chosen = scores.shape[1] - 1 - np.argmax(scores[:, ::-1], axis=1)
        out = (counts == 0).astype(float)
        tp, fp = above(out)
        at = np.column_stack([chosen, np.full(len(out), at_current)])
        taken = (np.take_along_axis(tp, at, axis=1), np.take_along_axis(fp, at, axis=1))
        value = obj.score(*taken, (out @ y)[:, None], out.sum(axis=1)[:, None])
        gains.extend(value[:, 0] - value[:, 1])
    sd = np.std(gains)
    assert result.metrics["gain"] == pytest.approx(np.mean(gains), abs=0.2 * sd)
    low, high = np.quantile(gains, [0.025, 0.975])
    assert result.details["gain_ci"] == pytest.approx([low, high], abs=0.35 * sd)
