"""The checks on two DataFrames, one convention: ``check(reference, current, *, columns, options)``.

Each function is named after the check it produces (``CheckResult.check``, the names of
:data:`checks.vocabulary.CHECKS`), takes the reference window first and the current window
second, and everything else by keyword: the columns by their role (``label``, ``prediction``,
``score``, ``numeric``, ``categorical``, ``by``) and the options of the check, with the same
names and defaults as the array-level function that computes it (named in each docstring;
the daemon calls those on the arrays it reads). Rows without a label are left out of the
label checks. ``reference=None`` runs a check without comparing where the check allows it.

A binary model's ``label`` holds 0/1 and its ``score`` P(y=1); a multiclass model's ``score``
is the list of its probability columns, in the order of ``classes``.

>>> rng = np.random.default_rng(0)
>>> def window(n, noise):
...     x = rng.normal(size=n)
...     score = 1 / (1 + np.exp(-(x + rng.normal(0, noise, n))))
...     return pd.DataFrame({"x": x, "label": (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(int),
...                          "score": score})
>>> reference, current = window(3000, 0.1), window(3000, 2.0)
>>> performance(reference, current, label="label", score="score", n_resamples=200).status
'alert'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from checks._params import (
    InvalidParameter,
    as_float_array,
    binary_labels,
    check_columns,
    check_one_of,
    probabilities,
)
from checks.calibration import calibration_check
from checks.drift.dataset import dataset_drift
from checks.estimation import estimate_performance, expected_metrics
from checks.latency import latency_check
from checks.multiclass_calibration import multiclass_calibration_check
from checks.multiclass_estimation import expected_multiclass_metrics, multiclass_estimate
from checks.multiclass_performance import multiclass_performance
from checks.performance import DEFAULT_MIN_RELATIVE, LabelledWindow
from checks.performance import performance as performance_of_arrays
from checks.prior_shift import class_prior_shift
from checks.quality import data_quality
from checks.result import CheckResult
from checks.segments import (
    DEFAULT_ALERT_FDR,
    DEFAULT_ALERT_MIN_ROWS,
    DEFAULT_ALERT_MIN_SHARE,
    DEFAULT_MIN_RATIO,
    segment_check,
)
from checks.threshold import threshold_check

__all__ = [
    "calibration",
    "class_prior",
    "data_quality",
    "drift",
    "estimated_performance",
    "latency",
    "performance",
    "segments",
    "threshold",
]

TASKS = ("binary", "multiclass", "regression")

Columns = str | Sequence[str]


def _frame(frame: Any, which: str, columns: Sequence[str], func: str) -> pd.DataFrame:
    check_columns(frame, columns, which, func)
    return frame


def _names(*columns: Columns | None) -> list[str]:
    """The column names of roles given as a name, a list of names (multiclass scores) or None."""
    out: list[str] = []
    for c in columns:
        if isinstance(c, str):
            out.append(c)
        elif c is not None:
            out.extend(c)
    return out


def _labelled(frame: pd.DataFrame, which: str, label: str, columns: list[str], func: str) -> pd.DataFrame:
    """The rows of ``frame`` that have a label, every named column checked to exist."""
    frame = _frame(frame, which, [label, *columns], func)
    return frame[frame[label].notna()]


def _target(frame: pd.DataFrame, label: str, task: str, which: str, func: str) -> np.ndarray:
    """The label column as an array: 0/1 floats of a binary model (checked), numbers, or classes."""
    values = frame[label]
    if task == "multiclass":
        return values.to_numpy()
    name = f"{which}[{label!r}]"
    return binary_labels(values, name, func) if task == "binary" else as_float_array(values, name, func)


def _score(frame: pd.DataFrame, score: Columns | None, which: str, func: str) -> np.ndarray | None:
    """The score column(s) as an array; a binary model's P(y=1) checked to lie in [0, 1]."""
    if score is None:
        return None
    if isinstance(score, str):
        return probabilities(frame[score], f"{which}[{score!r}]", func)
    return frame[list(score)].to_numpy(dtype=float)


def _multiclass_score(score: Columns | None, classes: Sequence[Any] | None, func: str) -> list[str]:
    if classes is None or score is None or isinstance(score, str) or len(score) != len(classes):
        raise InvalidParameter(
            f"{func} of a multiclass model needs 'classes' and 'score' as one probability column per class"
        )
    return list(score)


def drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    prediction: str | None = None,
    label: str | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    effect_size_thresholds: Mapping[str, float] | None = None,
    importance: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    fdr: float = 0.05,
    n_bins: int | None = None,
) -> CheckResult:
    """The ``drift`` check: every named column of ``current`` against ``reference``.

    Parameters and result as :func:`checks.drift.dataset_drift` (``prediction`` and ``label``
    are column names, tested beside the ``numeric`` and ``categorical`` features).
    """
    return dataset_drift(
        reference,
        current,
        numeric=numeric,
        categorical=categorical,
        prediction=prediction,
        label=label,
        methods=methods,
        thresholds=thresholds,
        effect_size_thresholds=effect_size_thresholds,
        importance=importance,
        drift_share=drift_share,
        fdr=fdr,
        n_bins=n_bins,
    )


def performance(
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    label: str,
    prediction: str | None = None,
    score: Columns | None = None,
    task: str = "binary",
    classes: Sequence[Any] | None = None,
    threshold: float = 0.5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_delta: Mapping[str, float] | None = None,
    min_relative: float = DEFAULT_MIN_RELATIVE,
    alpha: float = 0.05,
) -> CheckResult:
    """The ``performance`` check: metrics of ``current`` with intervals, degradation versus ``reference``.

    Parameters
    ----------
    reference : DataFrame or None
        The reference window (its labelled rows are resampled too); ``None``: no comparison.
    current : DataFrame
        The current window.
    label : str
        Label column.
    prediction : str, optional
        Predicted label (value) column; binary and multiclass derive it from ``score``.
    score : str or list of str, optional
        P(y=1) column of a binary model; one probability column per class of a multiclass one.
    task : {"binary", "multiclass", "regression"}, default="binary"
    classes : sequence, optional
        Class labels of a multiclass model, in the order of ``score``'s columns.
    threshold, n_resamples, confidence, seed, min_delta, min_relative, alpha
        As :func:`checks.performance.performance` (binary, regression) and
        :func:`checks.multiclass_performance.multiclass_performance` (multiclass, with per-class
        metrics), which compute the check.

    Returns
    -------
    CheckResult
        ``check="performance"``.
    """
    func = "performance"
    check_one_of("task", task, TASKS, func)
    if task == "multiclass":
        score = _multiclass_score(score, classes, func)
    columns = _names(prediction, score)
    cur = _labelled(current, "current", label, columns, func)
    ref = None if reference is None else _labelled(reference, "reference", label, columns, func)

    def window(frame: pd.DataFrame, which: str) -> LabelledWindow:
        pred = None if prediction is None else frame[prediction].to_numpy()
        if pred is not None and task != "multiclass":
            pred = pred.astype(float)
        return LabelledWindow(
            _target(frame, label, task, which, func), pred, _score(frame, score, which, func)
        )

    now, before = window(cur, "current"), None if ref is None else window(ref, "reference")
    options = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed, "alpha": alpha}
    if task == "multiclass":
        return multiclass_performance(
            now.y_true,
            now.y_score,
            classes=classes or (),
            y_pred=now.y_pred,
            reference=None if before is None else (before.y_true, before.y_score, before.y_pred),
            min_delta=min_delta,
            materiality_options={"min_relative": min_relative},
            **options,
        )
    return performance_of_arrays(
        now.y_true,
        now.y_pred,
        now.y_score,
        task=task,  # type: ignore[arg-type]
        reference=before,
        threshold=threshold,
        min_delta=min_delta,
        min_relative=min_relative,
        **options,
    )


def calibration(
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    label: str,
    score: Columns,
    classes: Sequence[Any] | None = None,
    n_bins: int = 10,
    strategy: str = "uniform",
    ece_threshold: float = 0.1,
    min_delta: float = 0.02,
    alpha: float = 0.05,
    n_resamples: int = 500,
    min_samples: int = 100,
    seed: int = 0,
) -> CheckResult:
    """The ``calibration`` check: ECE of ``current`` and its rise over ``reference``.

    Parameters
    ----------
    reference : DataFrame or None
    current : DataFrame
    label : str
        Label column (0/1 for a binary model).
    score : str or list of str
        P(y=1) column of a binary model; one probability column per class of a multiclass model
        (then ``classes`` is required).
    classes : sequence, optional
    n_bins, strategy, ece_threshold, min_delta, alpha, n_resamples, min_samples, seed
        As :func:`checks.calibration.calibration_check` (binary) and
        :func:`checks.multiclass_calibration.multiclass_calibration_check` (multiclass).

    Returns
    -------
    CheckResult
        ``check="calibration"``.
    """
    func = "calibration"
    task = "binary" if isinstance(score, str) else "multiclass"
    if task == "multiclass":
        score = _multiclass_score(score, classes, func)
    cur = _labelled(current, "current", label, _names(score), func)
    ref = None if reference is None else _labelled(reference, "reference", label, _names(score), func)
    y, p = _target(cur, label, task, "current", func), _score(cur, score, "current", func)
    before = None
    if ref is not None:
        before = (_target(ref, label, task, "reference", func), _score(ref, score, "reference", func))
    options = {
        "reference": before,
        "n_bins": n_bins,
        "strategy": strategy,
        "ece_threshold": ece_threshold,
        "min_delta": min_delta,
        "alpha": alpha,
        "n_resamples": n_resamples,
        "min_samples": min_samples,
        "seed": seed,
    }
    if task == "multiclass":
        return multiclass_calibration_check(y, p, classes=classes or (), **options)
    return calibration_check(y, p, **options)


def segments(
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    by: Sequence[str],
    label: str,
    prediction: str | None = None,
    score: str | None = None,
    task: str = "binary",
    metric: str | None = None,
    threshold: float = 0.5,
    numeric_bins: int = 4,
    top_k: int = 20,
    min_support: int = 50,
    fdr: float = 0.05,
    min_delta: float | None = None,
    alert_min_rows: int = DEFAULT_ALERT_MIN_ROWS,
    alert_min_share: float = DEFAULT_ALERT_MIN_SHARE,
    min_ratio: float = DEFAULT_MIN_RATIO,
    alert_fdr: float = DEFAULT_ALERT_FDR,
    confidence: float = 0.95,
    n_resamples: int = 500,
    seed: int = 0,
) -> CheckResult:
    """The ``segments`` check: segments of the ``by`` columns whose error got (or is) worse.

    Parameters
    ----------
    reference : DataFrame or None
        Without it a segment is compared with the rest of the current window only.
    current : DataFrame
    by : list of str
        Segment columns.
    label : str
        Label column.
    prediction : str, optional
        Predicted label (value) column.
    score : str, optional
        P(y=1) column of a binary model, used when ``prediction`` is not given
        (``score >= threshold``).
    task, metric, threshold, numeric_bins, top_k, min_support, fdr, min_delta, alert_min_rows,
    alert_min_share, min_ratio, alert_fdr, confidence, n_resamples, seed
        As :func:`checks.segments.segment_check`, which computes the check.

    Returns
    -------
    CheckResult
        ``check="segments"``.
    """
    func = "segments"
    columns = [*by, *_names(prediction, score)]
    cur = _labelled(current, "current", label, columns, func)
    ref = None if reference is None else _labelled(reference, "reference", label, columns, func)
    return segment_check(
        cur,
        ref,
        segments=list(by),
        y_true=label,
        y_pred=prediction,
        y_score=score,
        task=task,
        metric=metric,
        threshold=threshold,
        numeric_bins=numeric_bins,
        top_k=top_k,
        min_support=min_support,
        fdr=fdr,
        min_delta=min_delta,
        alert_min_rows=alert_min_rows,
        alert_min_share=alert_min_share,
        min_ratio=min_ratio,
        alert_fdr=alert_fdr,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )


def threshold(
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    label: str,
    score: str,
    current_threshold: float,
    objective: str = "f1",
    fp_cost: float = 1.0,
    fn_cost: float = 1.0,
    target: float | None = None,
    n_resamples: int = 500,
    alpha: float = 0.05,
    min_gain: float = 0.01,
    min_samples: int = 200,
    seed: int = 0,
) -> CheckResult:
    """The ``threshold`` check: is ``current_threshold`` still the best for the objective on ``current``?

    Parameters
    ----------
    reference : DataFrame or None
        Ignored: the best threshold is a property of the current window. Present for the one
        convention, as scikit-learn's ``fit(X, y=None)``.
    current : DataFrame
        A window with mature labels.
    label, score : str
        The 0/1 label column and the P(y=1) column.
    current_threshold, objective, fp_cost, fn_cost, target, n_resamples, alpha, min_gain,
    min_samples, seed
        As :func:`checks.threshold.threshold_check`, which computes the check.

    Returns
    -------
    CheckResult
        ``check="threshold"``.
    """
    func = "threshold"
    cur = _labelled(current, "current", label, [score], func)
    return threshold_check(
        _target(cur, label, "binary", "current", func),
        _score(cur, score, "current", func),
        current_threshold=current_threshold,
        objective=objective,
        fp_cost=fp_cost,
        fn_cost=fn_cost,
        target=target,
        n_resamples=n_resamples,
        alpha=alpha,
        min_gain=min_gain,
        min_samples=min_samples,
        seed=seed,
    )


def estimated_performance(
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    score: Columns,
    classes: Sequence[Any] | None = None,
    threshold: float = 0.5,
    min_delta: Mapping[str, float] | None = None,
    min_relative: float = DEFAULT_MIN_RELATIVE,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> CheckResult:
    """The ``estimated_performance`` check: performance of ``current`` estimated from its scores (CBPE).

    Compared like for like with the same estimate on the reference's scores, as the daemon does.

    Parameters
    ----------
    reference : DataFrame or None
    current : DataFrame
    score : str or list of str
        P(y=1) column of a binary model; one probability column per class of a multiclass model
        (then ``classes`` is required).
    classes : sequence, optional
    threshold, min_delta, min_relative, n_resamples, confidence, alpha, seed
        As :func:`checks.estimation.estimate_performance` (binary) and
        :func:`checks.multiclass_estimation.multiclass_estimate` (multiclass; no ``threshold``).

    Returns
    -------
    CheckResult
        ``check="estimated_performance"``.
    """
    func = "estimated_performance"
    task = "binary" if isinstance(score, str) else "multiclass"
    if task == "multiclass":
        score = _multiclass_score(score, classes, func)
    cur = _frame(current, "current", _names(score), func).dropna(subset=_names(score))
    ref = None if reference is None else _frame(reference, "reference", _names(score), func)
    ref_scores = None if ref is None else _score(ref.dropna(subset=_names(score)), score, "reference", func)
    options = {"n_resamples": n_resamples, "confidence": confidence, "alpha": alpha, "seed": seed}
    if task == "multiclass":
        return multiclass_estimate(
            _score(cur, score, "current", func),
            classes=classes or (),
            reference=None
            if ref_scores is None
            else expected_multiclass_metrics(ref_scores, classes=classes or ()),
            min_delta=min_delta,
            materiality_options={"min_relative": min_relative},
            **options,
        )
    return estimate_performance(
        _score(cur, score, "current", func),
        threshold=threshold,
        reference=None if ref_scores is None else expected_metrics(ref_scores, threshold=threshold),
        min_delta=min_delta,
        min_relative=min_relative,
        **options,
    )


def class_prior(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    label: str,
    score: Sequence[str],
    classes: Sequence[Any],
    order: str | None = None,
    alpha: float = 0.01,
    min_odds_ratio: float = 1.25,
    max_conditional_shift: float = 0.1,
    holdout_fraction: float = 0.3,
) -> CheckResult:
    """The ``class_prior`` check of a multiclass model: did the label mix move at fixed class scores?

    Parameters
    ----------
    reference, current : DataFrame
    label : str
    score : list of str
        One probability column per class, in the order of ``classes``.
    classes : sequence
    order : str, optional
        Timestamp column of ``current`` for the out-of-time validation (default: row order).
    alpha, min_odds_ratio, max_conditional_shift, holdout_fraction
        As :func:`checks.prior_shift.class_prior_shift`, which computes the check.

    Returns
    -------
    CheckResult
        ``check="class_prior"``.
    """
    func = "class_prior"
    columns = _multiclass_score(score, classes, func)
    cur = _labelled(current, "current", label, [*columns, *_names(order)], func)
    ref = _labelled(reference, "reference", label, columns, func)
    return class_prior_shift(
        _target(cur, label, "multiclass", "current", func),
        _score(cur, columns, "current", func),
        classes=classes,
        reference=(
            _target(ref, label, "multiclass", "reference", func),
            _score(ref, columns, "reference", func),
        ),
        order=None if order is None else cur[order].to_numpy(),
        alpha=alpha,
        min_odds_ratio=min_odds_ratio,
        max_conditional_shift=max_conditional_shift,
        holdout_fraction=holdout_fraction,
    )


def latency(
    reference: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    window_seconds: float,
    latency_ms: str = "latency_ms",
    error: str | None = None,
    reference_window_seconds: float | None = None,
    slo_p50_ms: float | None = None,
    slo_p95_ms: float | None = None,
    slo_p99_ms: float | None = None,
    max_error_rate: float | None = None,
    min_throughput_per_min: float | None = None,
    min_relative_increase: float = 0.2,
    alpha: float = 0.01,
) -> CheckResult:
    """The ``latency`` check: percentiles, errors and throughput of ``current`` vs SLOs and ``reference``.

    Parameters
    ----------
    reference : DataFrame or None
        ``None`` checks the SLOs only.
    current : DataFrame
        One row per request.
    window_seconds : float
        Length of the current window.
    latency_ms : str, default="latency_ms"
        Latency column (NaN: no latency recorded).
    error : str, optional
        Column flagging errored requests.
    reference_window_seconds, slo_p50_ms, slo_p95_ms, slo_p99_ms, max_error_rate,
    min_throughput_per_min, min_relative_increase, alpha
        As :func:`checks.latency.latency_check`, which computes the check.

    Returns
    -------
    CheckResult
        ``check="latency"``.
    """
    func = "latency"
    columns = _names(latency_ms, error)
    cur = _frame(current, "current", columns, func)
    ref = None if reference is None else _frame(reference, "reference", columns, func)
    return latency_check(
        None if ref is None else ref[latency_ms].to_numpy(dtype=float),
        cur[latency_ms].to_numpy(dtype=float),
        current_errors=None if error is None else cur[error].to_numpy(dtype=bool),
        reference_errors=None if error is None or ref is None else ref[error].to_numpy(dtype=bool),
        window_seconds=window_seconds,
        reference_window_seconds=reference_window_seconds,
        slo_p50_ms=slo_p50_ms,
        slo_p95_ms=slo_p95_ms,
        slo_p99_ms=slo_p99_ms,
        max_error_rate=max_error_rate,
        min_throughput_per_min=min_throughput_per_min,
        min_relative_increase=min_relative_increase,
        alpha=alpha,
    )
