"""Is the configured decision threshold of a binary classifier still the right one?

A row is predicted positive when ``score >= threshold`` (the convention of
:func:`sklearn.metrics.precision_recall_curve`). Objectives, each evaluated from the confusion
counts at a threshold:

- ``"f1"``: maximise F1;
- ``"cost"``: minimise the expected cost per row ``(fp_cost * FP + fn_cost * FN) / n``;
- ``"precision_at"``: maximise recall subject to precision >= ``target``;
- ``"recall_at"``: maximise precision subject to recall >= ``target``.

A threshold that violates the constraint of the last two scores 0 (the worst value), so a
configured threshold that no longer meets its contract shows a gain as soon as some
threshold meets it. Candidate thresholds are the observed scores.

Selection bias. The best threshold on a window looks better on that window than it will be
on the next one. The gain is therefore estimated out of bag: each bootstrap resample picks
its own best threshold on the rows it drew, and the gain of that choice over the configured
threshold is measured on the rows it did not draw (about 37% of them). This bootstraps the
whole selection procedure, so the reported ``gain`` (mean out-of-bag gain) and its percentile
interval already pay for the optimism of choosing on the data; evaluating on about a third
of the rows also makes the interval somewhat conservative. The in-sample gain is reported as
``apparent_gain`` for reference only.

References
----------
.. [1] Efron, B., Tibshirani, R. (1997). Improvements on cross-validation: the .632+
   bootstrap method. Journal of the American Statistical Association, 92(438), 548-560.
.. [2] Lipton, Z. C., Elkan, C., Naryanaswamy, B. (2014). Optimal thresholding of classifiers
   to maximize F1 measure. ECML PKDD.
.. [3] Elkan, C. (2001). The foundations of cost-sensitive learning. IJCAI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from checks._params import (
    InvalidParameter,
    binary_labels,
    check_interval,
    check_n_resamples,
    check_one_of,
    check_open_unit,
    check_same_length,
    probabilities,
)
from checks.details import ThresholdCurve
from checks.result import CheckResult, Finding
from checks.vocabulary import TARGET_OBJECTIVES, THRESHOLD_OBJECTIVES

OBJECTIVES = THRESHOLD_OBJECTIVES
MAX_CURVE_POINTS = 200


@dataclass(frozen=True)
class Objective:
    """An objective over confusion counts; ``score`` is higher-is-better, ``value`` is as reported."""

    name: str
    fp_cost: float = 1.0
    fn_cost: float = 1.0
    target: float | None = None

    def score(self, tp: np.ndarray, fp: np.ndarray, positives: Any, n: Any) -> np.ndarray:
        tp, fp = np.asarray(tp, float), np.asarray(fp, float)
        predicted = tp + fp
        if self.name == "f1":
            denominator = predicted + positives
            return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
        if self.name == "cost":
            return -(self.fp_cost * fp + self.fn_cost * (positives - tp)) / n
        positives_a = np.asarray(positives, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(predicted > 0, tp / predicted, 1.0)
            recall = np.where(positives_a > 0, tp / positives_a, 0.0)
        if self.name == "precision_at":
            return np.where(precision >= self.target, recall, 0.0)
        return np.where(recall >= self.target, precision, 0.0)

    def value(self, score: np.ndarray | float) -> np.ndarray | float:
        """The objective in its own units (cost per row is positive)."""
        return -score if self.name == "cost" else score


def _sorted(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores in ascending order and the positives among the lowest ``k`` rows (``k = 0..n``): one sort."""
    order = np.argsort(s, kind="stable")
    return s[order], np.r_[0, np.cumsum(y[order].astype(np.int64))]


def _curve(s_asc: np.ndarray, below: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`confusion_curve` from :func:`_sorted`."""
    starts = np.flatnonzero(np.r_[True, s_asc[1:] != s_asc[:-1]])
    tp = below[-1] - below[starts]
    return s_asc[starts][::-1], tp[::-1], (s_asc.size - starts - tp)[::-1]


def confusion_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores (descending) as thresholds, with true and false positives at each.

    >>> t, tp, fp = confusion_curve(np.array([0, 1, 1, 0]), np.array([0.1, 0.4, 0.35, 0.8]))
    >>> t.tolist(), tp.tolist(), fp.tolist()
    ([0.8, 0.4, 0.35, 0.1], [0, 1, 2, 2], [1, 1, 1, 2])
    """
    return _curve(*_sorted(y, s))


def best_threshold(y: np.ndarray, s: np.ndarray, objective: Objective) -> tuple[float, float]:
    """The observed score that maximises ``objective.score`` (highest such score on ties), and that score."""
    thresholds, tp, fp = confusion_curve(y, s)
    scores = objective.score(tp, fp, int(y.sum()), y.size)
    i = int(np.argmax(scores))
    return float(thresholds[i]), float(scores[i])


#: Candidate thresholds of the bootstrap: every distinct score up to this many, else quantiles.
GRID_POINTS = 512


def _grid(s_asc: np.ndarray, current: float) -> np.ndarray:
    """Candidate thresholds: the distinct scores (or ``GRID_POINTS`` quantiles of them) and ``current``.

    The quantiles are ``np.quantile(s, q, method="inverted_cdf")`` read off the sorted scores.
    """
    grid = np.unique(s_asc)
    if grid.size > GRID_POINTS:
        at = np.ceil(s_asc.size * np.linspace(0.0, 1.0, GRID_POINTS) - 1).astype(np.int64)
        grid = np.unique(s_asc[np.maximum(at, 0)])
    return np.unique(np.append(grid, current))


#: Draws of an in-bag row beyond its first: a zero-truncated Poisson(1) ``X`` has mean
#: ``1 / (1 - e^-1)`` and ``E[X^2] = 2 / (1 - e^-1)``; the negative binomial with the mean and
#: variance of ``X - 1`` (size ``_NB_SIZE`` per in-bag row, success probability ``_NB_P``) stands in for it.
_OUT = float(np.exp(-1.0))  # P(Poisson(1) = 0): a row's chance to be out of bag
_EXTRA_MEAN = float(_OUT / (1.0 - _OUT))
_EXTRA_VAR = float(2.0 / (1.0 - _OUT) - (1.0 + _EXTRA_MEAN) ** 2)
_NB_P = _EXTRA_MEAN / _EXTRA_VAR
_NB_SIZE = _EXTRA_MEAN * _NB_P / (1.0 - _NB_P)
#: Correlation of a row's Poisson(1) count with its out-of-bag indicator (covariance ``-e^-1``).
_RHO = -float(np.sqrt(_OUT / (1.0 - _OUT)))

#: A cell of at least this many rows draws its in-bag weight and out-of-bag rows from their
#: bivariate normal; smaller cells draw them exactly (see :func:`_cell_draws`).
NORMAL_ROWS = 10


def _cell_draws(
    sizes: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """In-bag weight and out-of-bag rows of cells of ``sizes`` rows: two ``(n_resamples, k)`` matrices.

    Every row gets a Poisson(1) count (the Poisson bootstrap): a cell's in-bag weight ``W`` is
    the sum of its rows' counts, its out-of-bag rows ``Z`` the number of zero counts. Per row,
    the count and the zero indicator have variances ``1`` and ``q (1 - q)`` and covariance
    ``-q`` (``q = e^-1``), so a cell of ``m`` rows has mean ``m (1, q)`` and ``m`` times that
    covariance. A cell of at least :data:`NORMAL_ROWS` rows draws ``(W, Z)`` from that
    bivariate normal (two standard normals, a fraction of the cost of the exact draw; the
    objective reads sums of cells, which cannot tell the two apart); a smaller cell
    leaves ``Binomial(m, q)`` rows out of bag, and its in-bag rows are drawn ``1 + extra``
    times each, the extra draws of all of them a moment-matched negative binomial.
    """
    m = sizes.astype(np.float64)
    z = rng.standard_normal((2, n_resamples, m.size))  # every cell; small ones are drawn again below
    out = z[1]
    out *= np.sqrt(1.0 - _RHO**2)
    out += _RHO * z[0]
    out *= np.sqrt(m * _OUT * (1.0 - _OUT))
    out += m * _OUT
    np.clip(out, 0.0, m, out=out)
    drawn = z[0]
    drawn *= np.sqrt(m)
    drawn += m
    np.maximum(drawn, 0.0, out=drawn)
    small = np.flatnonzero((sizes > 0) & (sizes < NORMAL_ROWS))
    if small.size:
        left = rng.binomial(sizes[small], _OUT, size=(n_resamples, small.size))
        inside = sizes[small] - left
        extra = rng.negative_binomial(np.maximum(_NB_SIZE * inside, 1e-9), _NB_P) * (inside > 0)
        drawn[:, small], out[:, small] = inside + extra, left
    return drawn, out


def _above(counts: np.ndarray) -> np.ndarray:
    """Per grid threshold ``j``, the total of the bins above ``j`` (``score >= grid[j]``), along axis 1."""
    return np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:]


def _oob_gains(
    s_asc: np.ndarray, below: np.ndarray, current: float, objective: Objective, n_resamples: int, seed: int
) -> np.ndarray:
    """Out-of-bag gain of "choose the best threshold on a resample" over ``current``.

    ``s_asc`` and ``below`` are the window sorted by score (:func:`_sorted`). Each resample
    picks the best candidate threshold on the rows it drew (the highest on ties) and both
    thresholds are scored on the rows it did not draw. Candidates are every distinct score
    when there are at most :data:`GRID_POINTS` (then the selection is exactly the one over all
    observed scores), else that many score quantiles: the selection is then within one
    quantile step of the exact optimum, which can only lower the estimated gain.

    The rows fall in cells of equal candidate bin and label, read off the sorted scores; each
    resample draws every cell's in-bag weight and out-of-bag rows at once (:func:`_cell_draws`),
    and every threshold's confusion counts are cumulative sums of the cells. All resamples are
    one matrix: the cost is ``n_resamples`` times the number of candidates, not of rows.
    """
    rng = np.random.default_rng(seed)
    grid = _grid(s_asc, current)
    size = grid.size + 1
    # Bin b holds the rows with grid[b - 1] <= score < grid[b]: bounds in the sorted rows.
    bounds = np.r_[0, np.searchsorted(s_asc, grid, side="left"), s_asc.size]
    rows, positives = np.diff(bounds), np.diff(below[bounds])
    drawn, out = _cell_draws(np.r_[rows - positives, positives], n_resamples, rng)
    neg_in, pos_in, neg_out, pos_out = drawn[:, :size], drawn[:, size:], out[:, :size], out[:, size:]
    n_pos_in, n_pos_out = pos_in.sum(axis=1), pos_out.sum(axis=1)
    n_in, n_out = n_pos_in + neg_in.sum(axis=1), n_pos_out + neg_out.sum(axis=1)
    scores = objective.score(_above(pos_in), _above(neg_in), n_pos_in[:, None], n_in[:, None])
    chosen = scores.shape[1] - 1 - np.argmax(scores[:, ::-1], axis=1)
    at = np.column_stack([chosen, np.full(n_resamples, int(np.searchsorted(grid, current)))])
    tp_out = np.take_along_axis(_above(pos_out), at, axis=1)
    fp_out = np.take_along_axis(_above(neg_out), at, axis=1)
    oob = objective.score(tp_out, fp_out, n_pos_out[:, None], n_out[:, None])
    usable = (n_pos_out > 0) & (n_pos_out < n_out) & (n_pos_in > 0) & (n_pos_in < n_in)
    return (oob[:, 0] - oob[:, 1])[usable]


def threshold_check(
    y_true: Any,
    y_score: Any,
    *,
    current_threshold: float,
    objective: str = "f1",
    fp_cost: float = 1.0,
    fn_cost: float = 1.0,
    target: float | None = None,
    n_resamples: int = 500,
    alpha: float = 0.05,
    min_gain: float = 0.01,
    min_samples: int = 200,
    seed: int = 0,
) -> CheckResult:
    """Compare the configured threshold with the one that best meets the objective now.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Outcomes of a mature window, 0 or 1.
    y_score : array-like of shape (n_samples,)
        The model's probabilities of the positive class, in [0, 1].
    current_threshold : float
        The configured threshold, in [0, 1] (positive when ``score >= current_threshold``).
    objective : {"f1", "cost", "precision_at", "recall_at"}, default="f1"
    fp_cost, fn_cost : float, default=1.0
        Costs of a false positive and a false negative (``"cost"`` only).
    target : float or None, default=None
        Minimum precision (``"precision_at"``) or recall (``"recall_at"``), in (0, 1].
    n_resamples : int, default=500
        Bootstrap resamples of the selection procedure (see the module docstring).
    alpha : float, default=0.05
        The gain interval is the two-sided ``1 - alpha`` percentile interval.
    min_gain : float, default=0.01
        Smallest gain worth a change, in the objective's units (F1 points, cost per row,
        recall or precision).
    min_samples : int, default=200
    seed : int, default=0

    Returns
    -------
    CheckResult
        ``check="threshold"``; status ``warn`` with one finding (subject ``"threshold"``,
        method the objective, statistic the proposed threshold, threshold the current one)
        when the interval of the gain is above zero and the gain is at least ``min_gain``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 3000)
    >>> s = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(size=3000))))
    >>> threshold_check(y, s, current_threshold=0.9, n_resamples=100).status
    'warn'
    """
    func = "threshold_check"
    check_one_of("objective", objective, OBJECTIVES, func)
    y, s = binary_labels(y_true, "y_true", func), probabilities(y_score, "y_score", func)
    check_same_length(func, y_true=y, y_score=s)
    check_interval("current_threshold", current_threshold, func, low=0.0, high=1.0)
    check_interval("fp_cost", fp_cost, func, low=0.0)
    check_interval("fn_cost", fn_cost, func, low=0.0)
    if objective in TARGET_OBJECTIVES:
        if target is None:
            raise InvalidParameter(f"'target' of {func} is required for objective {objective!r}")
        check_interval("target", target, func, low=0.0, high=1.0, closed="right")
    check_n_resamples(n_resamples, func, low=10)
    check_open_unit("alpha", alpha, func)
    check_interval("min_gain", min_gain, func, low=0.0)
    check_interval("min_samples", min_samples, func, low=2, integer=True)
    positives = int(y.sum())
    if y.size < min_samples or positives in (0, y.size):
        reason = (
            f"{y.size} labelled rows with {positives} positives (need {min_samples} rows and both classes)"
        )
        return CheckResult.skipped("threshold", reason, n=y.size)

    obj = Objective(objective, fp_cost, fn_cost, target)
    s_asc, below = _sorted(y, s)  # the one sort: the curve, the current counts and the bootstrap cells
    thresholds, tp, fp = _curve(s_asc, below)
    scores = obj.score(tp, fp, positives, y.size)
    best = int(np.argmax(scores))
    proposed = float(thresholds[best])
    k = int(np.searchsorted(s_asc, current_threshold, side="left"))  # rows below the current threshold
    tp_cur = positives - below[k]
    current_score = float(obj.score(tp_cur, y.size - k - tp_cur, positives, y.size))
    gains = _oob_gains(s_asc, below, current_threshold, obj, n_resamples, seed)
    if gains.size < n_resamples // 2:
        reason = f"too few positives ({positives}) for out-of-bag resamples to hold both classes"
        return CheckResult.skipped("threshold", reason, n=y.size)
    gain = float(gains.mean())
    ci_low, ci_high = (float(v) for v in np.quantile(gains, [alpha / 2, 1 - alpha / 2]))
    p_value = float((1 + np.sum(gains <= 0)) / (gains.size + 1))
    shown = np.unique(np.linspace(0, thresholds.size - 1, min(MAX_CURVE_POINTS, thresholds.size)).round())
    shown = shown.astype(np.int64)
    metrics = {
        "n": int(y.size),
        "base_rate": positives / y.size,
        "current_threshold": float(current_threshold),
        "proposed_threshold": proposed,
        "objective_current": float(obj.value(current_score)),
        "objective_proposed": float(obj.value(scores[best])),
        "apparent_gain": float(scores[best] - current_score),
        "gain": gain,
        "gain_ci_low": ci_low,
        "gain_ci_high": ci_high,
        "n_resamples_used": int(gains.size),
    }
    details = {
        "curve": ThresholdCurve(tuple(thresholds[shown].tolist()), tuple(obj.value(scores[shown]).tolist())),
        "current": float(current_threshold),
        "proposed": proposed,
        "gain": gain,
        "gain_ci": [ci_low, ci_high],
        "objective": objective,
    }
    if not (ci_low > 0 and gain >= min_gain):
        return CheckResult(check="threshold", status="ok", metrics=metrics, details=details)
    finding = Finding(
        subject="threshold",
        method=objective,
        statistic=proposed,
        threshold=float(current_threshold),
        p_value=p_value,
        effect_size=gain,
        severity="warn",
        message=(
            f"threshold {proposed:.4g} instead of {current_threshold:.4g} improves {objective} by "
            f"{gain:.4f} ({100 * (1 - alpha):g}% CI [{ci_low:.4f}, {ci_high:.4f}], out of bag)"
        ),
        evidence={
            "gain": gain,
            "gain_ci": [ci_low, ci_high],
            "apparent_gain": metrics["apparent_gain"],
            "objective_current": metrics["objective_current"],
            "objective_proposed": metrics["objective_proposed"],
            "base_rate": metrics["base_rate"],
            "n": int(y.size),
            "target": target,
            "fp_cost": fp_cost,
            "fn_cost": fn_cost,
        },
    )
    return CheckResult(
        check="threshold", status="warn", metrics=metrics, findings=(finding,), details=details
    )
