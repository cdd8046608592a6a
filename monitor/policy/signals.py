"""The signals the policy reads from a run's check results (see :mod:`monitor.policy.decision` for the rules).

Each function answers one question about the run -- did ranking fall, did the class balance
shift, is the drift heavy, is a segment severe, is the data suspect, did the population mix
change -- and returns the sentences and evidence numbers that go into the recommendation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.details import DriftRow
from checks.result import CheckResult, Finding

#: Performance methods whose degradation means the model lost its power (rule 2).
RETRAIN_METRICS = frozenset({"roc_auc", "rmse", "mae", "macro_f1"})
RANKING_METRIC = "roc_auc"
#: Data-quality findings that make the data suspect (rule 1), with the least severity that counts.
DATA_SUSPECT = {
    "missing_share": "alert",
    "constant": "warn",
    "quarantine_share": "alert",
    "new_categories": "alert",
    "vanished_categories": "alert",
    "traffic_volume": "alert",
}


@dataclass(frozen=True)
class PolicyRules:
    """Thresholds of the policy rules (see the module docstring)."""

    retrain_metrics: frozenset[str] = RETRAIN_METRICS
    use_estimated_performance: bool = True
    drifted_importance_share: float = 0.5
    top_feature_importance: float = 0.3
    segment_retrain_ratio: float = 2.0
    segment_retrain_min_share: float = 0.05
    prior_shift_alpha: float = 0.01
    prior_shift_min_odds_ratio: float = 1.25
    prior_shift_max_explained: float = 0.5
    population_mix_share: float = 0.5
    vanished_category_share: float = 0.02


def alert_findings(result: CheckResult | None) -> list[Finding]:
    """The alert-severity findings of a result (none for a check that did not run)."""
    return [] if result is None else [f for f in result.findings if f.severity == "alert"]


def sentence(message: str) -> str:
    """A check's message as a sentence (kept verbatim: it may start with a metric name)."""
    return message.rstrip(".") + "."


def lost_ranking(ran: Mapping[str, CheckResult], rules: PolicyRules) -> tuple[list[str], dict[str, Any]]:
    """Reasons and evidence when ranking power fell (labelled, or estimated before labels arrive)."""
    reasons: list[str] = []
    evidence: dict[str, Any] = {}
    if "performance" in ran:
        source, degraded = "performance", alert_findings(ran["performance"])
    else:  # label-free estimates mark their (significant and material) degradations "warn"
        source = "estimated_performance"
        estimated = ran.get(source)
        degraded = (
            list(estimated.findings) if estimated is not None and rules.use_estimated_performance else []
        )
    for f in degraded:
        if f.subject == "model" and f.method in rules.retrain_metrics:
            label = "Estimated (no mature labels yet): " if source == "estimated_performance" else ""
            reasons.append(f"{label}{sentence(f.message)[:-1]} -- the model lost predictive power.")
            evidence[f.method] = f.statistic
            evidence[f"reference_{f.method}"] = f.evidence.get("reference")
            evidence[f"{f.method}_source"] = source
    return reasons, evidence


def data_suspect(
    ran: Mapping[str, CheckResult], rules: PolicyRules
) -> tuple[list[str], dict[str, Any]] | None:
    """Reasons and evidence when a data-quality finding or vanished categories make the data suspect."""
    order = {"warn": 0, "alert": 1}
    quality = ran.get("data_quality")
    found = [
        f
        for f in (quality.findings if quality is not None else ())
        if f.method in DATA_SUSPECT and order[f.severity] >= order[DATA_SUSPECT[f.method]]
    ]
    reasons = [f"Data quality: {sentence(f.message)}" for f in found]
    vanished = _vanished_categories(ran.get("drift"), rules)
    reasons += [
        f"Category {value!r} of {column} held {share:.1%} of the reference and vanished."
        for column, value, share in vanished
    ]
    if not reasons:
        return None
    evidence = {
        "data_quality_findings": [f"{f.subject} {f.method}" for f in found],
        "vanished_categories": [f"{c}={v}" for c, v, _ in vanished],
    }
    return reasons, evidence


def _vanished_categories(drift: CheckResult | None, rules: PolicyRules) -> list[tuple[str, str, float]]:
    out = []
    rows: Sequence[DriftRow] = drift.details.get("columns", ()) if drift is not None else ()
    for row in rows:
        if row.kind != "categorical" or row.role != "feature" or not row.drifted:
            continue
        hist = row.histogram
        for value, before, now in zip(hist.bins, hist.reference, hist.current, strict=True):
            if before >= rules.vanished_category_share and now == 0:
                out.append((row.column, str(value), float(before)))
    return out


def population_mix(
    ran: Mapping[str, CheckResult], prior: tuple[str, dict[str, Any]] | None, rules: PolicyRules
) -> tuple[list[str], dict[str, Any]] | None:
    """Reasons and evidence when features, score and label share moved together while calibration holds."""
    drift, calibration = ran.get("drift"), ran.get("calibration")
    if drift is None or calibration is None or calibration.status == "alert" or prior is not None:
        return None
    d, m = drift.metrics, calibration.metrics
    share = float(d.get("share_drifted") or 0.0)
    label_moved = bool(d.get("label_drifted")) or (
        "base_rate_p_value" in m and m["base_rate_p_value"] < rules.prior_shift_alpha
    )
    if not (share >= rules.population_mix_share and d.get("prediction_drifted") and label_moved):
        return None
    reasons = [
        f"The population changed: {share:.0%} of the features drifted and the score moved with them "
        f"(rule: {rules.population_mix_share:.0%}).",
    ]
    evidence: dict[str, Any] = {"share_drifted": share, "prediction_drifted": True}
    if "reference_base_rate" in m:
        reasons.append(
            f"The positive rate moved from {m['reference_base_rate']:.1%} to {m['base_rate']:.1%} and the "
            f"mean score followed ({m['reference_mean_score']:.3f} -> {m['mean_score']:.3f}): the scores "
            "still mean what they say."
        )
        keys = ("base_rate", "reference_base_rate", "mean_score", "reference_mean_score")
        evidence.update({k: m[k] for k in keys})
    reasons.append(
        f"Calibration holds (ECE {m.get('ece', math.nan):.3f}). {ranking_sentence(ran.get('performance'))}"
    )
    return reasons, evidence


def threshold_proposal(ran: Mapping[str, CheckResult]) -> Finding | None:
    threshold = ran.get("threshold")
    return (
        None if threshold is None else next((f for f in threshold.findings if f.subject == "threshold"), None)
    )


def ranking_intact(performance: CheckResult | None) -> bool:
    """Labelled ROC AUC was measured and has no degradation finding."""
    if performance is None or RANKING_METRIC not in performance.metrics:
        return False
    return not any(f.method == RANKING_METRIC for f in alert_findings(performance))


def heavy_drift(drift: CheckResult | None, rules: PolicyRules, evidence: dict[str, Any]) -> list[str]:
    """Reasons and evidence when the drift is heavy: the dataset rule, or drift of important features.

    The drift check's own ``importance_share`` finding is restated with where the importance
    came from (configured, or the score's dependence estimated from the reference).
    """
    if drift is None:
        return []
    reasons = [
        sentence(f.message)
        for f in drift.findings
        if f.subject == "model" and f.severity == "alert" and f.method != "importance_share"
    ]
    if drift.metrics.get("dataset_drifted") and not reasons:
        reasons.append(f"{drift.metrics.get('share_drifted', math.nan):.0%} of the features drifted.")
    drifted = {
        f.subject.removeprefix("feature:"): float(f.evidence["importance"])
        for f in drift.findings
        if f.subject.startswith("feature:") and f.evidence.get("importance") is not None
    }
    if drifted:
        total = sum(drifted.values())
        ranked = sorted(drifted, key=lambda k: -drifted[k])
        evidence["drifted_importance_share"] = total
        evidence["drifted_features"] = ranked
        what = _importance_name(drift)
        evidence["importance_source"] = drift.details.get("importance_source", "configured")
        if total >= rules.drifted_importance_share:
            reasons.append(
                f"The drifted features ({', '.join(ranked)}) carry {total:.0%} of {what} "
                f"(rule: {rules.drifted_importance_share:.0%})."
            )
        elif not reasons and drifted[ranked[0]] >= rules.top_feature_importance:
            reasons.append(
                f"Feature {ranked[0]!r}, which carries {drifted[ranked[0]]:.0%} of {what}, drifted."
            )
    if reasons:
        evidence["share_drifted"] = drift.metrics.get("share_drifted")
    return reasons


def _importance_name(drift: CheckResult) -> str:
    if drift.details.get("importance_source") == "estimated":
        return "the score's dependence on the features (estimated on the reference window)"
    return "the feature importance"


def severe_segments(segments: CheckResult | None, rules: PolicyRules, evidence: dict[str, Any]) -> list[str]:
    reasons, severe = [], []
    for f in alert_findings(segments):
        relative = f.evidence.get("ratio_of_ratios")
        if "reference" not in f.evidence.get("flagged_against", ()) or relative is None:
            continue
        share = float(f.evidence.get("share", 0.0))
        if relative >= rules.segment_retrain_ratio and share >= rules.segment_retrain_min_share:
            reference = f.evidence.get("reference_value")
            severe.append(
                {"segment": f.subject, "value": f.statistic, "reference": reference, "ratio": relative}
            )
            reasons.append(
                f"{f.method} of {f.subject.removeprefix('segment:')} grew {relative:.1f} times as much as "
                f"the rest of the window's ({f.statistic:.4g} vs {reference:.4g} in the reference) "
                f"in {share:.0%} of the rows."
            )
    if severe:
        evidence["severe_segments"] = severe
    return reasons


def prior_shift(ran: Mapping[str, CheckResult], rules: PolicyRules) -> tuple[str, dict[str, Any]] | None:
    """A sentence and evidence when the class balance shifted and the scores did not follow, else None."""
    calibration = ran.get("calibration")
    m = calibration.metrics if calibration is not None else {}
    if "reference_base_rate" not in m:
        return None
    now, before, p = m["base_rate"], m["reference_base_rate"], m["base_rate_p_value"]
    odds_now, odds_before = _odds(now), _odds(before)
    ratio = odds_now / odds_before if 0 < odds_before < math.inf and 0 < odds_now < math.inf else math.inf
    score_move = m["mean_score"] - m["reference_mean_score"]
    explained = abs(score_move) / abs(now - before) if now != before else math.inf
    if not (
        p < rules.prior_shift_alpha
        and max(ratio, 1 / ratio) >= rules.prior_shift_min_odds_ratio
        and explained <= rules.prior_shift_max_explained
    ):
        return None
    sentence = (
        f"positive rate {now:.1%} vs {before:.1%} in the reference (p={p:.2g}) while the mean score moved "
        f"{score_move:+.3f} only"
    )
    evidence = {
        "base_rate": now,
        "reference_base_rate": before,
        "base_rate_p_value": p,
        "mean_score": m["mean_score"],
        "reference_mean_score": m["reference_mean_score"],
    }
    return sentence, evidence


def _odds(p: float) -> float:
    return p / (1 - p) if p < 1 else math.inf


def ranking_evidence(performance: CheckResult | None) -> dict[str, Any]:
    if performance is None or RANKING_METRIC not in performance.metrics:
        return {}
    m = performance.metrics
    return {
        RANKING_METRIC: m[RANKING_METRIC],
        f"reference_{RANKING_METRIC}": m.get(f"reference_{RANKING_METRIC}"),
    }


def ranking_sentence(performance: CheckResult | None) -> str:
    e = ranking_evidence(performance)
    if not e:
        return "Ranking power was not checked (no labelled ROC AUC in this run)."
    if e["reference_roc_auc"] is None:
        return f"ROC AUC is {e['roc_auc']:.3f} (no reference to compare)."
    return f"Ranking holds: ROC AUC {e['roc_auc']:.3f} vs {e['reference_roc_auc']:.3f} in the reference."
