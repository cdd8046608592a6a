"""Fitting, validating and exporting a recalibration map for a binary classifier's scores.

A recalibrator is a monotone map from the model's score to a calibrated probability. It is
exported as a small versioned JSON document (never a pickle) that a serving system applies
without driftwatch:

- ``"isotonic"``: ``probability = np.interp(score, x, y)`` with the breakpoints ``x``, ``y``
  (constant beyond the first and last breakpoint) -- isotonic regression ([1]_, [2]_);
- ``"platt"``: ``probability = sigmoid(a * logit(clip(score, eps, 1 - eps)) + b)`` -- Platt
  scaling on the logit of the score ([3]_).

:func:`propose_recalibration` fits on the older part of a recent labelled window and
validates *out of time* on its newest slice, so the proposal is judged on rows that come
after the rows it was fitted on, as it will be in production.

References
----------
.. [1] Zadrozny, B., Elkan, C. (2002). Transforming classifier scores into accurate
   multiclass probability estimates. KDD.
.. [2] Niculescu-Mizil, A., Caruana, R. (2005). Predicting good probabilities with
   supervised learning. ICML.
.. [3] Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons
   to regularized likelihood methods. Advances in Large Margin Classifiers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from checks._params import (
    InvalidParameter,
    as_float_array,
    binary_labels,
    check_interval,
    check_one_of,
    check_same_length,
    probabilities,
)
from checks.calibration import expected_calibration_error
from checks.details import RecalibrationSummary

FORMAT = "driftwatch.recalibrator"
VERSION = 1
METHODS = ("isotonic", "platt")
#: Scores are clipped to [EPS, 1 - EPS] before the logit (Platt) and probabilities before the log loss.
EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1 - EPS)
    return np.log(q) - np.log1p(-q)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))


def calibration_summary(y: np.ndarray, p: np.ndarray, *, n_bins: int = 10) -> dict[str, float]:
    """ECE (uniform bins), log loss (probabilities clipped to [EPS, 1 - EPS]) and Brier score.

    >>> calibration_summary(np.array([0.0, 1.0]), np.array([0.0, 1.0]))["brier"]
    0.0
    """
    return {
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "log_loss": _log_loss(y, p),
        "brier": float(np.mean((p - y) ** 2)),
    }


@dataclass(frozen=True)
class Recalibrator:
    """A fitted score -> probability map with its provenance; see the module docstring.

    ``params`` is ``{"x": [...], "y": [...]}`` for isotonic and ``{"a": a, "b": b, "eps": EPS}``
    for Platt. ``fitted_on`` and ``metrics`` are carried verbatim into the JSON artifact: the
    monitor fills ``fitted_on`` (model, version, window) before writing it.
    """

    method: str
    params: Mapping[str, Any]
    fitted_on: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, scores: Any) -> np.ndarray:
        """Calibrated probabilities for ``scores`` (array-like of shape (n_samples,))."""
        s = as_float_array(scores, "scores", "Recalibrator.apply")
        if self.method == "isotonic":
            return np.interp(s, np.asarray(self.params["x"], float), np.asarray(self.params["y"], float))
        z = self.params["a"] * _logit(s) + self.params["b"]
        return 1.0 / (1.0 + np.exp(-z))

    def with_provenance(self, **fitted_on: Any) -> Recalibrator:
        """A copy whose ``fitted_on`` also holds the given keys (model, version, window...)."""
        return Recalibrator(self.method, self.params, {**self.fitted_on, **fitted_on}, self.metrics)

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (plain dict of str, float, list) a serving system applies."""
        formula = (
            "probability = interp(score, x, y), constant outside [x[0], x[-1]]"
            if self.method == "isotonic"
            else "probability = 1 / (1 + exp(-(a * logit(clip(score, eps, 1 - eps)) + b)))"
        )
        return {
            "format": FORMAT,
            "version": VERSION,
            "method": self.method,
            "apply": formula,
            "params": _plain(self.params),
            "fitted_on": _plain(self.fitted_on),
            "metrics": _plain(self.metrics),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Recalibrator:
        """Rebuild from :meth:`to_json` output; unknown format or version is rejected."""
        if document.get("format") != FORMAT:
            raise InvalidParameter(f"not a {FORMAT} document: format={document.get('format')!r}")
        if document.get("version") != VERSION:
            raise InvalidParameter(f"{FORMAT} version {document.get('version')!r} is not supported")
        method = document.get("method")
        check_one_of("method", method, METHODS, "Recalibrator.from_json")
        params = dict(document["params"])
        needed = {"x", "y"} if method == "isotonic" else {"a", "b"}
        if not needed <= params.keys():
            raise InvalidParameter(
                f"{method} recalibrator needs params {sorted(needed)}; got {sorted(params)}"
            )
        return cls(
            str(method), params, dict(document.get("fitted_on", {})), dict(document.get("metrics", {}))
        )


def _plain(value: Any) -> Any:
    """Numbers, lists and dicts only, with non-finite floats as None (JSON-safe)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fit_recalibrator(y_true: Any, y_score: Any, *, method: str = "isotonic") -> Recalibrator:
    """Fit an isotonic or Platt recalibration map with scikit-learn.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Outcomes, 0 or 1 (both classes present).
    y_score : array-like of shape (n_samples,)
        The model's scores in [0, 1].
    method : {"isotonic", "platt"}, default="isotonic"
        ``IsotonicRegression(out_of_bounds="clip")`` on the score, or an unpenalised
        ``LogisticRegression`` on ``logit(score)``.

    Examples
    --------
    >>> r = fit_recalibrator([0, 0, 1, 0, 1, 1], [0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    >>> r.apply([0.05, 0.95]).tolist()
    [0.0, 1.0]
    """
    func = "fit_recalibrator"
    check_one_of("method", method, METHODS, func)
    y, s = binary_labels(y_true, "y_true", func), probabilities(y_score, "y_score", func)
    check_same_length(func, y_true=y, y_score=s)
    if np.unique(y).size != 2:
        raise InvalidParameter(f"'y_true' of {func} must hold both classes 0 and 1")
    # scikit-learn is imported on use: most runs fit nothing, and it costs a CLI start ~0.5 s.
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
        params: dict[str, Any] = {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
    else:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=np.inf).fit(_logit(s)[:, None], y)
        params = {"a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0]), "eps": EPS}
    return Recalibrator(method, params, {"n": int(y.size), "positives": int(y.sum())})


@dataclass(frozen=True)
class RecalibrationProposal:
    """The outcome of :func:`propose_recalibration`.

    ``improved`` is False (and ``recalibrator`` None) when no method lowered the held-out log
    loss; ``reason`` then says why. ``before`` and ``after`` are measured on the held-out
    (newest) slice; ``candidates`` holds the held-out metrics of every method tried.
    """

    improved: bool
    reason: str
    method: str | None
    recalibrator: Recalibrator | None
    before: Mapping[str, float]
    after: Mapping[str, float] | None
    candidates: Mapping[str, Mapping[str, float]]
    n_fit: int
    n_holdout: int

    @property
    def artifact(self) -> dict[str, Any] | None:
        """The JSON document to write, or None when there is nothing to propose."""
        return None if self.recalibrator is None else self.recalibrator.to_json()


def proposal_summary(proposal: Any) -> RecalibrationSummary:
    """The recorded summary of a binary or multiclass recalibration proposal (same fields)."""
    after = proposal.after or {}
    return RecalibrationSummary(
        improved=proposal.improved,
        reason=proposal.reason,
        method=proposal.method,
        ece_before=proposal.before.get("ece"),
        ece_after=after.get("ece"),
        log_loss_before=proposal.before.get("log_loss"),
        log_loss_after=after.get("log_loss"),
        n_fit=proposal.n_fit,
        n_holdout=proposal.n_holdout,
    )


def propose_recalibration(
    y_true: Any,
    y_score: Any,
    order: Any,
    *,
    holdout_fraction: float = 0.3,
    methods: Sequence[str] = METHODS,
    n_bins: int = 10,
    min_fit_samples: int = 100,
    min_relative_gain: float = 0.005,
) -> RecalibrationProposal:
    """Fit recalibrators on the older rows, pick the best on the newest rows (out of time).

    Parameters
    ----------
    y_true, y_score : array-like of shape (n_samples,)
        Outcomes (0/1) and scores of a recent window whose labels have matured.
    order : array-like of shape (n_samples,)
        Timestamps (or any sortable order) of the rows; the newest ``holdout_fraction`` of
        rows is held out.
    holdout_fraction : float, default=0.3
    methods : sequence of {"isotonic", "platt"}, default=("isotonic", "platt")
    n_bins : int, default=10
        Uniform bins of the ECE reported before/after.
    min_fit_samples : int, default=100
        Fewer fitting rows (or a fitting slice with one class only) proposes nothing.
    min_relative_gain : float, default=0.005
        The best method must lower the held-out log loss by at least this fraction of it.

    Returns
    -------
    RecalibrationProposal
        The method with the lowest held-out log loss, if it beats the raw scores.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> p = rng.uniform(0.01, 0.99, 3000)
    >>> y = (rng.uniform(size=3000) < p).astype(int)
    >>> distorted = 1 / (1 + np.exp(-(2 * np.log(p / (1 - p)) + 1)))
    >>> proposal = propose_recalibration(y, distorted, np.arange(3000))
    >>> proposal.improved, proposal.after["ece"] < proposal.before["ece"]
    (True, True)
    """
    func = "propose_recalibration"
    check_interval("holdout_fraction", holdout_fraction, func, low=0.0, high=1.0, closed="neither")
    check_interval("min_relative_gain", min_relative_gain, func, low=0.0, high=1.0)
    for m in methods:
        check_one_of("method", m, METHODS, func)
    if not methods:
        raise InvalidParameter(f"'methods' of {func} must not be empty")
    y, s = binary_labels(y_true, "y_true", func), probabilities(y_score, "y_score", func)
    when = np.asarray(order.to_numpy() if isinstance(order, pd.Series) else order)
    check_same_length(func, y_true=y, y_score=s, order=when)
    rows = np.argsort(when, kind="stable")
    n_holdout = math.ceil(y.size * holdout_fraction)
    fit_rows, hold_rows = rows[: y.size - n_holdout], rows[y.size - n_holdout :]
    y_fit, s_fit, y_hold, s_hold = y[fit_rows], s[fit_rows], y[hold_rows], s[hold_rows]

    def nothing(
        reason: str, before: Mapping[str, float], candidates: Mapping[str, Any]
    ) -> RecalibrationProposal:
        return RecalibrationProposal(
            False, reason, None, None, before, None, candidates, y_fit.size, y_hold.size
        )

    if y_fit.size < min_fit_samples or np.unique(y_fit).size < 2 or y_hold.size == 0:
        return nothing(
            f"not enough data: {y_fit.size} fitting rows (min {min_fit_samples}, both classes), "
            f"{y_hold.size} held-out rows",
            {},
            {},
        )
    before = calibration_summary(y_hold, s_hold, n_bins=n_bins)
    fitted = {m: fit_recalibrator(y_fit, s_fit, method=m) for m in methods}
    candidates = {m: calibration_summary(y_hold, r.apply(s_hold), n_bins=n_bins) for m, r in fitted.items()}
    best = min(candidates, key=lambda m: candidates[m]["log_loss"])
    if candidates[best]["log_loss"] > before["log_loss"] * (1 - min_relative_gain):
        return nothing(
            f"no method lowered the held-out log loss by {100 * min_relative_gain:g}% or more "
            f"({before['log_loss']:.4f} before; best {best} {candidates[best]['log_loss']:.4f})",
            before,
            candidates,
        )
    chosen = fitted[best]
    metrics = {
        "holdout": {"before": before, "after": candidates[best]},
        "candidates": candidates,
        "n_fit": int(y_fit.size),
        "n_holdout": int(y_hold.size),
        "holdout_fraction": holdout_fraction,
    }
    recalibrator = Recalibrator(chosen.method, chosen.params, chosen.fitted_on, metrics)
    after = candidates[best]
    reason = (
        f"{best} lowers the out-of-time log loss from {before['log_loss']:.4f} to {after['log_loss']:.4f} "
        f"and the ECE from {before['ece']:.3f} to {after['ece']:.3f}"
    )
    return RecalibrationProposal(
        True, reason, best, recalibrator, before, candidates[best], candidates, y_fit.size, y_hold.size
    )
