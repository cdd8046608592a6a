"""Performance metrics of one window and a kernel that recomputes them for many resamples.

Each builder validates a window's arrays, computes the metric values, and returns a
:class:`MetricWindow` whose ``kernel`` maps a ``(b, k)`` matrix of resample counts (weights) to
the ``(b, n_metrics)`` matrix of the same metrics; :func:`metric_distribution` draws the counts
and returns the bootstrap distribution (:mod:`checks.performance` uses it for its intervals
and tests).

A binary window is sorted by score once and compressed into *cells*: rows of the same score
group, label and prediction. Every binary metric is a function of the weighted confusion
counts of the cells (ROC AUC and average precision of their per-group positives and
negatives, :func:`ranking_from_groups`), so a resample is one row of Poisson cell counts
(:func:`checks.bootstrap.poisson_weights`) and ``b`` resamples cost ``b x k`` operations
whatever the number of rows. With at most :data:`MAX_GROUPS` distinct scores the groups are the
distinct scores and the cells are exact (a resample's metrics equal scikit-learn's on the
resampled rows); above, the groups are rank quantiles of the scores (ties never split):
ranking metrics then treat pairs inside a group as ties, so the distribution is shifted by the
difference between the exact value and the grouped value on the whole window, and the
row-to-row spread inside a cell of the log loss and Brier terms is added as a normal term of
that variance. A multiclass window's cells are its (true class, predicted class) pairs (the
log loss by its cell means and spread); a regression window's are :data:`MAX_GROUPS` rank
groups of the error, each metric's spread inside them taken by the delta method (its
influence per row). :mod:`checks.multiclass_performance` builds its cells the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from checks._params import InvalidParameter, as_float_array, binary_labels, check_same_length, probabilities
from checks.bootstrap import poisson_weights

Task = Literal["binary", "multiclass", "regression"]
_EPS = float(np.finfo(np.float64).eps)

#: A binary window with more distinct scores than this is resampled in this many rank groups.
MAX_GROUPS = 256

#: Resample counts drawn at once by :func:`metric_distribution` (16 Mi float64: 128 MB).
MAX_DRAWN = 2**24


def _ratio(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, empty), where=den > 0)


def tie_groups(sorted_score: np.ndarray) -> np.ndarray | None:
    """Start positions of the runs of equal values in ascending ``sorted_score``; ``None`` if no ties."""
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    return None if len(starts) == len(sorted_score) else starts


def score_groups(sorted_score: np.ndarray, max_groups: int = MAX_GROUPS) -> np.ndarray:
    """Start positions of the score groups of ascending ``sorted_score``.

    Each distinct score is a group when there are at most ``max_groups``; else about
    ``max_groups`` groups of equal size, each boundary moved to the start of its run of ties.

    >>> score_groups(np.array([0.1, 0.2, 0.2, 0.3])).tolist()
    [0, 1, 3]
    >>> score_groups(np.arange(10.0), max_groups=3).tolist()
    [0, 3, 6]
    """
    n = len(sorted_score)
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]]) if n else np.zeros(0, int)
    if len(starts) <= max_groups:
        return starts
    cuts = sorted_score[np.arange(max_groups) * n // max_groups]
    return np.unique(np.searchsorted(sorted_score, cuts, side="left"))


def ranking_from_groups(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and average precision of each row of per-group positive and negative weights.

    Columns are score groups in ascending order; rows inside a group are tied (as
    scikit-learn treats equal scores). AUC is the Mann-Whitney statistic (a tie counts one
    half); average precision is ``sum_k (R_k - R_{k-1}) P_k`` over the groups in descending
    order. NaN for a row without both classes.
    """
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    pairs = np.einsum("ij,ij->i", pos, np.cumsum(neg, axis=1)) - 0.5 * np.einsum("ij,ij->i", pos, neg)
    auc = _ratio(pairs, n_pos * n_neg, np.nan)
    pos_desc = pos[:, ::-1]
    # Where pos_desc > 0 the cumulative total is > 0; elsewhere the product is 0 anyway.
    cum_total = np.maximum(np.cumsum(pos_desc + neg[:, ::-1], axis=1), np.finfo(np.float64).tiny)
    precision_sum = np.einsum("ij,ij->i", pos_desc, np.cumsum(pos_desc, axis=1) / cum_total)
    return auc, _ratio(precision_sum, n_pos, np.nan)


def weighted_ranking_metrics(
    w: np.ndarray, y_sorted: np.ndarray, starts: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and average precision for each row of weights ``w``, ties handled as scikit-learn.

    Rows (columns of ``w``) must be in ascending score order; ``starts`` are the tie groups
    (:func:`tie_groups`). See :func:`ranking_from_groups`.

    >>> y = np.array([0.0, 1.0, 0.0, 1.0])
    >>> auc, ap = weighted_ranking_metrics(np.ones((1, 4)), y, None)
    >>> float(auc[0]), round(float(ap[0]), 4)
    (0.75, 0.8333)
    """
    pos = w * y_sorted
    neg = w - pos
    if starts is not None:
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    return ranking_from_groups(pos, neg)


@dataclass(frozen=True)
class MetricWindow:
    """A validated window: size, metric names, values, and the kernel giving the same metrics for
    each row of a ``(b, k)`` matrix of resample counts.

    ``sizes`` holds the rows of each of the ``k`` cells the kernel reads; ``shift`` is added to
    every resample (the exact value minus the grouped one) and ``within`` is each metric's sum
    of squares inside the cells, the variance of its resampled sum that the cells do not see;
    ``cells`` is the cell of each row.
    """

    n: int
    names: tuple[str, ...]
    values: dict[str, float]
    kernel: Callable[[np.ndarray], np.ndarray]
    sizes: np.ndarray
    shift: np.ndarray | None = None
    within: np.ndarray | None = None
    cells: np.ndarray | None = None


def metric_distribution(window: MetricWindow, n_resamples: int, seed: np.random.SeedSequence) -> np.ndarray:
    """The ``(n_resamples, n_metrics)`` bootstrap distribution of the window's metrics.

    One matrix of Poisson counts of the cells read by every metric, plus the window's ``shift``
    and ``within`` terms. The matrix is drawn and read in blocks of resamples of at most
    :data:`MAX_DRAWN` counts: where cells are nearly rows (a multiclass window of many
    classes, whose Holm adjustment also asks for thousands of resamples) one matrix would
    not fit in memory. The blocks take the same draws from the generator in the same order,
    so the distribution does not depend on the block size (beyond the rounding of the
    matrix products).
    """
    rng = np.random.default_rng(seed)
    block = max(1, MAX_DRAWN // max(len(window.sizes), 1))
    total = np.empty(n_resamples)
    dist = np.empty((n_resamples, len(window.names)))
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        w = poisson_weights(window.sizes, n_resamples=stop - start, rng=rng)
        total[start:stop] = w.sum(axis=1)
        dist[start:stop] = window.kernel(w)
    if window.within is not None and window.within.any():
        dist += rng.standard_normal(dist.shape) * np.sqrt(window.within) / np.maximum(total, 1.0)[:, None]
    dist[total == 0] = np.nan  # a resample that drew no row (tiny windows) has no metrics
    return dist if window.shift is None else dist + window.shift


def _binary_inputs(
    y_true: Any, y_pred: Any, y_score: Any, threshold: float, func: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    y = binary_labels(y_true, "y_true", func)
    s = None if y_score is None else probabilities(y_score, "y_score", func)
    if y_pred is None and s is None:
        raise InvalidParameter(f"{func} needs 'y_pred' or 'y_score' for task='binary'")
    p = (s >= threshold).astype(np.float64) if y_pred is None else binary_labels(y_pred, "y_pred", func)
    given = {"y_pred": None if y_pred is None else p, "y_score": s}
    check_same_length(func, y_true=y, **{k: v for k, v in given.items() if v is not None})
    return y, p, s


def _binary(y_true: Any, y_pred: Any, y_score: Any, threshold: float, func: str) -> MetricWindow:
    y, p, s = _binary_inputs(y_true, y_pred, y_score, threshold, func)
    n = len(y)
    names = ["f1", "precision", "recall", "accuracy"]
    groups = np.zeros(n, dtype=np.int64)
    rows: dict[str, np.ndarray] = {}
    if s is not None:
        names = ["roc_auc", "pr_auc", *names, "log_loss", "brier"]
        # Resampling is order-free: sort the window by score once; groups and cells follow.
        order = np.argsort(s, kind="stable")
        y, p, s = y[order], p[order], s[order]
        starts = score_groups(s, MAX_GROUPS)
        groups = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
        sc = np.clip(s, _EPS, 1 - _EPS)
        rows = {"log_loss": -(y * np.log(sc) + (1 - y) * np.log1p(-sc)), "brier": (s - y) ** 2}
    code = (groups * 2 + y.astype(np.int64)) * 2 + p.astype(np.int64)
    full = np.bincount(code)
    cells = np.flatnonzero(full)
    sizes = full[cells].astype(np.float64)
    lookup = np.zeros(full.size, dtype=np.int64)
    lookup[cells] = np.arange(cells.size)
    cell_of_row = lookup[code]
    cy, cp, cg = (cells // 2) % 2, cells % 2, cells // 4
    cy, cp = cy.astype(np.float64), cp.astype(np.float64)
    group_starts = np.flatnonzero(np.r_[True, cg[1:] != cg[:-1]])
    means, within = {}, {}
    for name, v in rows.items():
        means[name] = np.bincount(cell_of_row, weights=v, minlength=cells.size) / sizes
        within[name] = float(np.sum((v - means[name][cell_of_row]) ** 2))

    def kernel(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        tp, pp, pos = w @ (cy * cp), w @ cp, w @ cy
        out = {
            "f1": _ratio(2 * tp, pp + pos),
            "precision": _ratio(tp, pp),
            "recall": _ratio(tp, pos),
            "accuracy": _ratio(w @ (cy == cp).astype(np.float64), total),
        }
        if s is not None:
            wp = w * cy
            pos_g = np.add.reduceat(wp, group_starts, axis=1)
            neg_g = np.add.reduceat(w - wp, group_starts, axis=1)
            out["roc_auc"], out["pr_auc"] = ranking_from_groups(pos_g, neg_g)
            out["log_loss"] = _ratio(w @ means["log_loss"], total)
            out["brier"] = _ratio(w @ means["brier"], total)
        return np.column_stack([out[k] for k in names])

    values = _binary_values(y, p, s, rows, names)
    grouped = kernel(sizes[None, :])[0]
    exact = np.array([values[k] for k in names])
    shift = np.where(np.isfinite(exact) & np.isfinite(grouped), exact - grouped, 0.0)
    within_row = np.array([within.get(k, 0.0) for k in names])
    return MetricWindow(n, tuple(names), values, kernel, sizes, shift, within_row)


def _binary_values(
    y: np.ndarray, p: np.ndarray, s: np.ndarray | None, rows: dict[str, np.ndarray], names: list[str]
) -> dict[str, float]:
    """The exact metrics of the (score-sorted) window: the kernel on one weight per row, tie groups exact."""
    n = len(y)
    tp, pp, pos = float(y @ p), float(p.sum()), float(y.sum())
    values = {
        "f1": 2 * tp / (pp + pos) if pp + pos else 0.0,
        "precision": tp / pp if pp else 0.0,
        "recall": tp / pos if pos else 0.0,
        "accuracy": float(np.mean(y == p)) if n else float("nan"),
    }
    if s is not None:
        auc, ap = weighted_ranking_metrics(np.ones((1, n)), y, tie_groups(s))
        two_classes = 0 < pos < n
        values["roc_auc"] = float(auc[0]) if two_classes else np.nan
        values["pr_auc"] = float(ap[0]) if two_classes else np.nan
        values.update({k: float(v.mean()) for k, v in rows.items()})
    return {k: values[k] for k in names}


def _multiclass(
    y_true: Any, y_pred: Any, y_score: Any, classes: Sequence[Any] | None, func: str
) -> MetricWindow:
    y = np.asarray(y_true)
    score = None if y_score is None else np.asarray(y_score, dtype=np.float64)
    if classes is None:
        seen = [y] if y_pred is None else [y, np.asarray(y_pred)]
        classes = np.unique(np.concatenate(seen))
    labels = np.asarray(classes)
    if score is not None and (score.ndim != 2 or score.shape != (len(y), len(labels))):
        raise InvalidParameter(
            f"'y_score' of {func} must be an (n_samples, n_classes) = ({len(y)}, {len(labels)}) probability "
            f"matrix with columns in the order of classes {labels.tolist()}; got shape {score.shape}"
        )
    if score is not None and not np.all(np.isfinite(score)):
        raise InvalidParameter(f"'y_score' of {func} contains NaN or infinite values")
    if y_pred is None and score is None:
        raise InvalidParameter(f"{func} needs y_pred or y_score for task='multiclass'")
    pred = labels[np.argmax(score, axis=1)] if y_pred is None else np.asarray(y_pred)
    unknown = np.setdiff1d(np.concatenate([y, pred]), labels)
    if len(pred) != len(y) or unknown.size:
        raise InvalidParameter(
            f"y_true/y_pred of {func} must have equal length and use only classes {labels.tolist()}; "
            f"unknown: {unknown.tolist()[:5]}"
        )
    from sklearn import metrics as skm  # imported on use: the binary path does not need it

    values = {
        "accuracy": skm.accuracy_score(y, pred),
        "macro_f1": skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0),
    }
    names = ["accuracy", "macro_f1"]
    onehot_true = (y[:, None] == labels[None, :]).astype(np.float64)
    onehot_pred = (pred[:, None] == labels[None, :]).astype(np.float64)
    # Cells: rows of the same true and predicted class; the log loss enters by its cell means.
    code = onehot_true.argmax(axis=1) * len(labels) + onehot_pred.argmax(axis=1)
    _, first, cell_of_row = np.unique(code, return_index=True, return_inverse=True)
    cell_of_row = cell_of_row.reshape(-1)
    sizes = np.bincount(cell_of_row).astype(np.float64)
    cell_true, cell_pred = onehot_true[first], onehot_pred[first]
    correct, both = np.sum(cell_true * cell_pred, axis=1), cell_true * cell_pred
    within = [0.0, 0.0]
    ll_mean = np.zeros(len(sizes))
    if score is not None:
        values["log_loss"] = skm.log_loss(y, score, labels=labels)
        names.append("log_loss")
        row_ll = -np.log(np.clip(np.sum(score * onehot_true, axis=1), _EPS, 1 - _EPS))
        ll_mean = np.bincount(cell_of_row, weights=row_ll, minlength=len(sizes)) / sizes
        within.append(float(np.sum((row_ll - ll_mean[cell_of_row]) ** 2)))

    def kernel(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        f1 = _ratio(2 * (w @ both), w @ cell_true + w @ cell_pred).mean(axis=1)
        cols = [_ratio(w @ correct, total, np.nan), f1]
        if score is not None:
            cols.append(_ratio(w @ ll_mean, total, np.nan))
        return np.column_stack(cols)

    return MetricWindow(
        len(y),
        tuple(names),
        {k: float(v) for k, v in values.items()},
        kernel,
        sizes,
        None,
        np.array(within),
        cell_of_row,
    )


def _regression(y_true: Any, y_pred: Any, func: str) -> MetricWindow:
    if y_pred is None:
        raise InvalidParameter(f"{func} needs y_pred for task='regression'")
    y, p = as_float_array(y_true, "y_true", func), as_float_array(y_pred, "y_pred", func)
    if len(p) != len(y):
        raise InvalidParameter(f"'y_pred' of {func} must have one value per row of y_true")
    from sklearn import metrics as skm  # imported on use: the binary path does not need it

    values = {
        "rmse": skm.root_mean_squared_error(y, p),
        "mae": skm.mean_absolute_error(y, p),
        "mape": skm.mean_absolute_percentage_error(y, p),
        "r2": skm.r2_score(y, p) if len(y) > 1 else np.nan,
    }
    err, n = y - p, len(y)
    centred = y - y.mean()
    ape = np.abs(err) / np.maximum(np.abs(y), _EPS)
    # Cells: rank groups of the error (the rows sorted by error once); each sum enters by its
    # cell means, and what varies inside a cell by a normal term (``within``, per metric).
    order = np.argsort(err, kind="stable")
    starts = score_groups(err[order], MAX_GROUPS)
    cell_of_row = np.empty(n, dtype=np.int64)
    cell_of_row[order] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    sizes = np.bincount(cell_of_row, minlength=len(starts)).astype(np.float64)
    rows = np.column_stack([err**2, np.abs(err), ape, centred, centred**2])
    means = np.stack([np.bincount(cell_of_row, weights=v, minlength=len(sizes)) for v in rows.T], axis=1)
    means /= np.maximum(sizes, 1.0)[:, None]

    def kernel(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        sums = w @ means
        sse = sums[:, 0]
        sst = sums[:, 4] - _ratio(sums[:, 3] ** 2, total)
        const_r2 = np.where(sse == 0, 1.0, 0.0)
        r2 = np.where(sst > 0, 1 - _ratio(sse, sst), const_r2)
        mse, mae, mape = (_ratio(sums[:, j], total, np.nan) for j in range(3))
        return np.column_stack([np.sqrt(mse), mae, mape, r2])

    # Each metric's influence per row (its change per unit of weight, times n): the spread
    # inside the cells, by the delta method.
    rmse, r2 = float(values["rmse"]), float(values["r2"])
    sst = float(np.sum(centred**2))
    influence = [
        err**2 / (2 * rmse) if rmse > 0 else np.zeros(n),
        np.abs(err),
        ape,
        -(err**2 - (1 - r2) * centred**2) * n / sst if sst > 0 and np.isfinite(r2) else np.zeros(n),
    ]
    within = []
    for v in influence:
        cell_mean = np.bincount(cell_of_row, weights=v, minlength=len(sizes)) / np.maximum(sizes, 1.0)
        within.append(float(np.sum((v - cell_mean[cell_of_row]) ** 2)))
    return MetricWindow(
        n,
        ("rmse", "mae", "mape", "r2"),
        {k: float(v) for k, v in values.items()},
        kernel,
        sizes,
        None,
        np.array(within),
        cell_of_row,
    )


def metric_window(
    y_true: Any, y_pred: Any, y_score: Any, task: Task, threshold: float, classes: Any
) -> MetricWindow:
    """The window of ``task`` (errors are worded for :func:`checks.performance.performance`)."""
    func = "performance"
    if task == "binary":
        return _binary(y_true, y_pred, y_score, threshold, func)
    if task == "multiclass":
        return _multiclass(y_true, y_pred, y_score, classes, func)
    return _regression(y_true, y_pred, func)
