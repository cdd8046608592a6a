"""The multiclass prior-correction rule of the policy (:func:`monitor.policy.decision.decide` applies it).

**Correct the priors** when the ``class_prior`` check found a class-prior shift (the label
mix moved significantly and materially while the scores within each true class held), the
labelled ``performance`` check measured the one-vs-rest ROC AUC and found no degradation of
it (ranking holds, overall and per class), and the prior correction fitted on the older rows
of the window lowered the log loss of its newest rows (out of time). The correction is the
multiclass analogue of retuning a binary threshold: ``p'_k ∝ p_k * new_prior_k /
reference_prior_k``. It supersedes a recalibration and explains falls of the prior-dependent
metrics (accuracy, F1, log loss) and of calibration, which the reasons list; no retraining
is recommended for them.
"""

from __future__ import annotations

from collections.abc import Mapping

from checks.result import CheckResult, Recommendation
from monitor.policy.signals import RANKING_METRIC as RANKING
from monitor.policy.signals import ranking_evidence, ranking_intact

PRIOR_DEPENDENT = frozenset(
    {"accuracy", "macro_f1", "weighted_f1", "log_loss", "brier", "precision", "recall"}
)


def prior_correction(ran: Mapping[str, CheckResult]) -> Recommendation | None:
    """``correct_priors`` with its evidence when the rule of the module docstring holds, else None.

    >>> prior_correction({}) is None
    True
    """
    prior, performance = ran.get("class_prior"), ran.get("performance")
    shift = None if prior is None else next((f for f in prior.findings if f.method == "prior_shift"), None)
    if prior is None or shift is None or not ranking_intact(performance):
        return None
    correction = prior.details.get("correction", {})
    if not correction.get("improved"):
        return None
    m = performance.metrics
    reasons = [
        f"The class mix shifted: {shift.message.rstrip('.')}.",
        f"Ranking holds: one-vs-rest ROC AUC {m[RANKING]:.3f}"
        + (f" vs {m[f'reference_{RANKING}']:.3f} in the reference." if f"reference_{RANKING}" in m else "."),
        (
            f"Correcting the probabilities for the new priors lowers the out-of-time log loss from "
            f"{correction['log_loss_before']:.4f} to {correction['log_loss_after']:.4f} (top-label ECE "
            f"{correction['ece_before']:.3f} -> {correction['ece_after']:.3f})."
        ),
    ]
    explained = [f"{f.subject}: {f.method}" for f in performance.findings if f.method in PRIOR_DEPENDENT]
    calibration = ran.get("calibration")
    if calibration is not None and calibration.status == "alert":
        explained.append("calibration")
    if explained:
        reasons.append(
            f"The other findings ({', '.join(explained)}) follow from the new class mix; the prior "
            "correction addresses them without retraining or recalibrating."
        )
    evidence = {
        "classes": prior.details.get("classes"),
        "new_priors": correction.get("label_share_priors"),
        "reference_priors": shift.evidence.get("reference_shares"),
        "em_priors": correction.get("em_priors"),
        "chi2_p_value": shift.p_value,
        "max_odds_ratio": shift.statistic,
        "max_conditional_ks": shift.evidence.get("max_conditional_ks"),
        "log_loss_before": correction.get("log_loss_before"),
        "log_loss_after": correction.get("log_loss_after"),
        **ranking_evidence(performance),
    }
    return Recommendation("correct_priors", tuple(reasons), evidence)
