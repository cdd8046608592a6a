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
labels are simulated ``y_i ~ Categorical(p_i)``, each simulated window's metrics computed
exactly, and percentiles taken. As for binary CBPE, everything rests on calibration and the
estimate does not see concept drift; findings are ``warn``. Compared *like for like* with the
reference's own estimate (the same computation on the reference's probabilities), under the
rule of :mod:`checks.performance` (:func:`checks.performance.materiality`, one-sided test on
the simulated distribution, Holm across the metrics).

>>> rng = np.random.default_rng(0)
>>> p = rng.dirichlet([1, 1, 1], 1000)
>>> r = multiclass_estimate(p, classes=["a", "b", "c"], n_resamples=200)
>>> r.check, round(r.metrics["accuracy"], 3) == round(float(p.max(axis=1).mean()), 3)
('estimated_performance', True)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from checks._params import InvalidParameter, check_interval, check_n_resamples
from checks.bootstrap import MAX_CELLS
from checks.details import MetricRow
from checks.estimation import expected_metrics
from checks.multiclass_performance import SPECS, assess_rows, probability_matrix, row_finding
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


def simulated_classes(y_score: np.ndarray, *, n_simulations: int, seed: int) -> Iterator[np.ndarray]:
    """Yield ``(b, n)`` class indices ``y_i ~ Categorical(y_score[i])``, ``n_simulations`` rows in all."""
    rng = np.random.default_rng(seed)
    n, k = y_score.shape
    cum = np.cumsum(y_score, axis=1)[:, :-1]
    batch = max(1, MAX_CELLS // max(n * k, 1))
    done = 0
    while done < n_simulations:
        b = min(batch, n_simulations - done)
        yield (rng.random((b, n, 1)) > cum[None, :, :]).sum(axis=2)
        done += b


def _realised(sim: np.ndarray, pred: np.ndarray, ranks: np.ndarray, k: int) -> np.ndarray:
    """Realised ``ESTIMATED`` metrics (columns) of each simulated label row."""
    n = sim.shape[1]
    aucs, f1s = [], []
    for c in range(k):
        y = (sim == c).astype(np.float64)
        n_pos = y.sum(axis=1)
        is_pred = (pred == c).astype(np.float64)
        tp = y @ is_pred
        f1s.append(_ratio(2 * tp, is_pred.sum() + n_pos))
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (y @ ranks[:, c] - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
        aucs.append(np.where((n_pos > 0) & (n_pos < n), auc, np.nan))
    auc = np.column_stack(aucs)
    defined = np.isfinite(auc).sum(axis=1)
    macro_auc = np.where(defined > 0, np.nansum(auc, axis=1) / np.maximum(defined, 1), np.nan)
    accuracy = (sim == pred[None, :]).mean(axis=1)
    return np.column_stack([macro_auc, accuracy, np.column_stack(f1s).mean(axis=1)])


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
    pred = np.argmax(p, axis=1)
    ranks = np.column_stack([stats.rankdata(p[:, c]) for c in range(len(labels))])
    dist = np.concatenate(
        [
            _realised(sim, pred, ranks, len(labels))
            for sim in simulated_classes(p, n_simulations=n_resamples, seed=seed)
        ]
    )
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
