"""Model performance on labelled rows, with bootstrap intervals, compared with a reference.

Metric values are scikit-learn's (binary ones computed from the score-sorted window, equal to
scikit-learn's). Their intervals come from a vectorised percentile bootstrap: every metric here
is a weighted sum or ratio of sums, and ROC AUC / average precision are computed from
per-score-group weighted counts (the Mann-Whitney form of the AUC; :mod:`checks.metric_kernels`),
so all metrics read one matrix of resample weights and share the same resamples. A binary
window is resampled as Poisson counts of its score cells, so its cost does not grow with the
number of rows: 100,000 rows x 500 resamples, with a reference of the same size, take about
0.1 s (docs/BENCHMARKS.md).

Decision rule, per metric and **directional** (AUC falling, RMSE rising; never "any change"):
a metric is *degraded* when both

* **material**: the change in the bad direction is at least ``min_delta`` (absolute, in the
  metric's units) *or*, for the bounded metrics (ROC AUC, PR AUC, F1, macro F1, precision,
  recall, accuracy), the metric's *error* ``1 - metric`` rose by at least ``min_relative``
  of its reference value (default 25%). Near the ceiling an absolute delta is the wrong
  scale: ROC AUC 0.971 -> 0.960 is only 0.011, but 39% more mis-ranked pairs (1 - AUC from
  0.029 to 0.040); far from it (0.80 -> 0.78, +10% error) the absolute bar decides. The
  error metrics (log loss, Brier, RMSE, MAE, MAPE) are judged by a relative rise already
  (their default ``min_delta`` is a share of the reference). The finding's ``threshold`` is
  the value at which the first clause is met (``reference -/+`` the smaller allowed drop)
  and ``evidence["material_by"]`` says which clause decided, and
* **significant**: the one-sided bootstrap test of "current is worse than reference" has
  a Holm-adjusted ``p < alpha`` (adjusted across the metrics compared, which controls the
  chance that a window without change alerts on *any* metric). With a labelled reference
  window the two windows are resampled independently and the test is on the distribution
  of ``current - reference``; with precomputed reference values the reference is taken as
  known and the test is on the current distribution against it. ``p`` is
  ``(1 + #resamples not worse) / (B + 1)`` (:func:`checks.bootstrap.bootstrap_p_value`), i.e.
  the one-sided ``1 - alpha`` percentile bound of the difference excludes 0.

Default ``min_delta`` (absolute unless marked relative, then a share of the reference value;
``bounded`` metrics also have the ``min_relative`` clause):

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
.. [1] Hanley, J. A., McNeil, B. J. (1982). The meaning and use of the area under a receiver
   operating characteristic (ROC) curve. Radiology 143(1), 29-36.
.. [2] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap, ch. 13 and 16.
.. [3] Davis, J., Goadrich, M. (2006). The relationship between precision-recall and ROC curves.
   ICML. (average precision as the step-wise area under the PR curve, as scikit-learn.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from checks._params import InvalidParameter, check_interval, check_n_resamples, check_one_of
from checks.bootstrap import bootstrap_p_value, percentile_interval
from checks.details import MetricRow
from checks.metric_kernels import Task, metric_distribution, metric_window
from checks.result import CheckResult, Finding

Direction = Literal["higher_is_better", "lower_is_better"]


@dataclass(frozen=True)
class MetricSpec:
    """A performance metric: its direction and default materiality."""

    name: str
    direction: Direction
    min_delta: float
    relative: bool = False
    bounded: bool = False


METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in (
        MetricSpec("roc_auc", "higher_is_better", 0.02, bounded=True),
        MetricSpec("pr_auc", "higher_is_better", 0.03, bounded=True),
        MetricSpec("f1", "higher_is_better", 0.03, bounded=True),
        MetricSpec("precision", "higher_is_better", 0.03, bounded=True),
        MetricSpec("recall", "higher_is_better", 0.03, bounded=True),
        MetricSpec("accuracy", "higher_is_better", 0.02, bounded=True),
        MetricSpec("macro_f1", "higher_is_better", 0.03, bounded=True),
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
    return dict(metric_window(y_true, y_pred, y_score, task, threshold, classes).values)


DEFAULT_MIN_RELATIVE = 0.25


def _min_delta(spec: MetricSpec, reference: float, overrides: Mapping[str, float]) -> float:
    if spec.name in overrides:
        return float(overrides[spec.name])
    return spec.min_delta * abs(reference) if spec.relative else spec.min_delta


def materiality(
    spec: MetricSpec,
    value: float,
    reference: float,
    *,
    min_delta: Mapping[str, float] | None = None,
    min_relative: float = DEFAULT_MIN_RELATIVE,
) -> dict[str, Any]:
    """Whether a metric's change from ``reference`` to ``value`` is a material degradation.

    The one materiality rule of every performance check (binary, multiclass, per class).
    Material when the change in the bad direction is at least the absolute ``min_delta``, or,
    for a bounded metric, when its error ``1 - metric`` rose by at least ``min_relative`` of the
    reference error (see the module docstring).

    Returns
    -------
    dict
        ``delta``, ``min_delta``, ``min_relative`` (None for unbounded metrics), ``relative_rise``
        (the error's relative rise; None where undefined), ``threshold`` (the value at which
        the degradation becomes material), ``material`` and ``material_by``
        (``"absolute"``, ``"relative"`` or None).

    >>> m = materiality(METRICS["roc_auc"], 0.960, 0.971)
    >>> m["material"], m["material_by"], round(m["relative_rise"], 2)
    (True, 'relative', 0.38)
    >>> materiality(METRICS["roc_auc"], 0.968, 0.971)["material"]
    False
    """
    higher = spec.direction == "higher_is_better"
    md = _min_delta(spec, reference, min_delta or {})
    delta = value - reference
    worse_by = -delta if higher else delta
    allowed, relative_rise = md, None
    if spec.bounded:
        error_before = 1.0 - reference
        if error_before > 0:
            relative_rise = worse_by / error_before
            allowed = min(md, min_relative * error_before)
    material_by = None
    if worse_by > 0 and worse_by >= md:
        material_by = "absolute"
    elif worse_by > 0 and relative_rise is not None and relative_rise >= min_relative:
        material_by = "relative"
    return {
        "delta": delta,
        "min_delta": md,
        "min_relative": min_relative if spec.bounded else None,
        "relative_rise": relative_rise,
        "threshold": reference - allowed if higher else reference + allowed,
        "material": material_by is not None,
        "material_by": material_by,
    }


def _assess(
    spec: MetricSpec,
    value: float,
    ref_value: float,
    cur_d: np.ndarray,
    ref_d: np.ndarray | None,
    overrides: Mapping[str, float],
    min_relative: float,
) -> dict[str, Any]:
    """Materiality and one-sided significance of the change of one metric versus its reference."""
    higher = spec.direction == "higher_is_better"
    diff = cur_d - (ref_value if ref_d is None else ref_d)
    p = bootstrap_p_value(diff, alternative="less" if higher else "greater")
    return {
        "reference": ref_value,
        **materiality(spec, value, ref_value, min_delta=overrides, min_relative=min_relative),
        "p_value": p,
    }


def check_resolution(n_tests: int, n_resamples: int, alpha: float, func: str) -> None:
    """Refuse a bootstrap too small for any Holm-adjusted p-value to fall below ``alpha``.

    The smallest bootstrap p-value is ``1 / (n_resamples + 1)`` and Holm multiplies it by the
    number of tests: below ``n_tests / alpha - 1`` resamples nothing could ever be significant.
    """
    if n_tests and n_tests / (n_resamples + 1) >= alpha:
        raise InvalidParameter(
            f"'n_resamples' of {func} = {n_resamples} cannot show a change significant at alpha = "
            f"{alpha} over {n_tests} metrics; use at least {math.floor(n_tests / alpha)}"
        )


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
        "min_relative": None,
        "relative_rise": None,
        "material_by": None,
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
        "min_relative": row["min_relative"],
        "relative_rise": row["relative_rise"],
        "material_by": row["material_by"],
        "reference_ci_low": row["reference_ci_low"],
        "reference_ci_high": row["reference_ci_high"],
        "test": "one-sided percentile bootstrap",
        "unadjusted_p_value": row["p_value"],
    }
    if n_reference is not None:
        evidence["n_reference"] = n_reference
    scale = ""
    if row["material_by"] == "relative":
        scale = f"; its error 1 - {name} rose {row['relative_rise']:.0%}"
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
            f"({confidence:.0%} CI {row['ci_low']:.4g}-{row['ci_high']:.4g}, n={n}{scale})"
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
    min_relative: float = DEFAULT_MIN_RELATIVE,
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
    min_relative : float, default=0.25
        Relative materiality of the bounded metrics: a rise of their error ``1 - metric`` by
        this share of the reference error is material even below ``min_delta``.
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
    check_n_resamples(n_resamples, func)
    check_interval("confidence", confidence, func, low=0.0, high=1.0, closed="neither")
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    check_interval("min_relative", min_relative, func, low=0.0, closed="neither")
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
    cur = metric_window(y_true, y_pred, y_score, task, threshold, classes)
    seq_cur, seq_ref = np.random.SeedSequence(seed).spawn(2)
    cur_dist = metric_distribution(cur, n_resamples, seq_cur)
    ref = None if rw is None else metric_window(rw.y_true, rw.y_pred, rw.y_score, task, threshold, classes)
    ref_values: Mapping[str, float] = {}
    if isinstance(reference, Mapping):
        ref_values = {k: float(v) for k, v in reference.items()}
    elif ref is not None:
        ref_values = ref.values
    ref_dist = metric_distribution(ref, n_resamples, seq_ref) if ref is not None else None

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
            row.update(_assess(spec, value, ref_value, cur_dist[:, j], ref_d, overrides, min_relative))
        rows.append(row)
    compared = [row for row in rows if row["p_value"] is not None]
    check_resolution(len(compared), n_resamples, alpha, func)
    for row, adjusted in zip(compared, holm_adjusted([row["p_value"] for row in compared]), strict=True):
        row["adjusted_p_value"] = float(adjusted)
        row["degraded"] = bool(row.pop("material") and adjusted < alpha)
        if row["degraded"]:
            findings.append(_finding(row, cur.n, None if ref is None else ref.n, confidence))
    details = {
        "task": task,
        "metrics": [MetricRow.of(r) for r in rows],
        "n_resamples": n_resamples,
        "confidence": confidence,
        "alpha": alpha,
        "min_relative": min_relative,
        "p_value_adjustment": "holm",
    }
    return CheckResult(
        check=func,
        status="alert" if findings else "ok",
        metrics=metrics,
        findings=tuple(findings),
        details=details,
    )
