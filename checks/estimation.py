"""Estimated performance before labels arrive: confidence-based performance estimation (CBPE).

A calibrated binary model's score is P(y=1 | x). Treating each score as such, the expected
confusion matrix of a window at a decision threshold is a sum of scores: rows predicted
positive contribute ``s`` expected true positives and ``1 - s`` false positives, rows
predicted negative ``s`` false negatives and ``1 - s`` true negatives. The point estimates
are the metrics of that expected matrix (accuracy is then exactly the expected accuracy;
precision, recall and F1 are ratios of expectations, as in NannyML's CBPE). The expected ROC
AUC is the ratio of the expected number of concordant (positive, negative) pairs to the
expected number of such pairs, over distinct rows::

    E[concordant] = sum_{i != j} s_i (1 - s_j) ([s_i > s_j] + [s_i = s_j] / 2)
    E[pairs]      = sum_i s_i * sum_j (1 - s_j) - sum_i s_i (1 - s_i)

The interval is where the *realised* metric of the window should land if the model is still
calibrated: labels are simulated ``y ~ Bernoulli(s)`` ``n_resamples`` times (per cell of
nearly equal scores, :func:`_simulated`), each simulated window's metrics computed from its
confusion counts (AUC with ties counted one half, as scikit-learn), and the equal-tailed
percentiles taken. It is a prediction interval for the realised value, so it covers the
label-sampling noise of the window.

Limitation: everything rests on calibration. When the scores are miscalibrated the estimate
is biased and the interval does not cover the realised value (see the tests); the estimate
does not see concept drift (a change of P(y | x) at fixed x), only a shift of the inputs.
Estimated findings are therefore ``warn``, never ``alert``, and the ``performance`` check
replaces them once labels are mature.

>>> s = np.random.default_rng(0).beta(2, 5, 1000)
>>> r = estimate_performance(s, threshold=0.3, n_resamples=200)
>>> r.check, r.details["metrics"][0].estimated
('estimated_performance', True)

References
----------
.. [1] NannyML. Confidence-based Performance Estimation (CBPE).
   https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
.. [2] Hanley, J. A., McNeil, B. J. (1982). The meaning and use of the area under a receiver
   operating characteristic (ROC) curve. Radiology 143(1), 29-36.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from checks._params import InvalidParameter, as_float_array, check_interval, check_n_resamples
from checks.bootstrap import bootstrap_p_value, percentile_interval
from checks.details import MetricRow
from checks.metric_kernels import MAX_GROUPS, ranking_from_groups, score_groups, tie_groups
from checks.performance import (
    DEFAULT_MIN_RELATIVE,
    METRICS,
    check_resolution,
    holm_adjusted,
    materiality,
    metric_row,
)
from checks.result import CheckResult, Finding

ESTIMATED_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def expected_metrics(y_score: Any, *, threshold: float = 0.5) -> dict[str, float]:
    """CBPE point estimates of ROC AUC, accuracy, precision, recall and F1 from calibrated scores.

    >>> round(expected_metrics([0.9, 0.8, 0.2, 0.1])["accuracy"], 6)
    0.85
    """
    func = "expected_metrics"
    s = as_float_array(y_score, "y_score", func)
    check_interval("threshold", threshold, func, low=0.0, high=1.0)
    pred = s >= threshold
    tp, fp = float(s[pred].sum()), float((1 - s[pred]).sum())
    fn, tn = float(s[~pred].sum()), float((1 - s[~pred]).sum())
    sorted_s = np.sort(s)
    starts = tie_groups(sorted_s)
    pos, neg = sorted_s, 1 - sorted_s
    if starts is not None:
        pos, neg = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    self_pairs = float(np.sum(s * (1 - s)))
    concordant = float(pos @ (np.cumsum(neg) - neg) + 0.5 * (pos @ neg - self_pairs))
    return {
        "roc_auc": _ratio(concordant, float(s.sum() * (1 - s).sum()) - self_pairs),
        "accuracy": (tp + tn) / len(s) if len(s) else float("nan"),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _simulated(s: np.ndarray, pred: np.ndarray, n_simulations: int, seed: int) -> np.ndarray:
    """Realised metrics (columns in ESTIMATED_METRICS order) of ``n_simulations`` draws ``y ~ Bernoulli(s)``.

    Rows are sorted by score once and grouped into cells of one score group
    (:func:`checks.metric_kernels.score_groups`) and one prediction; each cell's positives are
    drawn at once, ``Binomial(rows, mean score)``, which is exact when its scores are equal
    (at most ``MAX_GROUPS`` distinct scores) and otherwise draws from scores a rank quantile
    apart. Confusion counts and the AUC (pairs inside a group count one half, as ties) follow
    from the cells, so the cost does not grow with the window.
    """
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    starts = score_groups(s_sorted, MAX_GROUPS)
    groups = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, s.size]))
    code = groups * 2 + pred[order].astype(np.int64)
    full = np.bincount(code)
    cells = np.flatnonzero(full)
    sizes = full[cells]
    mean_s = np.bincount(code, weights=s_sorted)[cells] / sizes
    predicted = (cells % 2).astype(np.float64)
    group_starts = np.flatnonzero(np.r_[True, np.diff(cells // 2) != 0])
    rng = np.random.default_rng(seed)
    k = rng.binomial(sizes, np.clip(mean_s, 0.0, 1.0), size=(n_simulations, sizes.size)).astype(np.float64)
    n = float(s.size)
    n_pos, tp, pp = k.sum(axis=1), k @ predicted, float(sizes @ predicted)
    auc, _ = ranking_from_groups(
        np.add.reduceat(k, group_starts, axis=1), np.add.reduceat(sizes - k, group_starts, axis=1)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pp > 0, tp / pp, 0.0)
        recall = np.where(n_pos > 0, tp / n_pos, 0.0)
        f1 = np.where(pp + n_pos > 0, 2 * tp / (pp + n_pos), 0.0)
    accuracy = (tp + (n - pp) - (n_pos - tp)) / n
    return np.column_stack([auc, accuracy, precision, recall, f1])


def _finding(row: dict[str, Any], n: int) -> Finding:
    name, value, ref = row["name"], row["value"], row["reference"]
    return Finding(
        subject="model",
        method=name,
        statistic=value,
        threshold=row["threshold"],
        p_value=row["adjusted_p_value"],
        effect_size=row["delta"],
        severity="warn",
        message=(
            f"estimated {name} {value:.4g} is below the reference {ref:.4g} "
            f"(interval {row['ci_low']:.4g}-{row['ci_high']:.4g}; labels not yet available)"
        ),
        evidence={
            "reference": ref,
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
            "n": n,
            "delta": row["delta"],
            "min_delta": row["min_delta"],
            "relative_rise": row["relative_rise"],
            "material_by": row["material_by"],
            "unadjusted_p_value": row["p_value"],
            "estimated": True,
            "method": "cbpe",
        },
    )


def estimate_performance(
    y_score: Any,
    *,
    threshold: float = 0.5,
    reference: Mapping[str, float] | None = None,
    min_delta: Mapping[str, float] | None = None,
    min_relative: float = DEFAULT_MIN_RELATIVE,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed: int = 0,
) -> CheckResult:
    """Estimate a binary model's ROC AUC, accuracy, precision, recall and F1 without labels (CBPE).

    Parameters
    ----------
    y_score : array-like of shape (n_samples,)
        Calibrated P(y=1) of each prediction in the window.
    threshold : float, default=0.5
        Decision threshold: a row is predicted positive when ``y_score >= threshold``.
    reference : mapping of str to float, optional
        Realised reference metrics (e.g. ``checks.performance.performance_metrics`` on the
        labelled reference window). When given, an estimated degradation becomes a ``warn``
        finding under the rule of ``checks.performance`` (material by ``min_delta`` or
        ``min_relative`` and the
        one-sided test on the simulated distribution against the reference value, Holm-adjusted
        across the metrics, at ``alpha``).
    min_delta : mapping of str to float, optional
        Overrides of the defaults in ``checks.performance.METRICS``.
    min_relative : float, default=0.25
        Relative materiality: a rise of the error ``1 - metric`` by this share of the
        reference error is material even below ``min_delta``.
    n_resamples : int, default=1000
        Number of simulated label draws.
    confidence : float, default=0.95
    alpha : float, default=0.05
    seed : int, default=0

    Returns
    -------
    CheckResult
        ``check="estimated_performance"``; ``warn`` when an estimated metric degraded, else
        ``ok``; ``skipped`` on an empty window. ``details["metrics"]`` has the rows of
        ``checks.performance`` with ``estimated: True``.
    """
    func = "estimate_performance"
    check_interval("threshold", threshold, func, low=0.0, high=1.0)
    check_n_resamples(n_resamples, func)
    check_interval("confidence", confidence, func, low=0.0, high=1.0, closed="neither")
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    check_interval("min_relative", min_relative, func, low=0.0, closed="neither")
    s = as_float_array(y_score, "y_score", func)
    if s.size and (s.min() < 0 or s.max() > 1):
        raise InvalidParameter(f"'y_score' of {func} must be probabilities in [0, 1]")
    overrides = dict(min_delta or {})
    unknown = sorted(set(overrides) - set(ESTIMATED_METRICS))
    if unknown:
        raise InvalidParameter(
            f"'min_delta' of {func} names unknown metrics {unknown}; known: {ESTIMATED_METRICS}"
        )
    if len(s) == 0:
        return CheckResult.skipped("estimated_performance", "no predictions in the current window", n=0)
    values = expected_metrics(s, threshold=threshold)
    dist = _simulated(s, s >= threshold, n_resamples, seed)
    metrics: dict[str, Any] = {"n": len(s), "threshold": threshold}
    rows = []
    for j, name in enumerate(ESTIMATED_METRICS):
        spec, value = METRICS[name], values[name]
        low, high = percentile_interval(dist[:, j], confidence=confidence)
        metrics.update({name: value, f"{name}_ci_low": low, f"{name}_ci_high": high})
        row = metric_row(spec, value, low, high, estimated=True)
        ref = None if reference is None else reference.get(name)
        if ref is not None and np.isfinite(ref) and np.isfinite(value):
            p = bootstrap_p_value(dist[:, j] - ref, alternative="less")
            rule = materiality(spec, value, ref, min_delta=overrides, min_relative=min_relative)
            row.update(reference=ref, p_value=p, **rule)
            metrics[f"reference_{name}"] = ref
        rows.append(row)
    findings = []
    compared = [row for row in rows if row["p_value"] is not None]
    check_resolution(len(compared), n_resamples, alpha, func)
    for row, adjusted in zip(compared, holm_adjusted([row["p_value"] for row in compared]), strict=True):
        row["adjusted_p_value"] = float(adjusted)
        row["degraded"] = bool(row.pop("material") and adjusted < alpha)
        if row["degraded"]:
            findings.append(_finding(row, len(s)))
    return CheckResult(
        check="estimated_performance",
        status="warn" if findings else "ok",
        metrics=metrics,
        findings=tuple(findings),
        details={
            "metrics": [MetricRow.of(r) for r in rows],
            "method": "cbpe",
            "n_resamples": n_resamples,
            "confidence": confidence,
            "alpha": alpha,
            "p_value_adjustment": "holm",
        },
    )
