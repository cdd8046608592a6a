"""Multiclass performance per class and overall, with bootstrap intervals, against a reference.

The class probabilities ``y_score`` are an ``(n_samples, n_classes)`` matrix whose columns
follow ``classes``; the predicted class is the arg-max column unless ``y_pred`` is given.
Metrics of the model as a whole:

* ``roc_auc``: one-vs-rest ROC AUC, the unweighted mean over classes of each class's AUC
  against the rest (scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")``);
* ``accuracy``, ``macro_f1``, ``weighted_f1`` (F1 per class weighted by its support);
* ``log_loss`` and ``brier``, the multiclass Brier score ``mean_i sum_k (p_ik - [y_i = k])^2``
  (scikit-learn's ``brier_score_loss`` on a probability matrix; 0 to 2).

and of each class ``c``: ``roc_auc[c]``, ``precision[c]`` and ``recall[c]``.

The decision rule is the binary one (:mod:`checks.performance`): a metric is degraded when
its change in the bad direction is material (:func:`checks.performance.materiality`, per
class with the base metric's ``min_delta``) and the one-sided bootstrap test is significant
after Holm's adjustment across *every* compared metric, overall and per class. Every metric
is a weighted sum or ratio of sums over rows, and each class's AUC the Mann-Whitney statistic
of weighted counts, so all metrics share one batch of resamples.

>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 3, 600)
>>> p = np.full((600, 3), 0.2) + 0.4 * np.eye(3)[y]
>>> r = multiclass_performance(y, p, classes=[0, 1, 2], n_resamples=300)
>>> r.status, r.metrics["roc_auc"], r.metrics["accuracy"]
('ok', 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import sparse

from checks._params import InvalidParameter, check_interval, check_n_resamples, plain
from checks.bootstrap import bootstrap_p_value, percentile_interval
from checks.details import ClassMetric, ClassRow, Confusion, MetricRow
from checks.metric_kernels import (
    MAX_DRAWN,
    MAX_GROUPS,
    MetricWindow,
    metric_distribution,
    score_groups,
    tie_groups,
)
from checks.performance import METRICS, MetricSpec, check_resolution, holm_adjusted, materiality, metric_row
from checks.result import CheckResult, Finding

_EPS = float(np.finfo(np.float64).eps)
OVERALL = ("roc_auc", "accuracy", "macro_f1", "weighted_f1", "log_loss", "brier")
PER_CLASS = ("roc_auc", "precision", "recall")
#: Rows whose probabilities sum further than this from 1 are refused (rounding is tolerated).
SUM_TOLERANCE = 0.01
SPECS: dict[str, MetricSpec] = {**METRICS, "weighted_f1": replace(METRICS["macro_f1"], name="weighted_f1")}


def class_metric(name: str, label: Any) -> str:
    """The name of a per-class metric, e.g. ``recall[b]``."""
    return f"{name}[{label}]"


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def probability_matrix(y_score: Any, classes: Sequence[Any], func: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(labels, y_score)``: ``classes`` as an array and the probability matrix.

    Raises :class:`InvalidParameter` naming the argument when ``classes`` has fewer than two
    distinct labels, or the matrix has the wrong number of columns, non-finite values, values
    outside [0, 1] or rows not summing to 1 (within ``SUM_TOLERANCE``).
    """
    labels = np.asarray(classes)
    if labels.ndim != 1 or labels.size < 2 or np.unique(labels).size != labels.size:
        raise InvalidParameter(
            f"'classes' of {func} must list at least two distinct classes; got {plain(classes)!r}"
        )
    score = np.asarray(y_score, dtype=np.float64)
    if score.ndim != 2 or score.shape[1] != len(labels):
        raise InvalidParameter(
            f"'y_score' of {func} must be an (n_samples, n_classes = {len(labels)}) probability matrix with "
            f"columns in the order of classes {labels.tolist()}; got shape {score.shape}"
        )
    bad = ~np.isfinite(score) | (score < 0) | (score > 1)
    if bad.any():
        raise InvalidParameter(
            f"'y_score' of {func} must hold probabilities in [0, 1] (no NaN); got {plain(score[bad][:3])}"
        )
    off = np.flatnonzero(np.abs(score.sum(axis=1) - 1) > SUM_TOLERANCE + 1e-9)
    if off.size:
        raise InvalidParameter(
            f"'y_score' of {func}: row {int(off[0])} sums to {score[off[0]].sum():.4g}, not 1 "
            f"({off.size} rows off by more than {SUM_TOLERANCE})"
        )
    return labels, score


def multiclass_inputs(
    y_true: Any, y_score: Any, classes: Sequence[Any], func: str, y_pred: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(labels, y_true, y_score, y_pred)`` (:func:`probability_matrix`; ``y_pred``
    defaults to the arg-max class); every label must be one of ``classes``."""
    labels, score = probability_matrix(y_score, classes, func)
    y = np.asarray(y_true)
    if len(score) != len(y):
        raise InvalidParameter(f"'y_score' of {func} must have one row per label: {len(score)} != {len(y)}")
    pred = labels[np.argmax(score, axis=1)] if y_pred is None else np.asarray(y_pred)
    unknown = np.setdiff1d(np.concatenate([y, pred]), labels)
    if len(pred) != len(y) or unknown.size:
        raise InvalidParameter(
            f"y_true/y_pred of {func} must have equal length and use only classes {labels.tolist()}; "
            f"unknown: {unknown.tolist()[:5]}"
        )
    return labels, y, score, pred


def multiclass_window(
    y_true: Any, y_score: Any, *, classes: Sequence[Any], y_pred: Any = None
) -> MetricWindow:
    """The metrics of one window and the kernel recomputing them for rows of resample counts.

    The kernel reads *cells*: rows of the same true class, predicted class and score group of
    every class (:func:`class_rankings`), so ``b`` resamples cost ``b x cells`` operations whatever
    the number of rows (:func:`checks.metric_kernels.metric_distribution`). With at most
    :data:`~checks.metric_kernels.MAX_GROUPS` distinct probabilities per class the cells are
    exact: a row of cell counts gives scikit-learn's metrics on the rows weighted by them.

    >>> w = multiclass_window(["a", "b", "b"], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], classes=["a", "b"])
    >>> w.values["accuracy"], w.values["recall[b]"]
    (0.6666666666666666, 0.5)
    """
    labels, y, score, pred = multiclass_inputs(y_true, y_score, classes, "multiclass_performance", y_pred)
    k, n = len(labels), len(y)
    onehot = (y[:, None] == labels[None, :]).astype(np.float64)
    onehot_pred = (pred[:, None] == labels[None, :]).astype(np.float64)
    row_ll = -np.log(np.clip(np.sum(score * onehot, axis=1), _EPS, 1 - _EPS))
    row_brier = np.sum((score - onehot) ** 2, axis=1)
    names = [*OVERALL, *(class_metric(m, c) for m in PER_CLASS for c in labels.tolist())]
    orders, ties, groups, n_groups = class_rankings(score)
    yi, pi = onehot.argmax(axis=1), onehot_pred.argmax(axis=1)
    cell_of_row, first = cells_of_keys(np.column_stack([yi, pi, groups]), [k, k, *n_groups])
    sizes = np.bincount(cell_of_row).astype(np.float64)
    means, within = {}, {}
    for name, v in (("log_loss", row_ll), ("brier", row_brier)):
        means[name] = np.bincount(cell_of_row, weights=v, minlength=len(sizes)) / sizes
        within[name] = float(np.sum((v - means[name][cell_of_row]) ** 2))
    cell_ranks = ClassRanks(groups[first], yi[first], n_groups)
    kernel = _kernel(onehot[first], onehot_pred[first], means["log_loss"], means["brier"], cell_ranks)
    # The exact values: one weight per row, each class's tie groups of the probabilities.
    exact_ranks = ClassRanks.of_ties(orders, ties, yi)
    exact = _kernel(onehot, onehot_pred, row_ll, row_brier, exact_ranks)(np.ones((1, n)))[0]
    grouped = kernel(sizes[None, :])[0]
    shift = np.where(np.isfinite(exact) & np.isfinite(grouped), exact - grouped, 0.0)
    within_row = np.array([within.get(name, 0.0) for name in names])
    values = dict(zip(names, exact.tolist(), strict=True))
    return MetricWindow(n, tuple(names), values, kernel, sizes, shift, within_row, cell_of_row)


def class_rankings(
    score: np.ndarray,
) -> tuple[list[np.ndarray], list[np.ndarray | None], np.ndarray, list[int]]:
    """Each class's ranking of the rows: its order, its tie groups, and the rows' score groups.

    A class with at most :data:`~checks.metric_kernels.MAX_GROUPS` distinct probabilities has
    one score group per value; else rank groups (ties never split), ``MAX_GROUPS ** (1 / (k - 1))``
    of them (at least 8), so that the cells of ``k`` classes stay about as many as a binary
    window's. Pairs inside a group count as ties in the cells' AUC; the window's exact value
    shifts the distribution back (:class:`~checks.metric_kernels.MetricWindow`); with 16 groups
    the ties take about 1/256 of the AUC's variance, far below the Monte Carlo error.
    """
    n, k = score.shape
    coarse = max(8, int(MAX_GROUPS ** (1 / max(k - 1, 1))))
    orders, ties, counts = [], [], []
    groups = np.empty((n, k), dtype=np.int64)
    for j in range(k):
        order = np.argsort(score[:, j], kind="stable")
        col = score[order, j]
        tie = tie_groups(col)
        distinct = n if tie is None else len(tie)
        starts = score_groups(col, MAX_GROUPS if distinct <= MAX_GROUPS else coarse)
        groups[order, j] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
        orders.append(order)
        ties.append(tie)
        counts.append(len(starts))
    return orders, ties, groups, counts


def cells_of_keys(key: np.ndarray, sizes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The cell of each row (rows with equal ``key`` rows share one) and the first row of each cell.

    ``sizes`` bounds each key column (values in ``0 .. size - 1``).
    """
    if float(np.prod(np.asarray(sizes, dtype=np.float64))) < 2.0**62:
        code = np.ravel_multi_index(tuple(key.T), tuple(sizes))
    else:  # too many combinations for one integer: number the distinct key rows
        code = np.unique(key, axis=0, return_inverse=True)[1].reshape(-1)
    _, first, cell_of_row = np.unique(code, return_index=True, return_inverse=True)
    return cell_of_row.reshape(-1), first


class ClassRanks:
    """Each unit's rank group in every class's ranking, as the columns its weight is summed into.

    ``groups[u, j]`` is unit ``u``'s group in the ascending order of class ``j``'s probability
    (``n_groups[j]`` of them, ties never split) and ``labels[u]`` its true class. Column
    ``offset[j] + 2 g + [labels[u] == j]`` of :attr:`columns` collects the negatives and
    positives of class ``j`` in group ``g``, so one sparse product sums a batch of weights into
    every class's ranked positives and negatives: ``b x units x classes`` operations in one
    pass, instead of a gather, two products and two group sums per class.
    """

    def __init__(self, groups: np.ndarray, labels: np.ndarray, n_groups: Sequence[int]) -> None:
        m, k = groups.shape
        self.offsets = np.r_[0, np.cumsum(2 * np.asarray(n_groups, dtype=np.int64))]
        column = self.offsets[:-1][None, :] + 2 * groups + (labels[:, None] == np.arange(k)[None, :])
        self.columns = sparse.csc_matrix(
            (np.ones(m * k), (np.repeat(np.arange(m), k), column.reshape(-1))),
            shape=(m, int(self.offsets[-1])),
        )

    @classmethod
    def of_ties(
        cls, orders: Sequence[np.ndarray], ties: Sequence[np.ndarray | None], labels: np.ndarray
    ) -> ClassRanks:
        """Rank groups of the exact probabilities, one per distinct value (orders and ties of
        :func:`class_rankings`)."""
        n = len(labels)
        groups = np.empty((n, len(orders)), dtype=np.int64)
        n_groups = []
        for j, (order, starts) in enumerate(zip(orders, ties, strict=True)):
            rank = np.arange(n)
            if starts is not None:
                rank = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
            groups[order, j] = rank
            n_groups.append(n if starts is None else len(starts))
        return cls(groups, labels, n_groups)

    def aucs(self, w: np.ndarray) -> np.ndarray:
        """The ``(b, k)`` one-vs-rest ROC AUC of each class (Mann-Whitney, ties count one half).

        Classes are summed together while their columns times ``b`` stay within
        :data:`~checks.metric_kernels.MAX_DRAWN` (the exact ranking of a large window has a
        group per row: one class at a time).
        """
        out = []
        k, first = len(self.offsets) - 1, 0
        while first < k:
            last = first + 1
            while last < k and len(w) * (self.offsets[last + 1] - self.offsets[first]) <= MAX_DRAWN:
                last += 1
            base = self.offsets[first]
            summed = np.asarray(w @ self.columns[:, base : self.offsets[last]])
            for j in range(first, last):
                start, stop = self.offsets[j] - base, self.offsets[j + 1] - base
                out.append(_mann_whitney(summed[:, start + 1 : stop : 2], summed[:, start:stop:2]))
            first = last
        return np.column_stack(out)


def _mann_whitney(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC per row of ``(b, groups)`` positive and negative weights in ascending score groups."""
    pairs = np.einsum("ij,ij->i", pos, np.cumsum(neg, axis=1)) - 0.5 * np.einsum("ij,ij->i", pos, neg)
    return _ratio(pairs, pos.sum(axis=1) * neg.sum(axis=1))


def _kernel(
    onehot: np.ndarray,
    onehot_pred: np.ndarray,
    ll: np.ndarray,
    brier: np.ndarray,
    ranks: ClassRanks,
) -> Callable[[np.ndarray], np.ndarray]:
    """The ``(b, n_metrics)`` metrics of ``(b, m)`` counts of ``m`` units (cells or rows).

    ``onehot``/``onehot_pred``: each unit's true and predicted class; ``ll``/``brier``: its mean
    log-loss and Brier terms; ``ranks``: its rank group in each class's ranking. Every sum is
    one matrix product; each class's AUC the Mann-Whitney statistic of the units' weights.
    """
    k = onehot.shape[1]
    both, correct = onehot * onehot_pred, np.sum(onehot * onehot_pred, axis=1)
    per_unit = np.column_stack([both, onehot, onehot_pred, correct, ll, brier])

    def kernel(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        sums = w @ per_unit
        tp, pos, pp = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k]
        f1 = np.nan_to_num(_ratio(2 * tp, pos + pp))
        auc = ranks.aucs(w)
        defined = np.isfinite(auc).sum(axis=1)
        macro_auc = _ratio(np.nansum(auc, axis=1), defined.astype(np.float64))
        overall = [
            macro_auc,
            _ratio(sums[:, 3 * k], total),
            f1.mean(axis=1),
            _ratio(np.sum(f1 * pos, axis=1), total),
            _ratio(sums[:, 3 * k + 1], total),
            _ratio(sums[:, 3 * k + 2], total),
        ]
        precision = np.nan_to_num(_ratio(tp, pp))
        return np.column_stack([*overall, auc, precision, _ratio(tp, pos)])

    return kernel


def confusion(y_true: Any, y_pred: Any, classes: Sequence[Any]) -> list[list[int]]:
    """The confusion matrix (rows: true class, columns: predicted), as scikit-learn's.

    Rows whose true or predicted class is not in ``classes`` are left out.

    >>> confusion(["a", "b", "b", "c"], ["a", "a", "b", "b"], ["a", "b", "c"])
    [[1, 0, 0], [1, 1, 0], [0, 1, 0]]
    """
    labels = np.asarray(classes)
    k, sorter = len(labels), np.argsort(labels)

    def position(values: Any) -> tuple[np.ndarray, np.ndarray]:
        v = np.asarray(values)
        at = sorter[np.minimum(np.searchsorted(labels, v, sorter=sorter), k - 1)]
        return at, labels[at] == v

    true, known_true = position(y_true)
    pred, known_pred = position(y_pred)
    known = known_true & known_pred
    return np.bincount(true[known] * k + pred[known], minlength=k * k).reshape(k, k).tolist()


def spec_of(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of an overall or per-class metric name."""
    return SPECS[name.split("[", 1)[0]]


def assess_rows(
    names: Sequence[str],
    values: Mapping[str, float],
    dist: np.ndarray,
    reference: Mapping[str, float],
    ref_dist: Mapping[str, np.ndarray],
    *,
    materiality_options: Mapping[str, Any],
    confidence: float,
    alpha: float,
    n_resamples: int,
    estimated: bool,
    func: str,
) -> list[dict[str, Any]]:
    """One row per metric (as :func:`checks.performance.metric_row`), compared and Holm-adjusted.

    ``dist`` holds the metrics' resampled values (columns in ``names`` order); ``ref_dist``
    the reference's, per name, when the reference is resampled too (else the reference value
    is taken as known). ``degraded`` is material (:func:`checks.performance.materiality`, called
    with ``materiality_options``, e.g. ``min_delta``) and Holm-adjusted ``p < alpha``.
    """
    rows = []
    for j, name in enumerate(names):
        spec, value = spec_of(name), values[name]
        low, high = percentile_interval(dist[:, j], confidence=confidence)
        row = metric_row(spec, value, low, high, estimated=estimated) | {"name": name}
        if "[" in name:
            row["class"] = name.split("[", 1)[1][:-1]
        ref = reference.get(name)
        if ref is not None and np.isfinite(ref) and np.isfinite(value):
            higher = spec.direction == "higher_is_better"
            ref_d = ref_dist.get(name)
            if ref_d is not None:
                row["reference_ci_low"], row["reference_ci_high"] = percentile_interval(
                    ref_d, confidence=confidence
                )
            diff = dist[:, j] - (ref if ref_d is None else ref_d)
            row.update(materiality(spec, value, ref, **materiality_options), reference=ref)
            row["p_value"] = bootstrap_p_value(diff, alternative="less" if higher else "greater")
        rows.append(row)
    compared = [row for row in rows if row["p_value"] is not None]
    check_resolution(len(compared), n_resamples, alpha, func)
    for row, adjusted in zip(compared, holm_adjusted([row["p_value"] for row in compared]), strict=True):
        row["adjusted_p_value"] = float(adjusted)
        row["degraded"] = bool(row.pop("material") and adjusted < alpha)
    return rows


def row_finding(row: Mapping[str, Any], n: int, *, severity: str, note: str = "") -> Finding:
    """The finding of a degraded row; subject ``model`` or ``class:<label>``."""
    base = row["name"].split("[", 1)[0]
    verb = "fell" if row["direction"] == "higher_is_better" else "rose"
    subject = f"class:{row['class']}" if "class" in row else "model"
    kept = ("reference", "ci_low", "ci_high", "delta", "min_delta", "reference_ci_low", "reference_ci_high")
    extra = {k: v for k, v in row.items() if k in ("min_relative", "relative_rise", "material_by")}
    return Finding(
        subject=subject,
        method=base,
        statistic=row["value"],
        threshold=row["threshold"],
        p_value=row["adjusted_p_value"],
        effect_size=row["delta"],
        severity=severity,  # type: ignore[arg-type]
        message=(
            f"{note}{row['name']} {verb} from {row['reference']:.4g} to {row['value']:.4g} "
            f"(interval {row['ci_low']:.4g}-{row['ci_high']:.4g}, n={n})"
        ),
        evidence={
            **{k: row[k] for k in kept},
            **extra,
            "n": n,
            "unadjusted_p_value": row["p_value"],
            "estimated": row["estimated"],
        },
    )


def per_class_table(
    rows: Sequence[Mapping[str, Any]], labels: Sequence[Any], support: Mapping[str, Any]
) -> list[ClassRow]:
    """One row per class: support and share (current, reference) and each per-class metric's row."""
    by_name = {row["name"]: row for row in rows}
    table = []
    for c in labels:
        entry: dict[str, Any] = {"class": str(c), **{k: v.get(str(c)) for k, v in support.items()}}
        for m in PER_CLASS:
            row = by_name[class_metric(m, c)]
            entry[m] = ClassMetric.of(
                {k: row[k] for k in ("value", "ci_low", "ci_high", "reference", "degraded")}
            )
        table.append(ClassRow.of(entry))
    return table


def _shares(y: np.ndarray, labels: np.ndarray) -> tuple[dict[str, int], dict[str, float]]:
    counts = {str(c): int(np.sum(y == c)) for c in labels}
    return counts, {c: v / max(len(y), 1) for c, v in counts.items()}


def multiclass_performance(
    y_true: Any,
    y_score: Any,
    *,
    classes: Sequence[Any],
    y_pred: Any = None,
    reference: tuple[Any, ...] | Mapping[str, float] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_delta: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    materiality_options: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Performance of a multiclass model overall and per class, and degradation versus a reference.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes, each one of ``classes``.
    y_score : array-like of shape (n_samples, n_classes)
        Class probabilities, columns in the order of ``classes``, rows summing to 1.
    classes : sequence
        The model's classes.
    y_pred : array-like of shape (n_samples,), optional
        Predicted classes; default the arg-max column.
    reference : (y_true, y_score) or (y_true, y_score, y_pred), mapping or None, default=None
        The reference window's labelled arrays (resampled independently), or its metric
        values (e.g. ``multiclass_window(...).values``).
    n_resamples, confidence, seed, min_delta, alpha
        As :func:`checks.performance.performance` (``min_delta`` by base metric name applies
        to the per-class metrics too).
    materiality_options : mapping, optional
        Further keyword options of :func:`checks.performance.materiality`, the rule shared
        with binary models.

    Returns
    -------
    CheckResult
        ``check="performance"``; ``alert`` with one finding per degraded metric (subject
        ``"model"`` or ``"class:<label>"``); ``skipped`` on an empty window. Details: the
        metric rows, ``per_class`` table and ``confusion`` matrices (current and reference).
    """
    func = "multiclass_performance"
    check_n_resamples(n_resamples, func)
    check_interval("confidence", confidence, func, low=0.0, high=1.0, closed="neither")
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    overrides = dict(min_delta or {})
    unknown = sorted(set(overrides) - set(SPECS))
    if unknown:
        raise InvalidParameter(
            f"'min_delta' of {func} names unknown metrics {unknown}; known: {sorted(SPECS)}"
        )
    if len(y_true) == 0:
        return CheckResult.skipped("performance", "no labelled rows in the current window", n=0)
    labels, y, score, pred = multiclass_inputs(y_true, y_score, classes, func, y_pred)
    cur = multiclass_window(y, score, classes=labels, y_pred=pred)
    seq_cur, seq_ref = np.random.SeedSequence(seed).spawn(2)
    dist = metric_distribution(cur, n_resamples, seq_cur)
    ref_values: Mapping[str, float] = {}
    ref_dist: dict[str, np.ndarray] = {}
    metrics: dict[str, Any] = {"n": cur.n}
    counts, shares = _shares(y, labels)
    support: dict[str, Any] = {"support": counts, "share": shares}
    details: dict[str, Any] = {"task": "multiclass", "classes": [str(c) for c in labels]}
    confusions = {"current": confusion(y, pred, labels)}
    if isinstance(reference, Mapping):
        ref_values = {k: float(v) for k, v in reference.items()}
    elif reference is not None and len(reference[0]):
        _, y_ref, s_ref, p_ref = multiclass_inputs(reference[0], reference[1], labels, func, *reference[2:3])
        ref = multiclass_window(y_ref, s_ref, classes=labels, y_pred=p_ref)
        ref_values = ref.values
        rd = metric_distribution(ref, n_resamples, seq_ref)
        ref_dist = {name: rd[:, j] for j, name in enumerate(ref.names)}
        metrics["n_reference"] = ref.n
        support["reference_support"], support["reference_share"] = _shares(y_ref, labels)
        confusions["reference"] = confusion(y_ref, p_ref, labels)
    rows = assess_rows(
        cur.names,
        cur.values,
        dist,
        ref_values,
        ref_dist,
        materiality_options={"min_delta": overrides, **(materiality_options or {})},
        confidence=confidence,
        alpha=alpha,
        n_resamples=n_resamples,
        estimated=False,
        func=func,
    )
    for row in rows:
        name = row["name"]
        metrics.update(
            {name: row["value"], f"{name}_ci_low": row["ci_low"], f"{name}_ci_high": row["ci_high"]}
        )
        if row["reference"] is not None:
            metrics[f"reference_{name}"] = row["reference"]
    findings = [row_finding(row, cur.n, severity="alert") for row in rows if row["degraded"]]
    details.update(
        metrics=[MetricRow.of(r) for r in rows],
        per_class=per_class_table(rows, labels, support),
        confusion=Confusion.of(confusions),
        n_resamples=n_resamples,
        confidence=confidence,
        alpha=alpha,
        p_value_adjustment="holm",
    )
    return CheckResult(
        check="performance",
        status="alert" if findings else "ok",
        metrics=metrics,
        findings=tuple(findings),
        details=details,
    )
