"""Estimated multiclass performance before labels arrive: multiclass CBPE.

A calibrated model's probability ``p_ik`` is P(y_i = k | x_i). With the arg-max prediction
``pred_i``, the expected confusion counts of a window are sums of probabilities: class ``k``
expects ``TP_k = sum_{pred_i = k} p_ik`` true positives among its ``n_pred_k`` predictions and
``sum_i p_ik`` members. The point estimates are

* ``accuracy = mean_i p_{i, pred_i}`` (exactly the expected accuracy);
* ``macro_f1``: the mean over classes of ``2 TP_k / (n_pred_k + sum_i p_ik)`` (ratios of
  expectations, as NannyML's CBPE);
* ``roc_auc``: the mean over classes of the binary CBPE AUC of the one-vs-rest column
  ``p_k`` (:func:`checks.estimation.expected_metrics`), which is both its ranking score and its
  probability of being positive.

The interval is where the *realised* metric should land if the model is still calibrated:
labels are simulated ``y_i ~ Categorical(p_i)``, each simulated window's metrics computed,
and percentiles taken. The simulation reads *cells* (:func:`label_cells`: rows of one
predicted class and one score group of every class, the groups of
:mod:`checks.multiclass_performance`) and draws each cell's class counts at once,
``Multinomial(rows, mean probabilities)``, as binary CBPE draws ``Binomial(rows, mean
score)``: ``b`` simulations cost ``b`` times the cells, not the rows. Where the cells would
not be the cheaper (small windows; many classes, whose cells multiply every class's groups
until there are about as many as rows), each row's class is drawn as the row simulation
always drew it and the metrics counted from the drawn classes (:func:`row_simulation`,
exact, ``O(rows)`` per simulation).

With at most :data:`~checks.metric_kernels.MAX_GROUPS` distinct probabilities per class every
cell holds one probability vector and the cells simulate exactly the rows. Above, two
approximations, both bounded in the tests: a cell's counts vary by ``sum_i (p_ik - mean_k)^2``
more than its rows' would (about 0.2% of the class counts' variance on the test worlds, 0.1%
of their sd), and pairs inside a score group count one half in the AUC, which ``auc_shift``
puts back in the mean (with 16 groups a class they carry about 1/256 of its variance; the
spread matches the row simulation's within Monte Carlo error).

As for binary CBPE, everything rests on calibration and the estimate does not see concept
drift; findings are ``warn``. Compared *like for like* with the reference's own estimate (the
same computation on the reference's probabilities), under the rule of
:mod:`checks.performance` (:func:`checks.performance.materiality`, one-sided test on the
simulated distribution, Holm across the metrics).

>>> rng = np.random.default_rng(0)
>>> p = rng.dirichlet([1, 1, 1], 1000)
>>> r = multiclass_estimate(p, classes=["a", "b", "c"], n_resamples=200)
>>> r.check, round(r.metrics["accuracy"], 3) == round(float(p.max(axis=1).mean()), 3)
('estimated_performance', True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from checks._params import InvalidParameter, check_interval, check_n_resamples
from checks.bootstrap import MAX_CELLS
from checks.details import MetricRow
from checks.estimation import expected_metrics
from checks.metric_kernels import ranking_from_groups
from checks.multiclass_performance import (
    SPECS,
    assess_rows,
    cells_of_keys,
    class_rankings,
    probability_matrix,
    row_finding,
)
from checks.result import CheckResult

ESTIMATED = ("roc_auc", "accuracy", "macro_f1")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def expected_multiclass_metrics(y_score: Any, *, classes: Sequence[Any]) -> dict[str, float]:
    """CBPE point estimates of OvR ROC AUC (macro), accuracy and macro F1 from class probabilities.

    >>> m = expected_multiclass_metrics([[0.9, 0.1], [0.2, 0.8]], classes=["a", "b"])
    >>> round(m["accuracy"], 6)
    0.85
    """
    labels, p = probability_matrix(y_score, classes, "expected_multiclass_metrics")
    pred = np.argmax(p, axis=1)
    pred_onehot = np.eye(len(labels))[pred]
    tp, n_pred, n_pos = np.sum(p * pred_onehot, axis=0), pred_onehot.sum(axis=0), p.sum(axis=0)
    return {
        "roc_auc": float(np.mean([expected_metrics(p[:, k])["roc_auc"] for k in range(len(labels))])),
        "accuracy": float(np.mean(p[np.arange(len(p)), pred])),
        "macro_f1": float(np.mean(_ratio(2 * tp, n_pred + n_pos))),
    }


@dataclass(frozen=True)
class LabelCells:
    """A window's rows grouped into cells of one predicted class and one score group of every class.

    ``sizes`` holds each cell's rows, ``mean_p`` its mean probabilities ``(m, k)``, ``pred`` its
    predicted class; ``rankings[c]`` orders the cells by their score group of class ``c`` and
    gives the starts of the groups; ``auc_shift[c]`` is class ``c``'s expected AUC with every
    score minus the same with pairs inside a group counted one half (what the cells lose);
    ``cell_of_row`` is each row's cell.
    """

    sizes: np.ndarray
    mean_p: np.ndarray
    pred: np.ndarray
    rankings: tuple[tuple[np.ndarray, np.ndarray], ...]
    auc_shift: np.ndarray
    cell_of_row: np.ndarray


def _expected_auc(pos: np.ndarray, neg: np.ndarray, self_pairs: float) -> float:
    """Expected concordant over expected (positive, negative) pairs of distinct rows, per-group
    expected positives ``pos`` and negatives ``neg`` in ascending score order (as
    :func:`checks.estimation.expected_metrics`; pairs inside a group count one half)."""
    concordant = pos @ (np.cumsum(neg) - neg) + 0.5 * (pos @ neg - self_pairs)
    pairs = pos.sum() * neg.sum() - self_pairs
    return float(concordant / pairs) if pairs > 0 else float("nan")


def label_cells(p: np.ndarray, max_cells: int | None = None) -> LabelCells | None:
    """The :class:`LabelCells` of a validated probability matrix (one sort per class); ``None``
    when there would be more than ``max_cells``.

    The score groups are those of multiclass performance (each distinct probability when a
    class has at most :data:`~checks.metric_kernels.MAX_GROUPS`, else rank groups; ties never
    split), so with few distinct probabilities every cell holds one probability vector.
    """
    k = p.shape[1]
    pred = np.argmax(p, axis=1)
    orders, ties, groups, n_groups = class_rankings(p)
    cell_of_row, first = cells_of_keys(np.column_stack([pred, groups]), [k, *n_groups])
    if max_cells is not None and len(first) > max_cells:
        return None
    sizes = np.bincount(cell_of_row).astype(np.float64)
    mean_p = np.column_stack([np.bincount(cell_of_row, weights=p[:, c]) for c in range(k)]) / sizes[:, None]
    rankings, shift = [], np.zeros(k)
    for c in range(k):
        order = np.argsort(groups[first, c], kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(groups[first[order], c]) != 0])
        rankings.append((order, starts))
        col = p[orders[c], c]
        self_pairs = float(col @ (1 - col))
        pos, neg = col, 1 - col
        if ties[c] is not None:
            pos, neg = np.add.reduceat(pos, ties[c]), np.add.reduceat(neg, ties[c])
        exact = _expected_auc(pos, neg, self_pairs)
        expected_pos = (sizes * mean_p[:, c])[order]
        grouped = _expected_auc(
            np.add.reduceat(expected_pos, starts),
            np.add.reduceat(sizes[order] - expected_pos, starts),
            self_pairs,
        )
        shift[c] = exact - grouped if np.isfinite(exact - grouped) else 0.0
    return LabelCells(sizes, mean_p, pred[first], tuple(rankings), shift, cell_of_row)


def simulated_counts(cells: LabelCells, n_simulations: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_simulations, m, k)`` class counts of each cell, ``Multinomial(sizes, mean_p)``.

    Drawn class by class as binomials of the rows not yet assigned (the last class takes the
    rest, so a row summing slightly off 1 is treated as the row simulation treated it).
    """
    m, k = cells.mean_p.shape
    counts = np.empty((n_simulations, m, k))
    left = np.broadcast_to(cells.sizes.astype(np.int64), (n_simulations, m))
    rest = np.ones(m)
    for c in range(k - 1):
        q = np.clip(_ratio(cells.mean_p[:, c], rest), 0.0, 1.0)
        drawn = rng.binomial(left, q)
        counts[:, :, c] = drawn
        left = left - drawn
        rest = rest - cells.mean_p[:, c]
    counts[:, :, k - 1] = left
    return counts


def realised_metrics(cells: LabelCells, counts: np.ndarray) -> np.ndarray:
    """``ESTIMATED`` metrics (columns) of each ``(m, k)`` slice of cell class counts ``counts``.

    Accuracy and F1 from the confusion counts; each class's AUC the Mann-Whitney statistic of its
    per-group positives and negatives (pairs inside a group count one half, as ties) plus its
    ``auc_shift``; the macro AUC over the classes whose AUC is defined.
    """
    k = cells.mean_p.shape[1]
    onehot_pred = np.eye(k)[cells.pred]
    n_pos = counts.sum(axis=1)
    tp = np.einsum("bmk,mk->bk", counts, onehot_pred)
    f1 = _ratio(2 * tp, cells.sizes @ onehot_pred + n_pos)
    aucs = []
    for c, (order, starts) in enumerate(cells.rankings):
        pos = counts[:, order, c]
        auc, _ = ranking_from_groups(
            np.add.reduceat(pos, starts, axis=1), np.add.reduceat(cells.sizes[order] - pos, starts, axis=1)
        )
        aucs.append(auc + cells.auc_shift[c])
    auc = np.column_stack(aucs)
    defined = np.isfinite(auc).sum(axis=1)
    macro_auc = np.where(defined > 0, np.nansum(auc, axis=1) / np.maximum(defined, 1), np.nan)
    return np.column_stack([macro_auc, tp.sum(axis=1) / cells.sizes.sum(), f1.mean(axis=1)])


def cell_simulation(cells: LabelCells, *, n_simulations: int, seed: int) -> np.ndarray:
    """``(n_simulations, 3)`` realised ``ESTIMATED`` metrics of labels ``y_i ~ Categorical(p_i)``, by cells.

    Each cell's class counts are drawn at once (:func:`simulated_counts`), in batches of at
    most :data:`~checks.bootstrap.MAX_CELLS` counts, so the cost is ``n_simulations`` times the
    number of cells, not of rows.
    """
    rng = np.random.default_rng(seed)
    batch = max(1, MAX_CELLS // cells.mean_p.size)
    parts = []
    for done in range(0, n_simulations, batch):
        counts = simulated_counts(cells, min(batch, n_simulations - done), rng)
        parts.append(realised_metrics(cells, counts))
    return np.concatenate(parts)


def row_simulation(p: np.ndarray, *, n_simulations: int, seed: int) -> np.ndarray:
    """The same as :func:`cell_simulation`, one categorical draw per row (exact).

    Draws ``y_i`` as the row simulation always did (one uniform per row against the cumulative
    probabilities, so a seed gives the same labels); every metric then comes from counts of the
    drawn class indices (per class: positives, true positives and the sum of the positives'
    mid-ranks, the Mann-Whitney AUC), ``O(rows)`` per simulation whatever the classes.
    """
    rng = np.random.default_rng(seed)
    n, k = p.shape
    cum = np.ascontiguousarray(np.cumsum(p, axis=1)[:, :-1].T)
    pred = np.argmax(p, axis=1)
    n_pred = np.bincount(pred, minlength=k).astype(np.float64)
    ranks = np.column_stack([stats.rankdata(p[:, c]) for c in range(k)]).ravel()
    batch = max(1, MAX_CELLS // max(n, 1))
    parts = []
    for done in range(0, n_simulations, batch):
        b = min(batch, n_simulations - done)
        u = rng.random((b, n))
        cls = np.zeros((b, n), dtype=np.int64)
        for j in range(k - 1):
            cls += u > cum[j]
        hit = cls == pred
        rank_of = ranks[cls + np.arange(n) * k]
        key = (cls + k * np.arange(b)[:, None]).ravel()
        n_pos = np.bincount(key, minlength=b * k).reshape(b, k).astype(np.float64)
        tp = np.bincount(key, weights=hit.ravel(), minlength=b * k).reshape(b, k)
        rank_sum = np.bincount(key, weights=rank_of.ravel(), minlength=b * k)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (rank_sum.reshape(b, k) - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
        auc = np.where((n_pos > 0) & (n_pos < n), auc, np.nan)
        defined = np.isfinite(auc).sum(axis=1)
        macro_auc = np.where(defined > 0, np.nansum(auc, axis=1) / np.maximum(defined, 1), np.nan)
        f1 = _ratio(2 * tp, n_pred + n_pos).mean(axis=1)
        parts.append(np.column_stack([macro_auc, hit.mean(axis=1), f1]))
    return np.concatenate(parts)


#: A binomial draw per cell and class costs about this many rows' categorical draws and counts.
CELL_COST = 5


def simulated_metrics(p: np.ndarray, *, n_simulations: int, seed: int) -> np.ndarray:
    """``(n_simulations, 3)`` realised ``ESTIMATED`` metrics of labels ``y_i ~ Categorical(p_i)``.

    By cells (:func:`cell_simulation`) when their draws are the cheaper, i.e. cells x classes x
    :data:`CELL_COST` at most the rows (three classes from about 10,000 rows; many classes make
    about as many cells as rows), else row by row (:func:`row_simulation`, exact).
    """
    cells = label_cells(p, max_cells=len(p) // (p.shape[1] * CELL_COST))
    if cells is None:
        return row_simulation(p, n_simulations=n_simulations, seed=seed)
    return cell_simulation(cells, n_simulations=n_simulations, seed=seed)


def multiclass_estimate(
    y_score: Any,
    *,
    classes: Sequence[Any],
    reference: Mapping[str, float] | None = None,
    min_delta: Mapping[str, float] | None = None,
    materiality_options: Mapping[str, Any] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> CheckResult:
    """Estimate a multiclass model's OvR ROC AUC, accuracy and macro F1 without labels (CBPE).

    Parameters
    ----------
    y_score : array-like of shape (n_samples, n_classes)
        Class probabilities of the window's predictions, columns in the order of ``classes``.
    classes : sequence
    reference : mapping of str to float, optional
        The reference's own estimate (:func:`expected_multiclass_metrics` on its
        probabilities), for a like-for-like comparison.
    min_delta, n_resamples, confidence, alpha, seed
        As :func:`checks.estimation.estimate_performance`.
    materiality_options : mapping, optional
        Further keyword options of :func:`checks.performance.materiality`.

    Returns
    -------
    CheckResult
        ``check="estimated_performance"``; ``warn`` with a finding per estimated degradation,
        else ``ok``; ``skipped`` on an empty window.
    """
    func = "multiclass_estimate"
    check_n_resamples(n_resamples, func)
    check_interval("confidence", confidence, func, low=0.0, high=1.0, closed="neither")
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    overrides = {k: v for k, v in (min_delta or {}).items() if k in SPECS}
    unknown = sorted(set(min_delta or {}) - set(SPECS))
    if unknown:
        raise InvalidParameter(f"'min_delta' of {func} names unknown metrics {unknown}")
    if len(y_score) == 0:
        return CheckResult.skipped("estimated_performance", "no predictions in the current window", n=0)
    labels, p = probability_matrix(y_score, classes, func)
    values = expected_multiclass_metrics(p, classes=labels)
    dist = simulated_metrics(p, n_simulations=n_resamples, seed=seed)
    rows = assess_rows(
        ESTIMATED,
        values,
        dist,
        dict(reference or {}),
        {},
        materiality_options={"min_delta": overrides, **(materiality_options or {})},
        confidence=confidence,
        alpha=alpha,
        n_resamples=n_resamples,
        estimated=True,
        func=func,
    )
    metrics: dict[str, Any] = {"n": len(p)}
    for row in rows:
        name = row["name"]
        metrics.update(
            {name: row["value"], f"{name}_ci_low": row["ci_low"], f"{name}_ci_high": row["ci_high"]}
        )
        if row["reference"] is not None:
            metrics[f"reference_{name}"] = row["reference"]
    findings = [
        row_finding(row, len(p), severity="warn", note="estimated (labels not yet available): ")
        for row in rows
        if row["degraded"]
    ]
    return CheckResult(
        check="estimated_performance",
        status="warn" if findings else "ok",
        metrics=metrics,
        findings=tuple(findings),
        details={
            "metrics": [MetricRow.of(r) for r in rows],
            "method": "cbpe",
            "task": "multiclass",
            "n_resamples": n_resamples,
            "confidence": confidence,
            "alpha": alpha,
            "p_value_adjustment": "holm",
        },
    )
