"""Performance metrics of one window and a kernel that recomputes them for many resamples.

Each builder validates a window's arrays, computes scikit-learn's values, and returns a
:class:`MetricWindow` whose ``kernel`` maps a ``(b, n)`` matrix of resample counts (weights) to
the ``(b, n_metrics)`` matrix of the same metrics: every metric here is a weighted sum or
ratio of sums over rows, and ROC AUC / average precision come from per-score-group weighted
counts (:func:`weighted_ranking_metrics`), so a batch of bootstrap resamples costs a few matrix
operations (:mod:`checks.performance` uses it for its intervals and tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn import metrics as skm

from checks._params import InvalidParameter, as_float_array

Task = Literal["binary", "multiclass", "regression"]
_EPS = float(np.finfo(np.float64).eps)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, empty), where=den > 0)


def tie_groups(sorted_score: np.ndarray) -> np.ndarray | None:
    """Start positions of the runs of equal values in ascending ``sorted_score``; ``None`` if no ties."""
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    return None if len(starts) == len(sorted_score) else starts


def weighted_ranking_metrics(
    w: np.ndarray, y_sorted: np.ndarray, starts: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and average precision for each row of weights ``w``, ties handled as scikit-learn.

    Rows (columns of ``w``) must be in ascending score order; ``starts`` are the tie groups
    (:func:`tie_groups`). AUC is the Mann-Whitney statistic (a tie counts one half); average
    precision is ``sum_k (R_k - R_{k-1}) P_k`` over the distinct scores in descending order.
    Returns NaN for a row without both classes.

    >>> y = np.array([0.0, 1.0, 0.0, 1.0])
    >>> auc, ap = weighted_ranking_metrics(np.ones((1, 4)), y, None)
    >>> float(auc[0]), round(float(ap[0]), 4)
    (0.75, 0.8333)
    """
    pos = w * y_sorted
    neg = w - pos
    if starts is not None:
        pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    pairs = np.einsum("ij,ij->i", pos, np.cumsum(neg, axis=1)) - 0.5 * np.einsum("ij,ij->i", pos, neg)
    auc = _ratio(pairs, n_pos * n_neg, np.nan)
    pos_desc = pos[:, ::-1]
    # Where pos_desc > 0 the cumulative total is > 0; elsewhere the product is 0 anyway.
    cum_total = np.maximum(np.cumsum(pos_desc + neg[:, ::-1], axis=1), np.finfo(np.float64).tiny)
    precision_sum = np.einsum("ij,ij->i", pos_desc, np.cumsum(pos_desc, axis=1) / cum_total)
    return auc, _ratio(precision_sum, n_pos, np.nan)


@dataclass(frozen=True)
class MetricWindow:
    """A validated window: size, metric names, scikit-learn values, and the kernel giving the same
    metrics for each row of a ``(b, n)`` matrix of resample counts."""

    n: int
    names: tuple[str, ...]
    values: dict[str, float]
    kernel: Callable[[np.ndarray], np.ndarray]


def _binary(y_true: Any, y_pred: Any, y_score: Any, threshold: float, func: str) -> MetricWindow:
    y = as_float_array(y_true, "y_true", func)
    if not np.isin(y, (0.0, 1.0)).all():
        raise InvalidParameter(f"'y_true' of {func} must hold 0/1 labels for task='binary'")
    s = None if y_score is None else as_float_array(y_score, "y_score", func)
    if s is not None and (len(s) != len(y) or s.min(initial=0.0) < 0 or s.max(initial=0.0) > 1):
        raise InvalidParameter(f"'y_score' of {func} must be probabilities in [0, 1], one per row of y_true")
    if y_pred is None and s is None:
        raise InvalidParameter(f"{func} needs y_pred or y_score for task='binary'")
    p = (s >= threshold).astype(np.float64) if y_pred is None else as_float_array(y_pred, "y_pred", func)
    if len(p) != len(y) or not np.isin(p, (0.0, 1.0)).all():
        raise InvalidParameter(f"'y_pred' of {func} must hold 0/1 predictions, one per row of y_true")
    yi, pi = y.astype(int), p.astype(int)
    precision, recall, f1, _ = skm.precision_recall_fscore_support(
        yi, pi, average="binary", labels=[0, 1], zero_division=0
    )
    values = {"f1": f1, "precision": precision, "recall": recall, "accuracy": skm.accuracy_score(yi, pi)}
    names = ["f1", "precision", "recall", "accuracy"]
    starts: np.ndarray | None = None
    row_ll = row_brier = np.zeros(0)
    if s is not None:
        two_classes = 0 < y.sum() < len(y)
        values["roc_auc"] = skm.roc_auc_score(yi, s) if two_classes else np.nan
        values["pr_auc"] = skm.average_precision_score(yi, s) if two_classes else np.nan
        values["log_loss"] = skm.log_loss(yi, s, labels=[0, 1])
        values["brier"] = skm.brier_score_loss(yi, s, pos_label=1)
        names = ["roc_auc", "pr_auc", *names, "log_loss", "brier"]
        # Resampling is order-free: sort the window by score once so the ranking kernel needs no sort.
        order = np.argsort(s, kind="stable")
        y, p, s = y[order], p[order], s[order]
        starts = tie_groups(s)
        sc = np.clip(s, _EPS, 1 - _EPS)
        row_ll = -(y * np.log(sc) + (1 - y) * np.log1p(-sc))
        row_brier = (s - y) ** 2
    tp_rows, n = y * p, len(y)

    def kernel(w: np.ndarray) -> np.ndarray:
        tp, pp, pos = w @ tp_rows, w @ p, w @ y
        out = {
            "f1": _ratio(2 * tp, pp + pos),
            "precision": _ratio(tp, pp),
            "recall": _ratio(tp, pos),
            "accuracy": w @ (y == p) / n,
        }
        if s is not None:
            out["roc_auc"], out["pr_auc"] = weighted_ranking_metrics(w, y, starts)
            out["log_loss"], out["brier"] = w @ row_ll / n, w @ row_brier / n
        return np.column_stack([out[k] for k in names])

    return MetricWindow(n, tuple(names), {k: float(v) for k, v in values.items()}, kernel)


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
    values = {
        "accuracy": skm.accuracy_score(y, pred),
        "macro_f1": skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0),
    }
    names = ["accuracy", "macro_f1"]
    onehot_true = (y[:, None] == labels[None, :]).astype(np.float64)
    onehot_pred = (pred[:, None] == labels[None, :]).astype(np.float64)
    correct, both, n = (y == pred).astype(np.float64), onehot_true * onehot_pred, len(y)
    row_ll = np.zeros(0)
    if score is not None:
        values["log_loss"] = skm.log_loss(y, score, labels=labels)
        names.append("log_loss")
        row_ll = -np.log(np.clip(np.sum(score * onehot_true, axis=1), _EPS, 1 - _EPS))

    def kernel(w: np.ndarray) -> np.ndarray:
        f1 = _ratio(2 * (w @ both), w @ onehot_true + w @ onehot_pred).mean(axis=1)
        cols = [w @ correct / n, f1]
        if score is not None:
            cols.append(w @ row_ll / n)
        return np.column_stack(cols)

    return MetricWindow(n, tuple(names), {k: float(v) for k, v in values.items()}, kernel)


def _regression(y_true: Any, y_pred: Any, func: str) -> MetricWindow:
    if y_pred is None:
        raise InvalidParameter(f"{func} needs y_pred for task='regression'")
    y, p = as_float_array(y_true, "y_true", func), as_float_array(y_pred, "y_pred", func)
    if len(p) != len(y):
        raise InvalidParameter(f"'y_pred' of {func} must have one value per row of y_true")
    values = {
        "rmse": skm.root_mean_squared_error(y, p),
        "mae": skm.mean_absolute_error(y, p),
        "mape": skm.mean_absolute_percentage_error(y, p),
        "r2": skm.r2_score(y, p) if len(y) > 1 else np.nan,
    }
    err, n = y - p, len(y)
    centred = y - y.mean()
    ape = np.abs(err) / np.maximum(np.abs(y), _EPS)

    def kernel(w: np.ndarray) -> np.ndarray:
        sse = w @ err**2
        sst = w @ centred**2 - (w @ centred) ** 2 / n
        const_r2 = np.where(sse == 0, 1.0, 0.0)
        r2 = np.where(sst > 0, 1 - _ratio(sse, sst), const_r2)
        return np.column_stack([np.sqrt(sse / n), w @ np.abs(err) / n, w @ ape / n, r2])

    return MetricWindow(n, ("rmse", "mae", "mape", "r2"), {k: float(v) for k, v in values.items()}, kernel)


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
