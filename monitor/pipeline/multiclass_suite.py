"""The label checks and the label-free estimate of a multiclass model (config in, results out).

Called by :mod:`monitor.pipeline.check_suite` for ``task = "multiclass"`` models with class
probabilities (the ``p_<i>`` store columns, one per entry of ``classes``): performance per
class and overall, calibration (with a temperature/vector scaling proposal when it alerts),
the class-prior shift check, and multiclass CBPE while labels are not mature.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from checks.calibration import reliability_curve
from checks.multiclass_calibration import multiclass_calibration_check, top_label
from checks.multiclass_estimation import expected_multiclass_metrics, multiclass_estimate
from checks.multiclass_performance import OVERALL, PER_CLASS, multiclass_performance
from checks.prior_shift import class_prior_shift
from checks.recalibration import proposal_summary
from checks.result import CheckResult
from checks.temperature import MulticlassRecalibrationProposal, propose_multiclass_recalibration
from monitor.config import ModelConfig


def resamples_for(model: ModelConfig, n_metrics: int) -> int:
    """The configured ``n_resamples``, raised so that Holm over ``n_metrics`` can reach ``alpha``."""
    alpha = model.performance.alpha
    return max(model.performance.n_resamples, math.floor(n_metrics / alpha) + 1)


def performance_check(
    model: ModelConfig,
    y: np.ndarray,
    pred: np.ndarray,
    score: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None,
    seed: int,
) -> CheckResult:
    """Per-class and overall performance against the labelled reference (when it has probabilities)."""
    classes = model.classes or []
    n_resamples = resamples_for(model, len(OVERALL) + len(PER_CLASS) * len(classes))
    ref = None
    if reference is not None and reference[2] is not None and len(reference[0]):
        ref = (reference[0], reference[2], reference[1])
    result = multiclass_performance(
        y,
        score,
        classes=classes,
        y_pred=pred,
        reference=ref,
        n_resamples=n_resamples,
        seed=seed,
        min_delta=model.performance.min_delta or None,
        materiality_options={"min_relative": model.performance.min_relative},
        alpha=model.performance.alpha,
    )
    if n_resamples != model.performance.n_resamples:
        note = f"n_resamples raised from {model.performance.n_resamples} to {n_resamples} (Holm, all metrics)"
        result = replace(result, details=result.details | {"n_resamples_note": note})
    return result


def _recalibration_details(
    result: CheckResult,
    proposal: MulticlassRecalibrationProposal,
    y: np.ndarray,
    score: np.ndarray,
    order: Any,
) -> CheckResult:
    details = {**result.details, "recalibration": proposal_summary(proposal)}
    if proposal.recalibrator is not None and proposal.n_holdout:
        newest = np.argsort(np.asarray(order), kind="stable")[-proposal.n_holdout :]
        labels = np.asarray(model_classes(result))
        correct, conf = top_label(y[newest], proposal.recalibrator.apply(score[newest]), labels)
        details["recalibrated_reliability"] = reliability_curve(
            correct, conf, n_bins=int(result.details.get("n_bins", 10))
        )
    return replace(result, details=details)


def model_classes(result: CheckResult) -> list[str]:
    """The classes a multiclass result was computed over."""
    return list(result.details.get("classes", []))


def calibration_check(
    model: ModelConfig,
    y: np.ndarray,
    score: np.ndarray,
    reference: tuple[np.ndarray, np.ndarray | None] | None,
    order: Any,
    seed: int,
) -> tuple[CheckResult, MulticlassRecalibrationProposal | None]:
    """Top-label and class-wise calibration; when it alerts, the out-of-time recalibration proposal."""
    cfg = model.calibration
    ref = reference if reference is not None and reference[1] is not None and len(reference[0]) else None
    result = multiclass_calibration_check(
        y,
        score,
        classes=model.classes or [],
        reference=ref,  # type: ignore[arg-type]
        n_bins=cfg.n_bins,
        ece_threshold=cfg.ece_threshold,
        min_delta=cfg.min_delta,
        seed=seed,
    )
    if result.status != "alert":
        return result, None
    proposal = propose_multiclass_recalibration(
        y, score, order, classes=model.classes or [], n_bins=cfg.n_bins
    )
    return _recalibration_details(result, proposal, y, score, order), proposal


def prior_check(
    model: ModelConfig, y: np.ndarray, score: np.ndarray, y_ref: np.ndarray, score_ref: np.ndarray, order: Any
) -> CheckResult:
    """The class-prior shift check against the labelled reference."""
    return class_prior_shift(y, score, classes=model.classes or [], reference=(y_ref, score_ref), order=order)


def estimated_check(
    model: ModelConfig, score: np.ndarray, score_ref: np.ndarray | None, seed: int
) -> CheckResult:
    """Multiclass CBPE on the current probabilities, against the reference's own estimate."""
    classes = model.classes or []
    baseline = (
        None
        if score_ref is None or not len(score_ref)
        else expected_multiclass_metrics(score_ref, classes=classes)
    )
    settings = model.performance
    return multiclass_estimate(
        score,
        classes=classes,
        reference=baseline,
        min_delta={k: v for k, v in settings.min_delta.items() if k in ("roc_auc", "accuracy", "macro_f1")}
        or None,
        materiality_options={"min_relative": settings.min_relative},
        n_resamples=settings.n_resamples,
        alpha=settings.alpha,
        seed=seed,
    )
