"""Model performance on labelled rows, with bootstrap intervals, compared with a reference.

Metric values are scikit-learn's. Their intervals come from a vectorised percentile bootstrap
(:mod:`checks.bootstrap`, weighted form): every metric here is a weighted sum or ratio of sums
over rows, and ROC AUC / average precision are computed from per-score-group weighted counts
(the Mann-Whitney form of the AUC), so one batch of resamples costs a few matrix operations
and all metrics share the same resamples. No row cap is needed: 100,000 rows x 1,000
resamples, all eight binary metrics, take about 5 s on one core (twice that with a labelled
reference window of the same size).

Decision rule, per metric and **directional** (AUC falling, RMSE rising; never "any change"):
a metric is *degraded* when both

* **material**: the change in the bad direction is at least ``min_delta`` (absolute, in the
  metric's units; the finding's ``threshold`` is ``reference - min_delta`` for
  higher-is-better metrics and ``reference + min_delta`` for lower-is-better ones), and
* **significant**: the one-sided bootstrap test of "current is worse than reference" has
  a Holm-adjusted ``p < alpha`` (adjusted across the metrics compared, which controls the
  chance that a window without change alerts on *any* metric). With a labelled reference
  window the two windows are resampled independently and the test is on the distribution
  of ``current - reference``; with precomputed reference values the reference is taken as
  known and the test is on the current distribution against it. ``p`` is
  ``(1 + #resamples not worse) / (B + 1)`` (:func:`checks.bootstrap.bootstrap_p_value`), i.e.
  the one-sided ``1 - alpha`` percentile bound of the difference excludes 0.

Default ``min_delta`` (absolute unless marked relative, then a share of the reference value):

================  ================  ========================
metric            direction         default ``min_delta``
================  ================  ========================
roc_auc           higher is better  0.02
pr_auc            higher is better  0.03
f1, macro_f1      higher is better  0.03
precision         higher is better  0.03
recall            higher is better  0.03
accuracy          higher is better  0.02
r2                higher is better  0.05
log_loss          lower is better   10% of reference
brier             lower is better   10% of reference
rmse, mae, mape   lower is better   10% of reference
================  ================  ========================

>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, 500)
>>> s = 0.3 * y + rng.uniform(0, 0.7, 500)
>>> r = performance(y, y_score=s, task="binary", reference={"roc_auc": 0.99}, n_resamples=200)
>>> r.status, r.findings[0].method
('alert', 'roc_auc')

References
----------
[^1]: Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a receiver
      operating characteristic (ROC) curve. *Radiology* 143(1), 29-36.
[^2]: Efron, B. & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 13 and 16.
[^3]: Davis, J. & Goadrich, M. (2006). The relationship between precision-recall and ROC curves.
      *ICML*. (average precision as the step-wise area under the PR curve, as scikit-learn.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn import metrics as skm

from checks._params import InvalidParameter, as_float_array, check_interval, check_one_of
from checks.bootstrap import bootstrap_distribution, bootstrap_p_value, percentile_interval
from checks.result import CheckResult, Finding

Task = Literal["binary", "multiclass", "regression"]
Direction = Literal["higher_is_better", "lower_is_better"]
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class MetricSpec:
    """A performance metric: its direction and default materiality."""

    name: str
    direction: Direction
    min_delta: float
    relative: bool = False


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("roc_auc", "higher_is_better", 0.02),
        MetricSpec("pr_auc", "higher_is_better", 0.03),
        MetricSpec("f1", "higher_is_better", 0.03),
        MetricSpec("precision", "higher_is_better", 0.03),
        MetricSpec("recall", "higher_is_better", 0.03),
        MetricSpec("accuracy", "higher_is_better", 0.02),
        MetricSpec("macro_f1", "higher_is_better", 0.03),
        MetricSpec("r2", "higher_is_better", 0.05),
        MetricSpec("log_loss", "lower_is_better", 0.10, relative=True),
        MetricSpec("brier", "lower_is_better", 0.10, relative=True),
        MetricSpec("rmse", "lower_is_better", 0.10, relative=True),
        MetricSpec("mae", "lower_is_better", 0.10, relative=True),
        MetricSpec("mape", "lower_is_better", 0.10, relative=True),
    )
}


@dataclass(frozen=True)
class LabelledWindow:
    """The labelled arrays of one window (``y_pred``/``y_score`` as in :func:`performance`)."""

    y_true: Any
    y_pred: Any = None
    y_score: Any = None


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
class _Window:
    """A validated window: size, metric names, scikit-learn values, and the kernel giving the same
    metrics for each row of a ``(b, n)`` matrix of resample counts."""

    n: int
    names: tuple[str, ...]
    values: dict[str, float]
    kernel: Callable[[np.ndarray], np.ndarray]


def _binary(y_true: Any, y_pred: Any, y_score: Any, threshold: float, func: str) -> _Window:
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

    return _Window(n, tuple(names), {k: float(v) for k, v in values.items()}, kernel)


def _multiclass(y_true: Any, y_pred: Any, y_score: Any, classes: Sequence[Any] | None, func: str) -> _Window:
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

    return _Window(n, tuple(names), {k: float(v) for k, v in values.items()}, kernel)


def _regression(y_true: Any, y_pred: Any, func: str) -> _Window:
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

    return _Window(n, ("rmse", "mae", "mape", "r2"), {k: float(v) for k, v in values.items()}, kernel)


def _window(y_true: Any, y_pred: Any, y_score: Any, task: Task, threshold: float, classes: Any) -> _Window:
    func = "performance"
    if task == "binary":
        return _binary(y_true, y_pred, y_score, threshold, func)
    if task == "multiclass":
        return _multiclass(y_true, y_pred, y_score, classes, func)
    return _regression(y_true, y_pred, func)


def performance_metrics(
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    *,
    task: Task,
    threshold: float = 0.5,
    classes: Sequence[Any] | None = None,
) -> dict[str, float]:
    """The metric values of one window (scikit-learn), e.g. to store as a precomputed reference.

    >>> performance_metrics([0, 1, 1, 0], y_score=[0.1, 0.8, 0.4, 0.3], task="binary")["roc_auc"]
    1.0
    """
    check_one_of("task", task, {"binary", "multiclass", "regression"}, "performance_metrics")
    return dict(_window(y_true, y_pred, y_score, task, threshold, classes).values)


def _min_delta(spec: MetricSpec, reference: float, overrides: Mapping[str, float]) -> float:
    if spec.name in overrides:
        return float(overrides[spec.name])
    return spec.min_delta * abs(reference) if spec.relative else spec.min_delta


def _distribution(window: _Window, n_resamples: int, seed: np.random.SeedSequence) -> np.ndarray:
    return bootstrap_distribution(
        lambda counts, _rows: window.kernel(counts.astype(np.float64)),
        np.arange(window.n),
        n_resamples=n_resamples,
        seed=seed,
        weighted=True,
    ).reshape(n_resamples, len(window.names))


def _assess(
    spec: MetricSpec,
    value: float,
    ref_value: float,
    cur_d: np.ndarray,
    ref_d: np.ndarray | None,
    overrides: Mapping[str, float],
) -> dict[str, Any]:
    """Materiality and one-sided significance of the change of one metric versus its reference."""
    higher = spec.direction == "higher_is_better"
    delta, md = value - ref_value, _min_delta(spec, ref_value, overrides)
    worse_by = -delta if higher else delta
    diff = cur_d - (ref_value if ref_d is None else ref_d)
    p = bootstrap_p_value(diff, alternative="less" if higher else "greater")
    return {
        "reference": ref_value,
        "delta": delta,
        "min_delta": md,
        "threshold": ref_value - md if higher else ref_value + md,
        "p_value": p,
        "material": bool(worse_by >= md and worse_by > 0),
    }


def holm_adjusted(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: reject where ``adjusted < alpha`` controls the FWER.

    Valid under any dependence between the tests (the metrics of one window share their rows).

    >>> holm_adjusted([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def metric_row(spec: MetricSpec, value: float, low: float, high: float, *, estimated: bool) -> dict[str, Any]:
    """One row of ``details["metrics"]``, before any comparison with a reference."""
    return {
        "name": spec.name,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "reference": None,
        "reference_ci_low": None,
        "reference_ci_high": None,
        "direction": spec.direction,
        "degraded": False,
        "estimated": estimated,
        "delta": None,
        "min_delta": None,
        "threshold": None,
        "p_value": None,
        "adjusted_p_value": None,
    }


def _finding(row: Mapping[str, Any], n: int, n_reference: int | None, confidence: float) -> Finding:
    name, verb = row["name"], "fell" if row["direction"] == "higher_is_better" else "rose"
    evidence = {
        "reference": row["reference"],
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "n": n,
        "delta": row["delta"],
        "min_delta": row["min_delta"],
        "reference_ci_low": row["reference_ci_low"],
        "reference_ci_high": row["reference_ci_high"],
        "test": "one-sided percentile bootstrap",
        "unadjusted_p_value": row["p_value"],
    }
    if n_reference is not None:
        evidence["n_reference"] = n_reference
    return Finding(
        subject="model",
        method=name,
        statistic=row["value"],
        threshold=row["threshold"],
        p_value=row["adjusted_p_value"],
        effect_size=row["delta"],
        severity="alert",
        message=(
            f"{name} {verb} from {row['reference']:.4g} to {row['value']:.4g} "
            f"({confidence:.0%} CI {row['ci_low']:.4g}-{row['ci_high']:.4g}, n={n})"
        ),
        evidence=evidence,
    )


def performance(
    y_true: Any,
    y_pred: Any = None,
    y_score: Any = None,
    *,
    task: Task,
    reference: LabelledWindow | tuple[Any, ...] | Mapping[str, float] | None = None,
    threshold: float = 0.5,
    classes: Sequence[Any] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_delta: Mapping[str, float] | None = None,
    alpha: float = 0.05,
) -> CheckResult:
    """Performance of the current window with bootstrap intervals, and degradation versus a reference.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels: 0/1 for ``"binary"``, class labels for ``"multiclass"``, numbers for ``"regression"``.
    y_pred : array-like of shape (n_samples,), optional
        Predicted labels/values. Binary and multiclass derive it from ``y_score`` when omitted
        (``y_score >= threshold``; the arg-max column).
    y_score : array-like of shape (n_samples,) or (n_samples, n_classes), optional
        P(y=1) for ``"binary"``; a probability matrix with columns ordered as ``classes`` for
        ``"multiclass"``. The ranking and probabilistic metrics need it.
    task : {"binary", "multiclass", "regression"}
    reference : LabelledWindow, tuple (y_true, y_pred, y_score), mapping or None, default=None
        The reference window's labelled arrays, or its precomputed metric values
        (:func:`performance_metrics`). ``None``: report the metrics without comparing.
    threshold : float, default=0.5
        Decision threshold on ``y_score`` (binary).
    classes : sequence, optional
        Class labels in the column order of ``y_score`` (multiclass); default the sorted
        labels seen in ``y_true`` and ``y_pred``.
    n_resamples : int, default=1000
    confidence : float, default=0.95
        Level of the reported two-sided percentile intervals.
    seed : int, default=0
        The current and reference windows use ``SeedSequence(seed).spawn(2)``.
    min_delta : mapping of str to float, optional
        Absolute materiality per metric name, overriding the defaults in the module docstring.
    alpha : float, default=0.05
        Family-wise error rate across the compared metrics: each one-sided bootstrap p-value is
        Holm-adjusted (:func:`holm_adjusted`) before it is compared with ``alpha``, so a window
        with no real change alerts on any metric with probability at most ``alpha``.

    Returns
    -------
    CheckResult
        ``check="performance"``; ``alert`` with one finding (subject ``"model"``) per degraded
        metric, else ``ok``; ``skipped`` on an empty window. ``details["metrics"]`` lists one
        dict per metric (see the module docstring for the rule).
    """
    func = "performance"
    check_one_of("task", task, {"binary", "multiclass", "regression"}, func)
    check_interval("threshold", threshold, func, low=0.0, high=1.0)
    check_interval("n_resamples", n_resamples, func, low=1)
    check_interval("confidence", confidence, func, low=0.0, high=1.0, closed="neither")
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    overrides = dict(min_delta or {})
    unknown = sorted(set(overrides) - set(METRICS))
    if unknown:
        raise InvalidParameter(
            f"'min_delta' of {func} names unknown metrics {unknown}; known: {sorted(METRICS)}"
        )
    if len(y_true) == 0:
        return CheckResult.skipped(func, "no labelled rows in the current window", n=0)
    rw: LabelledWindow | None = None
    if reference is not None and not isinstance(reference, Mapping):
        rw = reference if isinstance(reference, LabelledWindow) else LabelledWindow(*reference)
        if len(rw.y_true) == 0:
            rw = None
    if task == "multiclass" and classes is None:
        # Both windows must score macro F1 over the same classes.
        seen = [y_true, y_pred] + ([rw.y_true, rw.y_pred] if rw is not None else [])
        classes = np.unique(np.concatenate([np.asarray(a) for a in seen if a is not None]))
    cur = _window(y_true, y_pred, y_score, task, threshold, classes)
    seq_cur, seq_ref = np.random.SeedSequence(seed).spawn(2)
    cur_dist = _distribution(cur, n_resamples, seq_cur)
    ref = None if rw is None else _window(rw.y_true, rw.y_pred, rw.y_score, task, threshold, classes)
    ref_values: Mapping[str, float] = {}
    if isinstance(reference, Mapping):
        ref_values = {k: float(v) for k, v in reference.items()}
    elif ref is not None:
        ref_values = ref.values
    ref_dist = _distribution(ref, n_resamples, seq_ref) if ref is not None else None

    metrics: dict[str, Any] = {"n": cur.n}
    if ref is not None:
        metrics["n_reference"] = ref.n
    rows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for j, name in enumerate(cur.names):
        spec, value = METRICS[name], cur.values[name]
        low, high = percentile_interval(cur_dist[:, j], confidence=confidence)
        row = metric_row(spec, value, low, high, estimated=False)
        metrics.update({name: value, f"{name}_ci_low": low, f"{name}_ci_high": high})
        ref_value = ref_values.get(name)
        if ref_value is not None and np.isfinite(ref_value) and np.isfinite(value):
            metrics[f"reference_{name}"] = ref_value
            ref_d = None
            if ref is not None and ref_dist is not None and name in ref.names:
                ref_d = ref_dist[:, ref.names.index(name)]
                row["reference_ci_low"], row["reference_ci_high"] = percentile_interval(
                    ref_d, confidence=confidence
                )
            row.update(_assess(spec, value, ref_value, cur_dist[:, j], ref_d, overrides))
        rows.append(row)
    compared = [row for row in rows if row["p_value"] is not None]
    for row, adjusted in zip(compared, holm_adjusted([row["p_value"] for row in compared]), strict=True):
        row["adjusted_p_value"] = float(adjusted)
        row["degraded"] = bool(row.pop("material") and adjusted < alpha)
        if row["degraded"]:
            findings.append(_finding(row, cur.n, None if ref is None else ref.n, confidence))
    details = {
        "task": task,
        "metrics": rows,
        "n_resamples": n_resamples,
        "confidence": confidence,
        "alpha": alpha,
        "p_value_adjustment": "holm",
    }
    return CheckResult(
        check=func,
        status="alert" if findings else "ok",
        metrics=metrics,
        findings=tuple(findings),
        details=details,
    )
