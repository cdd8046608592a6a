"""Class-prior shift of a multiclass model: the label mix moved, the class-conditional scores did not.

Under a *prior shift* (label shift) ``P(y)`` changes while ``P(x | y)`` does not, so the scores
of the rows of each true class keep their distribution. The model's probabilities are then
off by a known factor, and the Bayes correction
``p'_k ∝ p_k * new_prior_k / reference_prior_k`` (:func:`checks.temperature.prior_correction`)
restores them without retraining -- the multiclass analogue of retuning a binary threshold.

The check flags a prior shift when all of

* **the label mix moved, significantly**: chi-square test of homogeneity of the class counts
  (reference vs current), ``p < alpha``;
* **materially**: some class's odds ``share / (1 - share)`` changed by a factor of at least
  ``min_odds_ratio`` (either way);
* **the class-conditional scores held**: for every class ``k``, the distribution of the
  true-class probability ``p_k`` among the rows of class ``k`` did not change both materially
  (two-sample Kolmogorov-Smirnov distance above ``max_conditional_shift``) and significantly
  (KS ``p < 0.05``).

It fits the new priors two ways: the current window's label shares, and the
Saerens-Latinne-Decaestecker EM estimate from the current probabilities alone ([1]_; what a
label-free correction would use). The correction with the label shares is validated *out of
time*: fitted on the older rows of the window (their label shares), its log loss measured on
the newest ``holdout_fraction`` before and after.

References
----------
.. [1] Saerens, M., Latinne, P., Decaestecker, C. (2002). Adjusting the outputs of a
   classifier to new a priori probabilities: a simple procedure. Neural Computation 14(1), 21-41.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from checks._params import InvalidParameter, check_interval
from checks.multiclass_performance import multiclass_inputs
from checks.result import CheckResult, Finding
from checks.temperature import multiclass_summary, prior_correction


def em_priors(
    y_score: Any, reference_priors: Sequence[float], *, max_iter: int = 200, tol: float = 1e-8
) -> tuple[np.ndarray, int]:
    """Saerens-Latinne-Decaestecker EM estimate of the class priors of a window from its probabilities.

    Alternates ``p'_ik ∝ p_ik * pi_k / reference_k`` (E) and ``pi_k = mean_i p'_ik`` (M) from
    ``pi = reference``. Returns the priors and the number of iterations.

    Scores calibrated for priors (0.5, 0.5) (``x | y ~ N(+-1, 1)``), rows drawn with (0.8, 0.2):

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(np.where(rng.uniform(size=20000) < 0.8, 1.0, -1.0))
    >>> p1 = 1 / (1 + np.exp(-2 * x))
    >>> [round(float(v), 2) for v in em_priors(np.column_stack([p1, 1 - p1]), [0.5, 0.5])[0]]
    [0.8, 0.2]
    """
    p = np.asarray(y_score, dtype=np.float64)
    ref = np.asarray(reference_priors, dtype=np.float64)
    if p.ndim != 2 or ref.shape != (p.shape[1],) or (ref <= 0).any():
        raise InvalidParameter("em_priors needs an (n, k) probability matrix and k positive reference priors")
    pi = ref / ref.sum()
    for i in range(1, max_iter + 1):
        adjusted = p * (pi / ref)
        adjusted /= np.maximum(adjusted.sum(axis=1, keepdims=True), np.finfo(float).tiny)
        new = adjusted.mean(axis=0)
        if np.max(np.abs(new - pi)) < tol:
            return new, i
        pi = new
    return pi, max_iter


def _odds(share: np.ndarray) -> np.ndarray:
    s = np.clip(share, 1e-9, 1 - 1e-9)
    return s / (1 - s)


def class_prior_shift(
    y_true: Any,
    y_score: Any,
    *,
    classes: Sequence[Any],
    reference: tuple[Any, Any],
    order: Any = None,
    alpha: float = 0.01,
    min_odds_ratio: float = 1.25,
    max_conditional_shift: float = 0.1,
    holdout_fraction: float = 0.3,
) -> CheckResult:
    """Whether the class mix shifted at fixed class-conditional scores, and the prior correction.

    Parameters
    ----------
    y_true, y_score : the current window's labels and ``(n, n_classes)`` probabilities.
    classes : sequence
    reference : (y_true, y_score)
        The reference window's labels and probabilities (its label shares are the priors the
        model's probabilities reflect).
    order : array-like of shape (n_samples,), optional
        Timestamps of the current rows, for the out-of-time validation (default: row order).
    alpha : float, default=0.01
    min_odds_ratio : float, default=1.25
    max_conditional_shift : float, default=0.1
    holdout_fraction : float, default=0.3

    Returns
    -------
    CheckResult
        ``check="class_prior"``; ``alert`` with a ``prior_shift`` finding when the rule of the
        module docstring holds, else ``ok``. ``details["correction"]`` holds the correction
        (label-share priors, EM priors, held-out log loss before/after, ``improved``) and
        ``details["artifact"]`` the :class:`checks.temperature.MulticlassRecalibrator` JSON.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> def window(shares, n):
    ...     y = rng.choice(3, size=n, p=shares)
    ...     logits = rng.normal(size=(n, 3)) + 2.0 * np.eye(3)[y]
    ...     return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    >>> ref, cur = window([1 / 3, 1 / 3, 1 / 3], 6000), window([0.6, 0.2, 0.2], 6000)
    >>> class_prior_shift(*cur, classes=[0, 1, 2], reference=ref).status
    'alert'
    """
    func = "class_prior_shift"
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    check_interval("min_odds_ratio", min_odds_ratio, func, low=1.0)
    check_interval("max_conditional_shift", max_conditional_shift, func, low=0.0, high=1.0)
    check_interval("holdout_fraction", holdout_fraction, func, low=0.0, high=1.0, closed="neither")
    labels, y, p, _ = multiclass_inputs(y_true, y_score, classes, func)
    _, y_ref, p_ref, _ = multiclass_inputs(reference[0], reference[1], labels, func)
    if y.size == 0 or y_ref.size == 0:
        return CheckResult.skipped("class_prior", "needs labelled rows in both windows")
    counts = np.array([np.sum(y == c) for c in labels])
    ref_counts = np.array([np.sum(y_ref == c) for c in labels])
    if (ref_counts == 0).any():
        return CheckResult.skipped("class_prior", "a class has no labelled row in the reference")
    share, ref_share = counts / y.size, ref_counts / y_ref.size
    table = np.vstack([counts, ref_counts])
    present = table.sum(axis=0) > 0
    chi2_p = float(stats.chi2_contingency(table[:, present])[1])
    ratio = _odds(share) / _odds(ref_share)
    odds_ratio = float(np.max(np.maximum(ratio, 1 / ratio)))
    conditional = {}
    for k, c in enumerate(labels):
        a, b = p[y == c, k], p_ref[y_ref == c, k]
        if a.size and b.size:
            ks = stats.ks_2samp(a, b)
            conditional[str(c)] = {"ks": float(ks.statistic), "p_value": float(ks.pvalue), "n": int(a.size)}
    moved = [c for c, v in conditional.items() if v["ks"] > max_conditional_shift and v["p_value"] < 0.05]
    em, n_iter = em_priors(p, ref_share)
    correction = _validated_correction(y, p, labels, ref_share, order, holdout_fraction)
    correction.update(label_share_priors=share.tolist(), em_priors=em.tolist(), em_iterations=n_iter)
    metrics: dict[str, Any] = {
        "n": int(y.size),
        "reference_n": int(y_ref.size),
        "chi2_p_value": chi2_p,
        "max_odds_ratio": odds_ratio,
        "max_conditional_ks": max((v["ks"] for v in conditional.values()), default=math.nan),
        **{f"share[{c}]": float(s) for c, s in zip(labels, share, strict=True)},
        **{f"reference_share[{c}]": float(s) for c, s in zip(labels, ref_share, strict=True)},
        **{f"em_prior[{c}]": float(s) for c, s in zip(labels, em, strict=True)},
    }
    details: dict[str, Any] = {
        "classes": [str(c) for c in labels],
        "conditional_scores": conditional,
        "conditional_moved": moved,
        "correction": correction,
        "artifact": prior_correction(ref_share, np.maximum(share, 1e-6), classes=labels).to_json(),
        "rule": {
            "alpha": alpha,
            "min_odds_ratio": min_odds_ratio,
            "max_conditional_shift": max_conditional_shift,
        },
    }
    shifted = chi2_p < alpha and odds_ratio >= min_odds_ratio
    if not shifted or moved:
        if shifted:
            details["note"] = (
                f"the label mix moved but so did the scores within class(es) {moved}: not a prior shift"
            )
        return CheckResult(check="class_prior", status="ok", metrics=metrics, details=details)
    mix = ", ".join(f"{c} {s:.1%} (was {r:.1%})" for c, s, r in zip(labels, share, ref_share, strict=True))
    finding = Finding(
        subject="model",
        method="prior_shift",
        statistic=odds_ratio,
        threshold=min_odds_ratio,
        p_value=chi2_p,
        effect_size=odds_ratio,
        severity="alert",
        message=(
            f"class mix shifted ({mix}; chi-square p={chi2_p:.2g}) while the scores within each class held "
            f"(largest KS {metrics['max_conditional_ks']:.3f})"
        ),
        evidence={
            "shares": share.tolist(),
            "reference_shares": ref_share.tolist(),
            "em_priors": em.tolist(),
            "max_conditional_ks": metrics["max_conditional_ks"],
            "log_loss_before": correction.get("log_loss_before"),
            "log_loss_after": correction.get("log_loss_after"),
        },
    )
    return CheckResult(
        check="class_prior", status="alert", metrics=metrics, findings=(finding,), details=details
    )


def _validated_correction(
    y: np.ndarray,
    p: np.ndarray,
    labels: np.ndarray,
    ref_share: np.ndarray,
    order: Any,
    holdout_fraction: float,
) -> dict[str, Any]:
    """Fit the label-share correction on the older rows; log loss and ECE on the newest, before/after."""
    when = np.arange(y.size) if order is None else np.asarray(order)
    rows = np.argsort(when, kind="stable")
    n_hold = math.ceil(y.size * holdout_fraction)
    fit, hold = rows[: y.size - n_hold], rows[y.size - n_hold :]
    if fit.size == 0 or hold.size == 0:
        return {"improved": False, "reason": "too few rows to validate out of time"}
    fit_share = np.array([np.mean(y[fit] == c) for c in labels])
    corrected = prior_correction(ref_share, np.maximum(fit_share, 1e-6), classes=labels).apply(p[hold])
    before = multiclass_summary(y[hold], p[hold], labels)
    after = multiclass_summary(y[hold], corrected, labels)
    return {
        "improved": after["log_loss"] < before["log_loss"],
        "log_loss_before": before["log_loss"],
        "log_loss_after": after["log_loss"],
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "n_fit": int(fit.size),
        "n_holdout": int(hold.size),
    }
