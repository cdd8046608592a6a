"""Recalibrating a multiclass model's probabilities: temperature and vector scaling, prior correction.

Every map here is a softmax of an affine function of the log-probabilities,

    probability_k = exp(a_k * log(clip(p_k, eps, 1)) + b_k) / sum_j exp(a_j * log(clip(p_j, eps, 1)) + b_j)

and is exported as a small versioned JSON document (never a pickle) with that formula:

- ``"temperature"``: ``a_k = 1 / T``, ``b_k = 0`` -- temperature scaling ([1]_); one
  parameter, keeps the arg-max (accuracy and ranking within a row unchanged);
- ``"vector"``: free ``a_k``, ``b_k`` -- vector scaling ([1]_), fitted only when it validates
  better than temperature scaling;
- ``"prior_correction"``: ``a_k = 1``, ``b_k = log(new_prior_k / reference_prior_k)`` -- the
  Bayes correction for a change of the class priors at fixed ``P(x | y)`` ([2]_).

:func:`propose_multiclass_recalibration` fits on the older part of a labelled window and
validates *out of time* on its newest slice, as :func:`checks.recalibration.propose_recalibration`.

References
----------
.. [1] Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). On calibration of modern
   neural networks. ICML.
.. [2] Saerens, M., Latinne, P., Decaestecker, C. (2002). Adjusting the outputs of a
   classifier to new a priori probabilities: a simple procedure. Neural Computation 14(1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from checks._params import InvalidParameter, check_interval, check_one_of
from checks.multiclass_calibration import multiclass_calibration
from checks.multiclass_performance import multiclass_inputs

FORMAT = "driftwatch.multiclass_recalibrator"
VERSION = 1
METHODS = ("temperature", "vector", "prior_correction")
FITTED = ("temperature", "vector")
EPS = 1e-6
FORMULA = (
    "probability_k = exp(a_k * log(clip(p_k, eps, 1)) + b_k) "
    "/ sum_j exp(a_j * log(clip(p_j, eps, 1)) + b_j), p_k the model's probability of classes[k]"
)


def _log(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, EPS, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def scaled(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``softmax(a * log(clip(p, EPS, 1)) + b)`` row by row (the module's formula)."""
    return _softmax(_log(p) * a + b)


def _nll(y_onehot: np.ndarray, q: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(np.sum(q * y_onehot, axis=1), EPS, 1.0))))


@dataclass(frozen=True)
class MulticlassRecalibrator:
    """A fitted probability map with its provenance (see the module docstring).

    ``params`` holds ``a`` and ``b`` (one value per class, in the order of ``classes``) and
    ``eps``; a temperature recalibrator also holds ``temperature``.
    """

    method: str
    classes: tuple[str, ...]
    params: Mapping[str, Any]
    fitted_on: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, probabilities: Any) -> np.ndarray:
        """Recalibrated probabilities for an ``(n_samples, n_classes)`` matrix."""
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != len(self.classes):
            raise InvalidParameter(
                f"'probabilities' of MulticlassRecalibrator.apply must have {len(self.classes)} columns "
                f"(classes {list(self.classes)}); got shape {p.shape}"
            )
        return scaled(p, np.asarray(self.params["a"], float), np.asarray(self.params["b"], float))

    def with_provenance(self, **fitted_on: Any) -> MulticlassRecalibrator:
        """A copy whose ``fitted_on`` also holds the given keys (model, version, window...)."""
        return MulticlassRecalibrator(
            self.method, self.classes, self.params, {**self.fitted_on, **fitted_on}, self.metrics
        )

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (plain dict of str, float, list) a serving system applies."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "method": self.method,
            "classes": list(self.classes),
            "apply": FORMULA,
            "params": _plain(self.params),
            "fitted_on": _plain(self.fitted_on),
            "metrics": _plain(self.metrics),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> MulticlassRecalibrator:
        """Rebuild from :meth:`to_json` output; unknown format or version is rejected."""
        if document.get("format") != FORMAT:
            raise InvalidParameter(f"not a {FORMAT} document: format={document.get('format')!r}")
        if document.get("version") != VERSION:
            raise InvalidParameter(f"{FORMAT} version {document.get('version')!r} is not supported")
        method = document.get("method")
        check_one_of("method", method, METHODS, "MulticlassRecalibrator.from_json")
        params, classes = dict(document["params"]), tuple(document.get("classes", ()))
        if not {"a", "b"} <= params.keys() or not len(params["a"]) == len(params["b"]) == len(classes):
            raise InvalidParameter(f"{FORMAT}: params 'a' and 'b' need one value per class {list(classes)}")
        return cls(
            str(method),
            classes,
            params,
            dict(document.get("fitted_on", {})),
            dict(document.get("metrics", {})),
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _recalibrator(
    method: str, labels: np.ndarray, a: np.ndarray, b: np.ndarray, **extra: Any
) -> MulticlassRecalibrator:
    params = {"a": a.tolist(), "b": b.tolist(), "eps": EPS, **extra}
    return MulticlassRecalibrator(method, tuple(str(c) for c in labels), params)


def fit_temperature(y_true: Any, y_score: Any, *, classes: Sequence[Any]) -> MulticlassRecalibrator:
    """Temperature scaling: the ``T`` in [0.05, 20] minimising the log loss of ``softmax(log p / T)``.

    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(4000, 3)) * 2
    >>> p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    >>> y = np.array([rng.choice(3, p=row) for row in p])
    >>> sharp = np.exp(2 * logits) / np.exp(2 * logits).sum(axis=1, keepdims=True)
    >>> round(fit_temperature(y, sharp, classes=[0, 1, 2]).params["temperature"], 1)
    2.0
    """
    labels, y, p, _ = multiclass_inputs(y_true, y_score, classes, "fit_temperature")
    onehot = (y[:, None] == labels[None, :]).astype(np.float64)
    logp = _log(p)

    def loss(log_t: float) -> float:
        return _nll(onehot, _softmax(logp / math.exp(log_t)))

    res = optimize.minimize_scalar(loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    t = math.exp(float(res.x))
    k = len(labels)
    return _recalibrator("temperature", labels, np.full(k, 1.0 / t), np.zeros(k), temperature=t)


def fit_vector_scaling(y_true: Any, y_score: Any, *, classes: Sequence[Any]) -> MulticlassRecalibrator:
    """Vector scaling: per-class ``a_k``, ``b_k`` minimising the log loss (L-BFGS, exact gradient)."""
    labels, y, p, _ = multiclass_inputs(y_true, y_score, classes, "fit_vector_scaling")
    onehot = (y[:, None] == labels[None, :]).astype(np.float64)
    logp, k, n = _log(p), len(labels), len(y)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = theta[:k], theta[k:]
        q = _softmax(logp * a + b)
        g = (q - onehot) / n
        return _nll(onehot, q), np.concatenate([np.sum(g * logp, axis=0), g.sum(axis=0)])

    res = optimize.minimize(loss, np.r_[np.ones(k), np.zeros(k)], jac=True, method="L-BFGS-B")
    b = res.x[k:] - res.x[k:].mean()  # softmax is unchanged by a common shift of b
    return _recalibrator("vector", labels, res.x[:k], b)


def prior_correction(
    reference_priors: Sequence[float], new_priors: Sequence[float], *, classes: Sequence[Any]
) -> MulticlassRecalibrator:
    """The Bayes correction of the probabilities for new class priors (``b_k = log(new_k / ref_k)``).

    >>> r = prior_correction([0.5, 0.5], [0.8, 0.2], classes=["a", "b"])
    >>> r.apply([[0.5, 0.5]]).round(3).tolist()
    [[0.8, 0.2]]
    """
    ref, new = np.asarray(reference_priors, float), np.asarray(new_priors, float)
    if ref.shape != new.shape or ref.shape != (len(classes),) or (ref <= 0).any() or (new <= 0).any():
        raise InvalidParameter(
            f"prior_correction needs positive priors, one per class {list(classes)}; got {ref.tolist()} "
            f"and {new.tolist()}"
        )
    labels = np.asarray(classes)
    return _recalibrator(
        "prior_correction",
        labels,
        np.ones(len(labels)),
        np.log(new / new.sum()) - np.log(ref / ref.sum()),
        reference_priors=(ref / ref.sum()).tolist(),
        new_priors=(new / new.sum()).tolist(),
    )


def multiclass_summary(
    y: np.ndarray, p: np.ndarray, labels: np.ndarray, *, n_bins: int = 10
) -> dict[str, float]:
    """Top-label ECE, class-wise ECE, log loss (probabilities clipped at EPS) and Brier score."""
    m = multiclass_calibration(y, p, classes=labels, n_bins=n_bins)
    onehot = (y[:, None] == labels[None, :]).astype(np.float64)
    return {
        "ece": m.top_label_ece,
        "classwise_ece": m.classwise_ece,
        "log_loss": _nll(onehot, p),
        "brier": m.brier,
    }


@dataclass(frozen=True)
class MulticlassRecalibrationProposal:
    """The outcome of :func:`propose_multiclass_recalibration` (fields as
    :class:`checks.recalibration.RecalibrationProposal`)."""

    improved: bool
    reason: str
    method: str | None
    recalibrator: MulticlassRecalibrator | None
    before: Mapping[str, float]
    after: Mapping[str, float] | None
    candidates: Mapping[str, Mapping[str, float]]
    n_fit: int
    n_holdout: int

    @property
    def artifact(self) -> dict[str, Any] | None:
        """The JSON document to write, or None when there is nothing to propose."""
        return None if self.recalibrator is None else self.recalibrator.to_json()


_FITTERS = {"temperature": fit_temperature, "vector": fit_vector_scaling}


def propose_multiclass_recalibration(
    y_true: Any,
    y_score: Any,
    order: Any,
    *,
    classes: Sequence[Any],
    holdout_fraction: float = 0.3,
    methods: Sequence[str] = FITTED,
    n_bins: int = 10,
    min_fit_samples: int = 100,
    min_relative_gain: float = 0.005,
) -> MulticlassRecalibrationProposal:
    """Fit temperature (and vector) scaling on the older rows, validate on the newest (out of time).

    The held-out log loss decides: the best method must lower the raw probabilities' log
    loss by ``min_relative_gain`` of it, and vector scaling (``2 K`` parameters) is chosen
    over temperature scaling (one) only when it is better by that margin as well.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> logits = rng.normal(size=(3000, 3)) * 1.5
    >>> p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    >>> y = np.array([rng.choice(3, p=row) for row in p])
    >>> sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    >>> proposal = propose_multiclass_recalibration(y, sharp, np.arange(3000), classes=[0, 1, 2])
    >>> proposal.improved, proposal.method, proposal.after["ece"] < proposal.before["ece"]
    (True, 'temperature', True)
    """
    func = "propose_multiclass_recalibration"
    check_interval("holdout_fraction", holdout_fraction, func, low=0.0, high=1.0, closed="neither")
    check_interval("min_relative_gain", min_relative_gain, func, low=0.0, high=1.0)
    if not methods:
        raise InvalidParameter(f"'methods' of {func} must not be empty")
    for m in methods:
        check_one_of("method", m, FITTED, func)
    labels, y, p, _ = multiclass_inputs(y_true, y_score, classes, func)
    when = np.asarray(order.to_numpy() if isinstance(order, pd.Series) else order)
    if when.size != y.size:
        raise InvalidParameter(f"'order' of {func} must have one value per row of y_true")
    rows = np.argsort(when, kind="stable")
    n_holdout = math.ceil(y.size * holdout_fraction)
    fit_rows, hold_rows = rows[: y.size - n_holdout], rows[y.size - n_holdout :]
    y_fit, p_fit, y_hold, p_hold = y[fit_rows], p[fit_rows], y[hold_rows], p[hold_rows]

    def nothing(
        reason: str, before: Mapping[str, float], cands: Mapping[str, Any]
    ) -> MulticlassRecalibrationProposal:
        return MulticlassRecalibrationProposal(
            False, reason, None, None, before, None, cands, y_fit.size, y_hold.size
        )

    if y_fit.size < min_fit_samples or y_hold.size == 0:
        return nothing(
            f"not enough data: {y_fit.size} fitting rows (min {min_fit_samples}), {y_hold.size} held out",
            {},
            {},
        )
    before = multiclass_summary(y_hold, p_hold, labels, n_bins=n_bins)
    fitted = {m: _FITTERS[m](y_fit, p_fit, classes=labels) for m in methods}
    candidates = {
        m: multiclass_summary(y_hold, r.apply(p_hold), labels, n_bins=n_bins) for m, r in fitted.items()
    }
    keep = 1 - min_relative_gain
    best = min(candidates, key=lambda m: (candidates[m]["log_loss"], FITTED.index(m)))
    vector_not_better = (
        best == "vector"
        and "temperature" in candidates
        and candidates["vector"]["log_loss"] > candidates["temperature"]["log_loss"] * keep
    )
    if vector_not_better:
        best = "temperature"
    if candidates[best]["log_loss"] > before["log_loss"] * keep:
        return nothing(
            f"no method lowered the held-out log loss by {100 * min_relative_gain:g}% or more "
            f"({before['log_loss']:.4f} before; best {best} {candidates[best]['log_loss']:.4f})",
            before,
            candidates,
        )
    after = candidates[best]
    metrics = {
        "holdout": {"before": before, "after": after},
        "candidates": candidates,
        "n_fit": int(y_fit.size),
        "n_holdout": int(y_hold.size),
        "holdout_fraction": holdout_fraction,
    }
    chosen = fitted[best]
    recalibrator = MulticlassRecalibrator(
        chosen.method, chosen.classes, chosen.params, {"n": int(y_fit.size)}, metrics
    )
    reason = (
        f"{best} scaling lowers the out-of-time log loss from {before['log_loss']:.4f} to "
        f"{after['log_loss']:.4f} and the top-label ECE from {before['ece']:.3f} to {after['ece']:.3f}"
    )
    return MulticlassRecalibrationProposal(
        True, reason, best, recalibrator, before, after, candidates, y_fit.size, y_hold.size
    )
