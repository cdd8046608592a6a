"""From the findings of one run to one decision: retrain, recalibrate, retune, investigate the data, or none.

The policy reads every check result of a run together, because the same symptom calls for
different actions depending on what else is true. Skipped checks count as not run.

A window **calls for a decision** when it has a label-based alert (``performance``,
``calibration``, ``segments``), a threshold proposal, heavy drift, or an estimated-performance
warning. Such a window gets exactly one recommended action, or, when the policy declines,
"no action" with the reason (:attr:`Decision.no_action`). A window with other findings only
(data quality, latency, drift of unimportant features) gets no action and a reason too.

The decision table, first matching row wins:

== ==================== ===========================================================================
#  action               when
== ==================== ===========================================================================
1  investigate_data     something calls for a decision and the *data* is suspect: a data-quality
                        finding on missing values, a constant column, quarantined rows, new or
                        vanished categories or a traffic drop (``alert``), or categories that held at least
                        ``vanished_category_share`` of the reference vanished from a drifted column
2  retrain              lost ranking power: a ``performance`` alert on ``roc_auc`` (binary),
                        ``rmse``/``mae`` (regression) or ``macro_f1`` (multiclass); or the same
                        *estimated* before labels arrive (``use_estimated_performance``)
3  investigate_data     a population-mix change: at least ``population_mix_share`` of the features
                        drifted, the score drifted, and the label share moved (drift of the label,
                        or the calibration check's base-rate test at ``prior_shift_alpha``) with
                        the mean score following it (not a prior shift), while calibration holds
                        (the ``calibration`` check ran and did not alert) and ranking held
4  retrain              heavy drift: the drift check's dataset rule fired, or the drifted features
                        carry ``drifted_importance_share`` of the importance (configured, or
                        estimated from the reference: the score's dependence on each feature), or
                        one of them ``top_feature_importance``; except under a prior shift with
                        ranking verified intact (the new class mix moves the features)
5  retrain              a severe segment: flagged against its own reference, its error grew at
                        least ``segment_retrain_ratio`` times as much as the rest of the window's
                        (ratio of ratios) in at least ``segment_retrain_min_share`` of the rows
6  retune_threshold     the threshold check proposes a better threshold (significant, material
                        gain) and there is a prior shift or calibration did not degrade
7  recalibrate          the calibration check alerts and it is not a prior shift that a new
                        threshold handles
8  (none, with reason)  everything else that called for a decision: a segment finding below the
                        retrain rule, threshold-dependent or probability metrics that fell while
                        ranking and calibration hold and no better threshold exists, an estimated
                        drop in a metric other than ranking, a prior shift without a better threshold
== ==================== ===========================================================================

*Prior shift* means the class balance moved and the model's scores did not follow: the
``calibration`` check's positive rate differs from the reference's with ``base_rate_p_value <
prior_shift_alpha`` and an odds ratio of at least ``prior_shift_min_odds_ratio``, while the mean
score moved by at most ``prior_shift_max_explained`` of the positive rate's move. (Under
covariate shift a sound model's mean score follows the positive rate; under a prior shift,
with P(x | y) unchanged, it cannot.)

Retraining supersedes recalibration and threshold retuning (a retrained model comes with its
own calibration and threshold); the reasons say when those checks fired too. Under a prior
shift a threshold proposal wins over the calibration alert (the probabilities are off as a
consequence of the new balance); otherwise a calibration alert wins over a threshold
proposal, which follows from the distorted scores.

Multiclass models: a class-prior shift with ranking intact calls for **correct_priors**
(:mod:`monitor.policy.class_prior`), after suspect data and before the other rows; otherwise
the rows apply with the one-vs-rest ROC AUC as the ranking metric and top-label / class-wise
ECE as the calibration check.

The policy leaves ``Recommendation.artifact`` as None; the runner attaches the fitted
recalibrator's path or the proposed threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.result import CheckResult, Finding, Recommendation
from monitor.policy.class_prior import prior_correction
from monitor.policy.signals import (
    PolicyRules,
    alert_findings,
    data_suspect,
    heavy_drift,
    lost_ranking,
    population_mix,
    prior_shift,
    ranking_evidence,
    ranking_intact,
    ranking_sentence,
    sentence,
    severe_segments,
    threshold_proposal,
)

LABEL_ALERT_CHECKS = ("performance", "calibration", "segments", "class_prior")
DEFAULT_RULES = PolicyRules()


@dataclass(frozen=True)
class Decision:
    """The policy's decision for one run: one recommendation, or none with the reason."""

    recommendation: Recommendation | None
    no_action: str | None = None

    @property
    def recommendations(self) -> tuple[Recommendation, ...]:
        return () if self.recommendation is None else (self.recommendation,)


def recommend(
    checks: Sequence[CheckResult], *, rules: PolicyRules = DEFAULT_RULES
) -> tuple[Recommendation, ...]:
    """The recommendation the check results of one run call for, as a tuple (empty when none).

    >>> recommend([CheckResult(check="performance", status="ok")])
    ()
    """
    return decide(checks, rules=rules).recommendations


def decide(checks: Sequence[CheckResult], *, rules: PolicyRules = DEFAULT_RULES) -> Decision:
    """The one action the check results of one run call for, or none with the reason.

    Parameters
    ----------
    checks : sequence of CheckResult
        All results of the run; checks are found by name (``"performance"``,
        ``"estimated_performance"``, ``"calibration"``, ``"threshold"``, ``"drift"``,
        ``"segments"``, ``"data_quality"``; others are ignored, skipped results count as not run).
    rules : PolicyRules, default=PolicyRules()

    Returns
    -------
    Decision
        ``recommendation`` per the decision table of the module docstring; ``no_action`` says
        why there is none when any check warned or alerted (None when all is well).

    Examples
    --------
    >>> decide([CheckResult(check="latency", status="alert")]).no_action
    'No model action: the latency findings are alerts in their own right, not model actions.'
    """
    ran = {c.check: c for c in checks if c.status != "skipped"}
    prior = prior_shift(ran, rules)
    drift_evidence: dict[str, Any] = {}
    drift_reasons = heavy_drift(ran.get("drift"), rules, drift_evidence)
    if prior is not None and ranking_intact(ran.get("performance")):
        drift_explained, drift_reasons = drift_reasons, []
    else:
        drift_explained = []
    segment_evidence: dict[str, Any] = {}
    segment_reasons = severe_segments(ran.get("segments"), rules, segment_evidence)
    lost = lost_ranking(ran, rules)
    triggers = _triggers(ran, bool(drift_reasons or drift_explained))
    if not triggers:
        return Decision(None, _quiet_reason(ran))
    suspect = data_suspect(ran, rules)
    if suspect is not None:
        return Decision(_investigate(ran, suspect[0], suspect[1], triggers))
    corrected = prior_correction(ran)
    if corrected is not None:
        return Decision(corrected)
    if lost[0]:
        reasons = lost[0] + drift_reasons + segment_reasons
        return Decision(_retrain(ran, reasons, {**lost[1], **drift_evidence, **segment_evidence}))
    mix = population_mix(ran, prior, rules)
    if mix is not None:
        return Decision(_investigate(ran, mix[0], mix[1], triggers))
    if drift_reasons or segment_reasons:
        return Decision(
            _retrain(ran, drift_reasons + segment_reasons, {**drift_evidence, **segment_evidence})
        )
    notes = []
    if drift_explained:
        notes.append(
            "The feature drift is what a class-balance shift produces and ranking holds, so it does "
            f"not call for retraining ({' '.join(drift_explained)})"
        )
    calibration = ran.get("calibration")
    calibration_alert = calibration is not None and calibration.status == "alert"
    proposal = threshold_proposal(ran)
    if proposal is not None and (prior is not None or not calibration_alert):
        return Decision(_retune(proposal, prior, calibration_alert, ran.get("performance"), notes))
    if calibration is not None and calibration_alert:
        return Decision(_recalibrate(calibration, proposal, prior, ran.get("performance"), notes))
    return Decision(None, _decline(ran, prior, rules, notes))


def _triggers(ran: Mapping[str, CheckResult], drifted_heavily: bool) -> list[str]:
    """What in the run calls for a decision (empty: nothing does)."""
    out = [name for name in LABEL_ALERT_CHECKS if alert_findings(ran.get(name))]
    if threshold_proposal(ran) is not None:
        out.append("threshold")
    if drifted_heavily:
        out.append("drift")
    estimated = ran.get("estimated_performance")
    if "performance" not in ran and estimated is not None and estimated.findings:
        out.append("estimated_performance")
    return out


def _quiet_reason(ran: Mapping[str, CheckResult]) -> str | None:
    failing = [c.check.replace("_", " ") for c in ran.values() if c.status in ("warn", "alert")]
    if not failing:
        return None
    reason = f"No model action: the {', '.join(failing)} findings are alerts in their own right"
    if "drift" in failing:
        return reason + "; the drifted features do not carry enough of the importance to call for retraining."
    return reason + ", not model actions."


def _retrain(ran: Mapping[str, CheckResult], reasons: list[str], evidence: dict[str, Any]) -> Recommendation:
    superseded = []
    calibration, proposal = ran.get("calibration"), threshold_proposal(ran)
    if calibration is not None and calibration.status == "alert":
        superseded.append(f"recalibration (ECE {calibration.metrics.get('ece', math.nan):.3f})")
    if proposal is not None:
        superseded.append(f"a threshold retune (proposed {proposal.statistic:.4g})")
    if superseded:
        reasons = [
            *reasons,
            f"Retraining supersedes {' and '.join(superseded)}: the retrained model gets its own "
            "calibration and threshold.",
        ]
    return Recommendation("retrain", tuple(reasons), evidence)


def _investigate(
    ran: Mapping[str, CheckResult], reasons: list[str], evidence: dict[str, Any], triggers: list[str]
) -> Recommendation:
    reasons = [
        *reasons,
        f"Check the upstream data and the segment mix before changing the model (this window's "
        f"{', '.join(t.replace('_', ' ') for t in triggers)} findings may follow from it).",
    ]
    evidence = {**evidence, **ranking_evidence(ran.get("performance"))}
    return Recommendation("investigate_data", tuple(reasons), evidence)


def _decline(
    ran: Mapping[str, CheckResult],
    prior: tuple[str, dict[str, Any]] | None,
    rules: PolicyRules,
    notes: list[str],
) -> str:
    """Why nothing is recommended although something called for a decision."""
    parts = []
    fell = [f.method for f in alert_findings(ran.get("performance"))]
    if fell:
        parts.append(
            f"{', '.join(fell)} fell while ranking holds, calibration holds and no better threshold was "
            "found: a degradation within the configured tolerance of the model-level rules"
        )
    for f in alert_findings(ran.get("segments")):
        ratio = f.evidence.get("ratio_of_ratios")
        share = float(f.evidence.get("share") or 0.0)
        size = "ratio of ratios n/a" if ratio is None else f"ratio of ratios {ratio:.2f}"
        parts.append(
            f"{f.subject.removeprefix('segment:')} is worse ({size}, {share:.0%} of the rows) but below "
            f"the retrain rule ({rules.segment_retrain_ratio:g}x in at least "
            f"{rules.segment_retrain_min_share:.0%} of the rows): watch it"
        )
    estimated = ran.get("estimated_performance")
    if "performance" not in ran and estimated is not None and estimated.findings:
        names = ", ".join(f.method for f in estimated.findings)
        parts.append(
            f"the estimated {names} fell, but not the estimated ranking power (or estimates are not "
            "used): the labelled checks decide once labels mature"
        )
    if prior is not None:
        parts.append(f"the class balance shifted ({prior[0]}) but no better threshold was found")
    parts += [n[0].lower() + n[1:] for n in notes]
    return "No action: " + "; ".join(parts) + "."


def _retune(
    proposal: Finding,
    prior: tuple[str, dict[str, Any]] | None,
    calibration_alert: bool,
    performance: CheckResult | None,
    notes: list[str],
) -> Recommendation:
    reasons = [
        f"The threshold check proposes a better threshold: {sentence(proposal.message)}",
        ranking_sentence(performance),
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
        **ranking_evidence(performance),
    }
    return Recommendation("retune_threshold", tuple(reasons), evidence)


def _recalibrate(
    calibration: CheckResult,
    proposal: Finding | None,
    prior: tuple[str, dict[str, Any]] | None,
    performance: CheckResult | None,
    notes: list[str],
) -> Recommendation:
    reasons = [sentence(f.message) for f in alert_findings(calibration)]
    reasons += [ranking_sentence(performance), *notes]
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
    evidence.update(ranking_evidence(performance))
    return Recommendation("recalibrate", tuple(reasons), evidence)
