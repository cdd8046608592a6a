"""From the findings of one run to what should be done: recalibrate, retune the threshold, or retrain.

The policy reads every check result of a run together, because the same symptom calls for
different actions depending on what else is true. Skipped checks count as not run. The
rules, in the order they are applied:

0. **Prior shift** (used by the rules below) means the class balance moved and the model's
   scores did not follow: the ``calibration`` check's positive rate differs from the
   reference's with ``base_rate_p_value < prior_shift_alpha`` and an odds ratio of at least
   ``prior_shift_min_odds_ratio``, while the mean score moved by at most
   ``prior_shift_max_explained`` of the positive rate's move. (Under covariate shift a
   sound model's mean score follows the positive rate; under a prior shift, with P(x | y)
   unchanged, it cannot.)

1. **Retrain** when the model itself no longer fits the data. Any of:

   - *lost ranking power*: the ``performance`` check has an alert finding on ``roc_auc``
     (binary), ``rmse`` or ``mae`` (regression) or ``macro_f1`` (multiclass) -- the check
     emits one only when the degradation is both significant and material. Threshold- and
     prior-dependent metrics (``f1``, ``accuracy``, ``pr_auc``) and probability metrics
     (``log_loss``, ``brier``) are not enough on their own: a new threshold or a
     recalibration can restore them;
   - the same on ``estimated_performance`` when labelled ``performance`` did not run (no
     mature labels yet; its degradation findings have severity ``warn``, all of them
     count; ``use_estimated_performance=False`` turns this off);
   - *heavy drift*: the ``drift`` check's dataset rule fired (its alert ``model`` finding
     on the share of drifted features or of drifted importance, or metric
     ``dataset_drifted``), or the drifted features (``feature:<name>`` findings, evidence
     ``importance``, normalised to sum 1 over the features) carry at least
     ``drifted_importance_share`` of the importance together, or one of them alone at
     least ``top_feature_importance``. Exception: under a prior shift with ranking
     verified intact (labelled ``roc_auc`` measured, no finding on it), the feature drift
     is what the new class mix produces, and it does not call for retraining (the
     threshold recommendation says so);
   - a *severe segment*: a ``segments`` finding flagged against the same segment in the
     reference, whose metric rose at least ``segment_retrain_ratio`` times as much as the
     rest of the window's did (its ratio of ratios, so a degradation shared by every
     segment is not counted as a segment's), in a segment holding at least
     ``segment_retrain_min_share`` of the window.
     Milder segment findings stay alerts without a recommendation; a segment that is only
     worse than the rest of the window (as it may always have been) never asks for one.

   Retraining supersedes recalibration and threshold retuning: a retrained model comes with
   its own calibration and threshold. When the calibration or threshold check also fired,
   the reasons say so, and no separate recommendation is made.

2. **Retune the threshold** when the ``threshold`` check proposes a better threshold (its
   ``threshold`` finding: the out-of-bag gain is significant and material) and either there
   is a prior shift or the calibration did not degrade. Under a prior shift the
   probabilities are off as a consequence of the new class balance; the reasons say so, and
   that recalibrating as well is only for consumers that read the probabilities.

3. **Recalibrate** when the ``calibration`` check alerts (ECE degraded significantly and
   materially versus the reference, or above its absolute threshold), nothing above called
   for a retrain (so ranking holds), and it is not a prior shift that a new threshold
   handles. If the threshold check also proposes a new threshold, that proposal follows
   from the distorted scores: after recalibration the configured threshold means what it
   meant on the reference again, so no retune is recommended (the reasons say to re-run
   the threshold check on recalibrated scores).

Multiclass models: a class-prior shift with ranking intact calls for **correct_priors**
before any of the rules above (:mod:`monitor.class_prior_policy`); otherwise the rules apply
with the one-vs-rest ROC AUC as the ranking metric and top-label / class-wise ECE as the
calibration check.

4. Otherwise **nothing**: data-quality, latency, drift of unimportant features and mild
   segment findings are alerts in their own right, not model actions.

The policy leaves ``Recommendation.artifact`` as None; the runner attaches the fitted
recalibrator's path or the proposed threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.result import CheckResult, Finding, Recommendation
from monitor.class_prior_policy import prior_correction

#: Performance methods whose degradation means the model lost its power (see rule 1).
RETRAIN_METRICS = frozenset({"roc_auc", "rmse", "mae", "macro_f1"})
RANKING_METRIC = "roc_auc"


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


def _alerts(result: CheckResult | None) -> list[Finding]:
    return [] if result is None else [f for f in result.findings if f.severity == "alert"]


def _sentence(message: str) -> str:
    """A check's message as a sentence (kept verbatim: it may start with a metric name)."""
    return message.rstrip(".") + "."


def recommend(
    checks: Sequence[CheckResult], *, rules: PolicyRules = PolicyRules()
) -> tuple[Recommendation, ...]:
    """The recommendations the check results of one run call for (empty when none).

    Parameters
    ----------
    checks : sequence of CheckResult
        All results of the run; checks are found by name (``"performance"``,
        ``"estimated_performance"``, ``"calibration"``, ``"threshold"``, ``"drift"``,
        ``"segments"``; others are ignored, and skipped results count as not run).
    rules : PolicyRules, default=PolicyRules()

    Returns
    -------
    tuple of Recommendation
        At most one ``retrain``; otherwise ``recalibrate`` and/or ``retune_threshold``.

    Examples
    --------
    >>> recommend([CheckResult(check="performance", status="ok")])
    ()
    """
    ran = {c.check: c for c in checks if c.status != "skipped"}
    corrected = prior_correction(ran)  # multiclass class-prior shift: monitor/class_prior_policy.py
    if corrected is not None:
        return (corrected,)
    prior = _prior_shift(ran, rules)
    drift_evidence: dict[str, Any] = {}
    drift_reasons = _heavy_drift(ran.get("drift"), rules, drift_evidence)
    drift_explained = prior is not None and _ranking_intact(ran.get("performance"))
    retrain = _retrain(ran, rules, [] if drift_explained else drift_reasons, drift_evidence)
    if retrain is not None:
        return (retrain,)
    notes = []
    if drift_reasons:
        notes.append(
            "The feature drift is what a class-balance shift produces and ranking holds, so it does "
            f"not call for retraining ({' '.join(drift_reasons)})"
        )
    calibration = ran.get("calibration")
    calibration_alert = calibration is not None and calibration.status == "alert"
    proposal = _threshold_proposal(ran)
    out: list[Recommendation] = []
    if proposal is not None and (prior is not None or not calibration_alert):
        out.append(_retune(proposal, prior, calibration_alert, ran.get("performance"), notes))
    if calibration is not None and calibration_alert and not (prior is not None and proposal is not None):
        out.append(_recalibrate(calibration, proposal, prior, ran.get("performance"), notes))
    return tuple(out)


def _retune(
    proposal: Finding,
    prior: tuple[str, dict[str, Any]] | None,
    calibration_alert: bool,
    performance: CheckResult | None,
    notes: list[str],
) -> Recommendation:
    reasons = [
        f"The threshold check proposes a better threshold: {_sentence(proposal.message)}",
        _ranking_sentence(performance),
        *notes,
    ]
    if prior is not None:
        reasons.insert(0, f"The class balance shifted: {prior[0]}.")
    if calibration_alert:
        reasons.append(
            "The probabilities are off because of the new class balance (calibration alert); the "
            "new threshold restores the decisions. Recalibrate as well only if consumers read the "
            "probabilities."
        )
    gain = ("gain", "gain_ci", "objective_current", "objective_proposed")
    evidence = {
        "current_threshold": proposal.threshold,
        "proposed_threshold": proposal.statistic,
        "objective": proposal.method,
        **{k: proposal.evidence.get(k) for k in gain},
        **(prior[1] if prior is not None else {}),
        **_ranking_evidence(performance),
    }
    return Recommendation("retune_threshold", tuple(reasons), evidence)


def _recalibrate(
    calibration: CheckResult,
    proposal: Finding | None,
    prior: tuple[str, dict[str, Any]] | None,
    performance: CheckResult | None,
    notes: list[str],
) -> Recommendation:
    reasons = [_sentence(f.message) for f in _alerts(calibration)]
    reasons += [_ranking_sentence(performance), *notes]
    if proposal is not None:
        reasons.append(
            f"The threshold check's proposal ({proposal.statistic:.4g} instead of "
            f"{proposal.threshold:.4g}) follows from the distorted scores: after recalibration the "
            "configured threshold applies again; re-run the threshold check on recalibrated scores "
            "before changing it."
        )
    if prior is not None:
        reasons.append(f"The class balance also shifted ({prior[0]}); no better threshold was found.")
    keys = (
        "ece",
        "reference_ece",
        "ece_delta",
        "ece_delta_ci_low",
        "ece_delta_ci_high",
        "brier",
        "reference_brier",
    )
    evidence = {k: calibration.metrics[k] for k in keys if k in calibration.metrics}
    evidence.update(_ranking_evidence(performance))
    return Recommendation("recalibrate", tuple(reasons), evidence)


def _threshold_proposal(ran: Mapping[str, CheckResult]) -> Finding | None:
    threshold = ran.get("threshold")
    return (
        None if threshold is None else next((f for f in threshold.findings if f.subject == "threshold"), None)
    )


def _ranking_intact(performance: CheckResult | None) -> bool:
    """Labelled ROC AUC was measured and has no degradation finding."""
    if performance is None or RANKING_METRIC not in performance.metrics:
        return False
    return not any(f.method == RANKING_METRIC for f in _alerts(performance))


def _retrain(
    ran: Mapping[str, CheckResult],
    rules: PolicyRules,
    drift_reasons: list[str],
    drift_evidence: dict[str, Any],
) -> Recommendation | None:
    reasons: list[str] = []
    evidence: dict[str, Any] = {}
    if "performance" in ran:
        source, degraded = "performance", _alerts(ran["performance"])
    else:  # label-free estimates mark their (significant and material) degradations "warn"
        source = "estimated_performance"
        estimated = ran.get(source)
        degraded = (
            list(estimated.findings) if estimated is not None and rules.use_estimated_performance else []
        )
    for f in degraded:
        if f.subject == "model" and f.method in rules.retrain_metrics:
            label = "Estimated (no mature labels yet): " if source == "estimated_performance" else ""
            reasons.append(f"{label}{_sentence(f.message)[:-1]} -- the model lost predictive power.")
            evidence[f.method] = f.statistic
            evidence[f"reference_{f.method}"] = f.evidence.get("reference")
            evidence[f"{f.method}_source"] = source
    if drift_reasons:
        reasons += drift_reasons
        evidence.update(drift_evidence)
    reasons += _severe_segments(ran.get("segments"), rules, evidence)
    if not reasons:
        return None
    superseded = []
    calibration, proposal = ran.get("calibration"), _threshold_proposal(ran)
    if calibration is not None and calibration.status == "alert":
        superseded.append(f"recalibration (ECE {calibration.metrics.get('ece', math.nan):.3f})")
    if proposal is not None:
        superseded.append(f"a threshold retune (proposed {proposal.statistic:.4g})")
    if superseded:
        reasons.append(
            f"Retraining supersedes {' and '.join(superseded)}: the retrained model gets its own "
            "calibration and threshold."
        )
    return Recommendation("retrain", tuple(reasons), evidence)


def _heavy_drift(drift: CheckResult | None, rules: PolicyRules, evidence: dict[str, Any]) -> list[str]:
    if drift is None:
        return []
    reasons = [_sentence(f.message) for f in drift.findings if f.subject == "model" and f.severity == "alert"]
    if drift.metrics.get("dataset_drifted") and not reasons:
        reasons.append(f"{drift.metrics.get('share_drifted', math.nan):.0%} of the features drifted.")
    drifted = {
        f.subject.removeprefix("feature:"): float(f.evidence["importance"])
        for f in drift.findings
        if f.subject.startswith("feature:") and f.evidence.get("importance") is not None
    }
    if drifted:
        total = sum(drifted.values())
        top = max(drifted, key=lambda k: drifted[k])
        evidence["drifted_importance_share"] = total
        evidence["drifted_features"] = sorted(drifted, key=lambda k: -drifted[k])
        if not reasons and total >= rules.drifted_importance_share:
            reasons.append(
                f"The drifted features carry {total:.0%} of the feature importance "
                f"(rule: {rules.drifted_importance_share:.0%})."
            )
        elif not reasons and drifted[top] >= rules.top_feature_importance:
            reasons.append(
                f"Feature {top!r}, which carries {drifted[top]:.0%} of the feature importance, drifted."
            )
    if reasons:
        evidence["share_drifted"] = drift.metrics.get("share_drifted")
    return reasons


def _severe_segments(segments: CheckResult | None, rules: PolicyRules, evidence: dict[str, Any]) -> list[str]:
    reasons, severe = [], []
    for f in _alerts(segments):
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


def _prior_shift(ran: Mapping[str, CheckResult], rules: PolicyRules) -> tuple[str, dict[str, Any]] | None:
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


def _ranking_evidence(performance: CheckResult | None) -> dict[str, Any]:
    if performance is None or RANKING_METRIC not in performance.metrics:
        return {}
    m = performance.metrics
    return {
        RANKING_METRIC: m[RANKING_METRIC],
        f"reference_{RANKING_METRIC}": m.get(f"reference_{RANKING_METRIC}"),
    }


def _ranking_sentence(performance: CheckResult | None) -> str:
    e = _ranking_evidence(performance)
    if not e:
        return "Ranking power was not checked (no labelled ROC AUC in this run)."
    if e["reference_roc_auc"] is None:
        return f"ROC AUC is {e['roc_auc']:.3f} (no reference to compare)."
    return f"Ranking holds: ROC AUC {e['roc_auc']:.3f} vs {e['reference_roc_auc']:.3f} in the reference."
