"""Run every configured check of one model on one window (config in, results out).

This is the only place that maps ``config.toml`` settings to the keyword options of the
pure functions in ``checks/``. Label-based checks run only on mature windows (label
coverage and count above the configured minimums); otherwise they are ``skipped`` with the
reason, and binary models get an *estimated* performance from their scores instead. A
reference whose own labels are not mature by the same rule is not compared with: the label
checks then run as without a labelled reference and say why in ``details["reference_unused"]``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from checks.calibration import calibration_check, reliability_curve
from checks.drift import dataset_drift
from checks.estimation import ESTIMATED_METRICS, estimate_performance, expected_metrics
from checks.importance import METHOD as IMPORTANCE_METHOD
from checks.importance import DependenceSample, dependence_sample, estimate_dependence
from checks.labels import LabelCoverage, label_coverage
from checks.latency import latency_check
from checks.performance import performance
from checks.quality import data_quality
from checks.recalibration import RecalibrationProposal, proposal_summary, propose_recalibration
from checks.result import CheckResult
from checks.segment_calibration import calibration_by_segment
from checks.segments import segment_check
from checks.temperature import MulticlassRecalibrationProposal
from checks.threshold import threshold_check
from checks.volume import Expectation
from monitor.config import ModelConfig
from monitor.pipeline import multiclass_suite

LABEL_CHECKS = ("performance", "calibration", "segments", "threshold", "class_prior")


@dataclass
class SuiteOutcome:
    """Check results plus what the runner must persist beside them."""

    checks: list[CheckResult]
    label_coverage: float
    recalibration: RecalibrationProposal | MulticlassRecalibrationProposal | None = None
    #: Recorded with the reference: the importance used by the drift check and where it came from.
    extra: dict[str, Any] = field(default_factory=dict)


def window_seed(model: str, window_end: datetime) -> int:
    """A seed fixed per (model, window): re-running a window gives the same intervals."""
    return (zlib.crc32(model.encode()) ^ int(window_end.timestamp())) % (2**31 - 1)


def reference_seed(model: str, description: Mapping[str, Any]) -> int:
    """A seed fixed per (model, reference): its span, or its file's name; not the checked window.

    >>> span = {"kind": "period", "start": "2026-10-01", "end": "2026-10-02"}
    >>> reference_seed("m", {**span, "rows": 5}) == reference_seed("m", span) != reference_seed("n", span)
    True
    """
    identity = [model, *(str(description.get(k)) for k in ("kind", "start", "end", "file"))]
    return zlib.crc32("\x1f".join(identity).encode()) % (2**31 - 1)


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The labelled rows (the frame itself when every row is: no copy)."""
    if "label" not in frame.columns:
        return frame.iloc[0:0]
    known = frame["label"].notna()
    return frame if known.all() else frame[known]


def _y(frame: pd.DataFrame, model: ModelConfig, column: str) -> np.ndarray:
    values = frame[column]
    return values.astype(str).to_numpy() if model.task == "multiclass" else values.astype(float).to_numpy()


def _scores(frame: pd.DataFrame, model: ModelConfig) -> np.ndarray | None:
    if not model.score_column:
        return None
    if model.task == "multiclass":
        cols = [f"p_{i}" for i in range(len(model.classes or []))]
        return frame[cols].to_numpy(dtype=float) if all(c in frame for c in cols) else None
    return frame["score"].to_numpy(dtype=float)


def _with_recalibration(
    result: CheckResult,
    proposal: RecalibrationProposal,
    y: np.ndarray,
    score: np.ndarray,
    order: np.ndarray,
    n_bins: int,
) -> CheckResult:
    """Add the proposal and the reliability curve after it (on the held-out newest slice)."""
    details = {**result.details, "recalibration": proposal_summary(proposal)}
    if proposal.recalibrator is not None and proposal.n_holdout:
        newest = np.argsort(order, kind="stable")[-proposal.n_holdout :]
        curve = reliability_curve(y[newest], proposal.recalibrator.apply(score[newest]), n_bins=n_bins)
        details["recalibrated_reliability"] = curve
    return replace(result, details=details)


def reference_importance(
    model: ModelConfig,
    ref: pd.DataFrame,
    seed: int,
    *,
    estimate: Callable[[DependenceSample], dict[str, float]] = estimate_dependence,
) -> dict[str, Any]:
    """The configured importance, or the score's dependence on each feature estimated from the reference.

    It depends on the reference alone: the runner computes it once per reference, with
    :func:`reference_seed`, and hands it to :func:`run_suite` for every window.
    ``estimate`` turns the reference's sample into the shares (the runner's reads and keeps
    them in the store, under the sample's digest).
    """
    if model.importance:
        return {"importance": dict(model.importance), "importance_source": "configured"}
    score = _output_column(model, ref)
    if score not in ref.columns:
        return {}
    sample = dependence_sample(
        ref,
        numeric=list(model.features.numeric),
        categorical=list(model.features.categorical),
        score=score,
        seed=seed,
    )
    estimated = {} if sample is None else estimate(sample)
    if not estimated:
        return {}
    return {"importance": estimated, "importance_source": "estimated", "importance_method": IMPORTANCE_METHOD}


def _drift(
    model: ModelConfig, ref: pd.DataFrame, cur: pd.DataFrame, importance: dict[str, Any]
) -> CheckResult:
    cfg = model.drift
    methods, thresholds = model.drift_settings()
    has_labels = "label" in cur.columns and cur["label"].notna().any() and ref["label"].notna().any()
    result = dataset_drift(
        ref,
        cur,
        numeric=list(model.features.numeric),
        categorical=list(model.features.categorical),
        prediction=_output_column(model, cur),
        label="label" if has_labels else None,
        methods=methods or None,
        thresholds=thresholds or None,
        importance=importance.get("importance"),
        drift_share=cfg.drift_share,
        fdr=cfg.fdr,
    )
    return replace(result, details=result.details | importance) if importance else result


def _output_column(model: ModelConfig, frame: pd.DataFrame) -> str:
    """The column holding the model's output: the score of a binary model, else the prediction."""
    return "score" if model.task == "binary" and "score" in frame.columns else "prediction"


def _quality(
    model: ModelConfig,
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    quarantined: int,
    expected_rows: Expectation | None,
    n_rows: int | None,
) -> CheckResult:
    cfg = model.quality
    n = len(cur) if n_rows is None else n_rows
    return data_quality(
        ref,
        cur,
        numeric=list(model.features.numeric),
        categorical=list(model.features.categorical),
        quarantined=quarantined,
        n_ingested=n + quarantined,
        min_missing_increase=cfg.min_missing_increase,
        new_category_share_threshold=cfg.new_category_share,
        out_of_range_share_threshold=cfg.out_of_range_share,
        max_quarantine_share=cfg.max_quarantine_share,
        vanished_category_share=cfg.vanished_category_share,
        vanished_alpha=cfg.vanished_category_alpha,
        expected_rows=expected_rows,
        n_rows=n,
        min_traffic_share=cfg.min_traffic_share,
        traffic_alpha=cfg.traffic_alpha,
    )


def _latency(
    model: ModelConfig,
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    window_seconds: float,
    window_latency: Mapping[str, float | None] | None = None,
) -> CheckResult:
    cfg = model.latency
    cur_lat = cur["latency_ms"].dropna().to_numpy(dtype=float)
    if not model.latency_column or len(cur_lat) == 0:
        return CheckResult.skipped("latency", "no latency logged in this window")
    errors = cur["error"].dropna().astype(bool).to_numpy() if cur["error"].notna().any() else None
    ref_errors = ref["error"].dropna().astype(bool).to_numpy() if ref["error"].notna().any() else None
    return latency_check(
        ref["latency_ms"].dropna().to_numpy(dtype=float),
        cur_lat,
        current_errors=errors,
        reference_errors=ref_errors,
        window_seconds=window_seconds,
        slo_p50_ms=cfg.slo_p50_ms,
        slo_p95_ms=cfg.slo_p95_ms,
        slo_p99_ms=cfg.slo_p99_ms,
        max_error_rate=cfg.max_error_rate,
        min_relative_increase=cfg.min_relative_increase,
        window_quantiles=window_latency,
        quantile_rank_error=(window_latency or {}).get("quantile_rank_error") or 0.0,
    )


def _calibration_by_segment(
    model: ModelConfig, ref: pd.DataFrame, cur: pd.DataFrame, seed: int
) -> list[dict[str, Any]]:
    return calibration_by_segment(  # binary only: the labels are read as 0/1 floats there
        cur,
        ref if len(ref) else None,
        segments=list(model.segments),
        y_true="label",
        y_score="score",
        n_bins=model.calibration.n_bins,
        ece_threshold=model.calibration.ece_threshold,
        min_delta=model.calibration.min_delta,
        fdr=model.segments_check.fdr,
        min_support=model.segments_check.min_support,
        numeric_bins=model.segments_check.numeric_bins,
        top_k=model.segments_check.top_k,
        seed=seed,
    )


def _by_score(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The ``columns`` of ``frame`` (those it has), rows in ascending order of score (stable)."""
    order = np.argsort(frame["score"].to_numpy(dtype=float), kind="stable")
    return frame.iloc[order, [frame.columns.get_loc(c) for c in dict.fromkeys(columns) if c in frame.columns]]


def _label_checks(
    model: ModelConfig, ref: pd.DataFrame, cur: pd.DataFrame, seed: int
) -> tuple[list[CheckResult], RecalibrationProposal | MulticlassRecalibrationProposal | None]:
    out: list[CheckResult] = []
    proposal: RecalibrationProposal | MulticlassRecalibrationProposal | None = None
    by_time = cur  # as read: in time order, what the recalibrator's hold-out sorts by
    if model.task == "binary" and model.score_column:
        # Sorted by score once per window: every label check is blind to row order, and each
        # sorts its scores (performance, calibration and its segments, threshold): a pass
        # over sorted scores instead of a sort.
        needed = ["label", "prediction", "score", *model.segments]
        cur, ref = _by_score(cur, needed), _by_score(ref, needed)
    y, y_ref = _y(cur, model, "label"), _y(ref, model, "label")
    pred, pred_ref = _y(cur, model, "prediction"), _y(ref, model, "prediction")
    score, score_ref = _scores(cur, model), _scores(ref, model)
    has_ref = len(ref) > 0
    if model.task == "multiclass" and score is not None:
        mc_ref = (y_ref, pred_ref, score_ref) if has_ref else None
        if model.performance.enabled:
            out.append(multiclass_suite.performance_check(model, y, pred, score, mc_ref, seed))
        if model.calibration.enabled:
            calibration, proposal = multiclass_suite.calibration_check(
                model, y, score, (y_ref, score_ref) if has_ref else None, cur["ts"].to_numpy(), seed
            )
            out.append(calibration)
        if has_ref and score_ref is not None:
            out.append(multiclass_suite.prior_check(model, y, score, y_ref, score_ref, cur["ts"].to_numpy()))
    elif model.performance.enabled:
        out.append(
            performance(
                y,
                pred,
                score,
                task=model.task,
                reference=(y_ref, pred_ref, score_ref) if has_ref else None,
                threshold=model.threshold,
                classes=model.classes,
                n_resamples=model.performance.n_resamples,
                seed=seed,
                min_delta=model.performance.min_delta or None,
                min_relative=model.performance.min_relative,
                alpha=model.performance.alpha,
            )
        )
    binary = model.task == "binary" and score is not None
    if model.calibration.enabled and binary:
        result = calibration_check(
            y,
            score,
            reference=(y_ref, score_ref) if has_ref else None,
            n_bins=model.calibration.n_bins,
            ece_threshold=model.calibration.ece_threshold,
            min_delta=model.calibration.min_delta,
            seed=seed,
        )
        if result.status == "alert":
            when = by_time["ts"].to_numpy(dtype="datetime64[ns]")  # not objects: they sort one by one
            y_t, score_t = _y(by_time, model, "label"), by_time["score"].to_numpy(dtype=float)
            proposal = propose_recalibration(y_t, score_t, when, n_bins=model.calibration.n_bins)
            result = _with_recalibration(result, proposal, y_t, score_t, when, model.calibration.n_bins)
        if model.segments:
            result = replace(
                result, details=result.details | {"segments": _calibration_by_segment(model, ref, cur, seed)}
            )
        out.append(result)
    if model.segments_check.enabled and model.segments:
        cfg = model.segments_check
        out.append(
            segment_check(
                cur,
                ref if has_ref else None,
                segments=list(model.segments),
                y_true="label",
                y_pred="prediction",
                y_score="score" if binary else None,
                task=model.task,
                threshold=model.threshold,
                numeric_bins=cfg.numeric_bins,
                top_k=cfg.top_k,
                min_support=cfg.min_support,
                fdr=cfg.fdr,
                alert_min_rows=cfg.alert_min_rows,
                alert_min_share=cfg.alert_min_share,
                min_ratio=cfg.min_ratio,
                alert_fdr=cfg.alert_fdr,
                seed=seed,
            )
        )
    if model.threshold_check.enabled and binary:
        cfg_t = model.threshold_check
        out.append(
            threshold_check(
                y,
                score,
                current_threshold=model.threshold,
                objective=cfg_t.objective,
                fp_cost=cfg_t.fp_cost,
                fn_cost=cfg_t.fn_cost,
                target=cfg_t.target,
                min_gain=cfg_t.min_gain,
                seed=seed,
            )
        )
    return out, proposal


def _coverage(model: ModelConfig, frame: pd.DataFrame, labelled: pd.DataFrame) -> LabelCoverage:
    need = model.labels
    return label_coverage(len(frame), len(labelled), min_coverage=need.min_coverage, min_count=need.min_count)


def _mature_reference(model: ModelConfig, reference: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The reference's labelled rows, or none with the reason when its own labels are not mature.

    Early outcomes are not a random sample of outcomes (chargebacks arrive before the quiet
    confirmations of legitimate payments), so comparing with a half-labelled reference would
    measure the arrival order, not the model.
    """
    labelled = _labelled(reference)
    coverage = _coverage(model, reference, labelled)
    if coverage.mature or reference.empty:
        return labelled, None
    if labelled.empty:
        return labelled, "the reference has no labelled rows"
    return labelled.iloc[0:0], f"the reference's labels are not mature: {coverage.reason}"


def _estimated(model: ModelConfig, reference: pd.DataFrame, current: pd.DataFrame, seed: int) -> CheckResult:
    """CBPE on the current scores, compared with CBPE on the reference's scores.

    Like for like: both estimates assume calibrated scores, so a model that was already
    miscalibrated in the reference is not reported as degraded (its realised reference
    metrics would be a biased baseline); what moves the estimate is a change of the scores.
    """
    baseline = None
    if not reference.empty and "score" in reference.columns:
        scores = reference["score"].dropna().to_numpy(dtype=float)
        baseline = expected_metrics(scores, threshold=model.threshold)
    settings = model.performance
    return estimate_performance(
        np.sort(current["score"].to_numpy(dtype=float)),  # order-free; sorted once, its own sorts are passes
        threshold=model.threshold,
        reference=baseline,
        min_delta={k: v for k, v in settings.min_delta.items() if k in ESTIMATED_METRICS} or None,
        min_relative=settings.min_relative,
        n_resamples=settings.n_resamples,
        alpha=settings.alpha,
        seed=seed,
    )


def run_suite(
    model: ModelConfig,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    quarantined: int,
    window_seconds: float,
    seed: int,
    expected_rows: Expectation | None = None,
    n_rows: int | None = None,
    window_latency: Mapping[str, float | None] | None = None,
    importance: Mapping[str, Any] | None = None,
) -> SuiteOutcome:
    """All checks of ``model`` on ``current`` against ``reference``.

    ``expected_rows`` (the reference rate's prediction for the window) turns on the traffic
    volume finding of the data-quality check; ``n_rows`` is the window's exact row count
    when ``current`` is a sample, ``window_latency`` its latency quantiles (with their
    ``quantile_rank_error``) computed where it lives. ``importance`` is the reference's
    :func:`reference_importance`, computed once per reference by the caller; without it the
    importance is estimated here with ``seed``.
    """
    checks: list[CheckResult] = []
    quality = model.quality.enabled and not reference.empty
    used: dict[str, Any] = {}  # the drift check's importance, recorded with the reference
    if current.empty:
        reason = "no predictions in this window"
        checks = [CheckResult.skipped(name, reason) for name in ("drift", "data_quality", "latency")]
        if quality:
            checks[1] = _quality(model, reference, current, quarantined, expected_rows, n_rows)
        return SuiteOutcome(checks=checks, label_coverage=0.0)
    if reference.empty:
        checks.append(CheckResult.skipped("drift", "the reference has no rows"))
    elif model.drift.enabled:
        used = reference_importance(model, reference, seed) if importance is None else dict(importance)
        checks.append(_drift(model, reference, current, used))
    if quality:
        checks.append(_quality(model, reference, current, quarantined, expected_rows, n_rows))
    elif model.quality.enabled:
        checks.append(CheckResult.skipped("data_quality", "the reference has no rows"))
    if model.latency.enabled:
        checks.append(_latency(model, reference, current, window_seconds, window_latency))

    labelled = _labelled(current)
    coverage = _coverage(model, current, labelled)
    proposal = None
    if coverage.mature:
        ref_labelled, unused = _mature_reference(model, reference)
        label_results, proposal = _label_checks(model, ref_labelled, labelled, seed)
        if unused:
            note = {"reference_unused": unused}
            label_results = [replace(r, details=r.details | note) for r in label_results]
        checks.extend(label_results)
    else:
        for name in LABEL_CHECKS:
            if name == "class_prior" and model.task != "multiclass":
                continue
            checks.append(CheckResult.skipped(name, coverage.reason or "labels not mature"))
        if model.performance.enabled and model.task == "binary" and "score" in current.columns:
            checks.append(_estimated(model, reference, current, seed))
        scores = _scores(current, model) if model.task == "multiclass" else None
        if model.performance.enabled and scores is not None:
            checks.append(multiclass_suite.estimated_check(model, scores, _scores(reference, model), seed))
    return SuiteOutcome(
        checks=checks,
        label_coverage=coverage.metrics.get("label_coverage") or 0.0,
        recalibration=proposal,
        extra=used,
    )
