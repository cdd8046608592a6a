"""Calibration of a binary classifier's probabilities: ECE, MCE, Brier and its decomposition.

A model is *calibrated* when, among the rows it scores ``p``, a fraction ``p`` is positive.
The reliability curve bins the scores and compares, per bin, the mean score with the observed
fraction of positives. Bins are intervals ``(e[k-1], e[k]]`` (the first one also holds
``e[0]``), exactly as :func:`sklearn.calibration.calibration_curve` assigns them.

The check compares the current window with a reference window: calibration has *degraded*
when the expected calibration error went up by at least ``min_delta`` (material) and the
bootstrap interval of the increase excludes zero (significant). Independently, an ECE above
``ece_threshold`` is an alert on its own. ECE is biased upwards by label noise, more so in
small windows; both rules count each window's ECE beyond its noise, the mean ECE of outcomes
simulated from its own scores (:func:`calibrated_eces`).

References
----------
.. [1] Murphy, A. H. (1973). A new vector partition of the probability score.
   Journal of Applied Meteorology, 12(4), 595-600.
.. [2] Naeini, M. P., Cooper, G. F., Hauskrecht, M. (2015). Obtaining well calibrated
   probabilities using Bayesian binning. AAAI.
.. [3] Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). On calibration of modern
   neural networks. ICML.
.. [4] Stephenson, D. B., Coelho, C. A. S., Jolliffe, I. T. (2008). Two extra components in
   the Brier score decomposition. Weather and Forecasting, 23(4), 752-757.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

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
from checks.bootstrap import poisson_weights
from checks.details import ReliabilityCurve
from checks.metric_kernels import score_groups
from checks.result import CheckResult, Finding

STRATEGIES = ("uniform", "quantile")
_GROUPS = 64  # score groups of the resampled and simulated ECEs (see _cells)


@dataclass(frozen=True)
class BrierDecomposition:
    """Murphy's partition of the Brier score over bins, with the two within-bin terms.

    For any forecasts, ``brier == reliability - resolution + uncertainty
    + within_bin_variance - 2 * within_bin_covariance`` holds exactly ([4]_). When the
    forecasts are constant inside every bin the last two terms vanish and Murphy's
    ``brier == reliability - resolution + uncertainty`` holds exactly ([1]_).
    """

    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within_bin_variance: float
    within_bin_covariance: float


def _binary_inputs(
    y_true: Any, y_prob: Any, func: str, *, names: tuple[str, str] = ("y_true", "y_prob")
) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes (0/1) and probabilities of one window, named in errors as the caller spelled them."""
    y, p = binary_labels(y_true, names[0], func), probabilities(y_prob, names[1], func)
    check_same_length(func, **{names[0]: y, names[1]: p})
    if y.size == 0:
        raise InvalidParameter(f"{names[0]!r} of {func} is empty")
    return y, p


def _check_binning(n_bins: int, strategy: str, func: str) -> None:
    check_interval("n_bins", n_bins, func, low=1, integer=True)
    check_one_of("strategy", strategy, STRATEGIES, func)


def bin_edges(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "quantile":
        return np.percentile(p, np.linspace(0.0, 100.0, n_bins + 1))
    return np.linspace(0.0, 1.0, n_bins + 1)


def bin_ids(p: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges[1:-1], p)


def bin_sums(
    ids: np.ndarray, y: np.ndarray, p: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = np.bincount(ids, minlength=n_bins).astype(np.float64)
    return count, np.bincount(ids, weights=p, minlength=n_bins), np.bincount(ids, weights=y, minlength=n_bins)


def reliability_curve(
    y_true: Any, y_prob: Any, *, n_bins: int = 10, strategy: str = "uniform"
) -> ReliabilityCurve:
    """The reliability curve: mean predicted probability and fraction of positives per bin.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Outcomes, 0 or 1.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities of the positive class, in [0, 1].
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins on [0, 1], or bins holding equal numbers of scores.

    Returns
    -------
    ReliabilityCurve
        Arrays of length ``n_bins`` (``bin_edges`` has ``n_bins + 1``); empty bins are NaN.

    Examples
    --------
    >>> c = reliability_curve([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> c.fraction_positive.tolist(), c.count.tolist()
    ([0.0, 1.0], [2, 2])
    """
    func = "reliability_curve"
    y, p = _binary_inputs(y_true, y_prob, func)
    _check_binning(n_bins, strategy, func)
    edges = bin_edges(p, n_bins, strategy)
    count, sum_p, sum_y = bin_sums(bin_ids(p, edges), y, p, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sum_p / count, np.nan)
        frac_y = np.where(count > 0, sum_y / count, np.nan)
    return ReliabilityCurve(mean_p, frac_y, count.astype(np.int64), edges)


def _ece_from_sums(count: np.ndarray, sum_p: np.ndarray, sum_y: np.ndarray) -> np.ndarray:
    """ECE along the last axis: sum over bins of |sum_p - sum_y| / n."""
    return np.abs(sum_p - sum_y).sum(axis=-1) / count.sum(axis=-1)


def expected_calibration_error(
    y_true: Any, y_prob: Any, *, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """Expected calibration error: the count-weighted mean gap between score and outcome rate.

    ``ECE = sum_k (n_k / n) * |mean_prob_k - fraction_positive_k|`` over non-empty bins ([2]_, [3]_).

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2), 6)
    0.25
    """
    func = "expected_calibration_error"
    y, p = _binary_inputs(y_true, y_prob, func)
    _check_binning(n_bins, strategy, func)
    ids = bin_ids(p, bin_edges(p, n_bins, strategy))
    return float(_ece_from_sums(*bin_sums(ids, y, p, n_bins)))


def maximum_calibration_error(
    y_true: Any, y_prob: Any, *, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """Maximum calibration error: the largest gap ``|mean_prob_k - fraction_positive_k|`` over non-empty bins.

    Examples
    --------
    >>> round(maximum_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2), 6)
    0.3
    """
    curve = reliability_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy)
    filled = curve.count > 0
    return float(np.max(np.abs(curve.mean_predicted[filled] - curve.fraction_positive[filled])))


def brier_decomposition(
    y_true: Any, y_prob: Any, *, n_bins: int = 10, strategy: str = "uniform"
) -> BrierDecomposition:
    """The Brier score and its reliability / resolution / uncertainty partition over bins.

    With bins ``k`` holding ``n_k`` rows, mean forecast ``f_k`` and outcome rate ``o_k``, and
    overall rate ``o``: ``REL = sum n_k (f_k - o_k)^2 / n``, ``RES = sum n_k (o_k - o)^2 / n``,
    ``UNC = o (1 - o)`` ([1]_); the within-bin variance of the forecasts and their within-bin
    covariance with the outcomes complete the identity for continuous forecasts ([4]_).

    Examples
    --------
    >>> d = brier_decomposition([0, 1, 1, 0], [0.25, 0.75, 0.75, 0.25], n_bins=2)
    >>> round(d.brier, 6), round(d.reliability - d.resolution + d.uncertainty, 6)
    (0.0625, 0.0625)
    """
    func = "brier_decomposition"
    y, p = _binary_inputs(y_true, y_prob, func)
    _check_binning(n_bins, strategy, func)
    ids = bin_ids(p, bin_edges(p, n_bins, strategy))
    count, sum_p, sum_y = bin_sums(ids, y, p, n_bins)
    n = float(y.size)
    safe = np.maximum(count, 1.0)
    f_k, o_k, o = sum_p / safe, sum_y / safe, y.mean()
    dev_p, dev_y = p - f_k[ids], y - o_k[ids]
    return BrierDecomposition(
        brier=float(np.mean((p - y) ** 2)),
        reliability=float(np.sum(count * (f_k - o_k) ** 2) / n),
        resolution=float(np.sum(count * (o_k - o) ** 2) / n),
        uncertainty=float(o * (1.0 - o)),
        within_bin_variance=float(np.mean(dev_p**2)),
        within_bin_covariance=float(np.mean(dev_p * dev_y)),
    )


def score_group_of_rows(p: np.ndarray) -> np.ndarray:
    """Each row's score group (:func:`checks.metric_kernels.score_groups`, at most ``_GROUPS``): one sort."""
    order = np.argsort(p, kind="stable")
    starts = score_groups(p[order], _GROUPS)
    group = np.empty(p.size, dtype=np.int64)
    group[order] = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, p.size]))
    return group


def _cells(
    ids: np.ndarray, group: np.ndarray, p: np.ndarray, n_bins: int, y: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Rows grouped into cells of one score group (:func:`score_group_of_rows`), one bin and (with ``y``)
    one label: each cell's rows, bin, label and mean score.

    With at most ``_GROUPS`` distinct scores every cell holds equal scores, so the resampled
    and simulated ECEs below are those of the rows; above, a cell spans a 1/64 rank quantile of
    the scores, whose spread inside the cell (a variance of about 1e-5 against a label
    variance near 0.2) is negligible for the bin sums.
    """
    code = group * n_bins + ids
    if y is not None:
        code = code * 2 + y.astype(np.int64)
    full = np.bincount(code)
    cells = np.flatnonzero(full)
    sizes = full[cells]
    mean_p = np.bincount(code, weights=p)[cells] / sizes
    if y is None:
        return sizes, cells % n_bins, None, mean_p
    return sizes, (cells // 2) % n_bins, (cells % 2).astype(np.float64), mean_p


def _by_bin(values: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Sum the cell columns of ``values`` (shape (b, k)) per bin: shape (b, n_bins)."""
    return values @ (bins[:, None] == np.arange(n_bins)).astype(np.float64)


def _bootstrap_ece(
    ids: np.ndarray,
    group: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    n_bins: int,
    n_resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """ECE of ``n_resamples`` Poisson bootstrap resamples of the rows, bins held fixed.

    One matrix of Poisson cell counts (:func:`checks.bootstrap.poisson_weights`): the cost is
    ``n_resamples`` times the number of cells, not of rows.
    """
    sizes, bins, label, mean_p = _cells(ids, group, p, n_bins, y)
    assert label is not None
    w = poisson_weights(sizes, n_resamples=n_resamples, rng=rng)
    gap = _by_bin(w * (mean_p - label), bins, n_bins)
    return np.abs(gap).sum(axis=1) / np.maximum(w.sum(axis=1), 1.0)


def bootstrap_eces(
    y_true: Any,
    y_prob: Any,
    *,
    n_bins: int = 10,
    strategy: str = "uniform",
    n_resamples: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """ECE of ``n_resamples`` row resamples (bins fixed from the scores, as :func:`calibration_check`).

    >>> y, p = [0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8]
    >>> bootstrap_eces(y, p, n_bins=2, n_resamples=5).shape
    (5,)
    """
    func = "bootstrap_eces"
    y, p = _binary_inputs(y_true, y_prob, func)
    _check_binning(n_bins, strategy, func)
    check_n_resamples(n_resamples, func)
    ids = bin_ids(p, bin_edges(p, n_bins, strategy))
    return _bootstrap_ece(ids, score_group_of_rows(p), y, p, n_bins, n_resamples, np.random.default_rng(seed))


def calibrated_eces(
    y_prob: Any, *, n_bins: int = 10, strategy: str = "uniform", n_simulations: int = 200, seed: int = 0
) -> np.ndarray:
    """ECE of perfectly calibrated outcomes (``y ~ Bernoulli(p)``) for these scores.

    The ECE's own noise: a calibrated window of ``n`` rows does not show an ECE of 0 but about
    the mean of these (roughly ``0.8 sqrt(n_bins / n)`` for spread-out scores), which is what
    a small window must be corrected for before it is compared with a large reference. The
    positives of each cell of equal (or, above 64 distinct scores, nearly equal)
    scores are drawn at once, ``Binomial(rows, mean score)``, so the cost does not grow with
    the window.

    >>> p = np.random.default_rng(0).uniform(size=1000)
    >>> bool(0.02 < calibrated_eces(p).mean() < 0.06)
    True
    """
    func = "calibrated_eces"
    p = probabilities(y_prob, "y_prob", func)
    _check_binning(n_bins, strategy, func)
    check_n_resamples(n_simulations, func, name="n_simulations")
    ids = bin_ids(p, bin_edges(p, n_bins, strategy))
    return simulated_eces(ids, score_group_of_rows(p), p, n_bins, n_simulations, seed)


def simulated_eces(
    ids: np.ndarray, group: np.ndarray, p: np.ndarray, n_bins: int, n_simulations: int, seed: int
) -> np.ndarray:
    """:func:`calibrated_eces` from the rows' bins and score groups."""
    rng = np.random.default_rng(seed)
    sizes, bins, _, mean_p = _cells(ids, group, p, n_bins)
    positives = rng.binomial(sizes, np.clip(mean_p, 0.0, 1.0), size=(n_simulations, sizes.size))
    gap = _by_bin(sizes * mean_p - positives, bins, n_bins)
    return np.abs(gap).sum(axis=1) / p.size


def _two_proportion_p(k1: float, n1: int, k2: float, n2: int) -> float:
    """Two-sided pooled z-test p-value for equal proportions."""
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return float(2 * ndtr(-abs(k1 / n1 - k2 / n2) / se))


def calibration_check(
    y_true: Any,
    y_score: Any,
    *,
    reference: tuple[Any, Any] | None = None,
    n_bins: int = 10,
    strategy: str = "uniform",
    ece_threshold: float = 0.1,
    min_delta: float = 0.02,
    alpha: float = 0.05,
    n_resamples: int = 500,
    min_samples: int = 100,
    seed: int = 0,
) -> CheckResult:
    """Calibration of a binary classifier on the current window, against a reference window.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Outcomes of the current window, 0 or 1.
    y_score : array-like of shape (n_samples,)
        The model's probabilities of the positive class.
    reference : (y_true, y_score) or None, default=None
        The same two arrays for the reference window.
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"
        Binning of the ECE that decides (both ECEs are reported) and of the reliability curve.
    ece_threshold : float, default=0.1
        Absolute ECE above which the current window alerts whatever the reference, counted
        beyond the ECE's own noise (``metrics["ece_noise"]``, :func:`calibrated_eces`).
    min_delta : float, default=0.02
        Smallest rise of the ECE over the reference that counts as material, each ECE
        counted beyond its noise (a 300-row window's ECE exceeds a 40,000-row reference's by
        about 0.04 with both perfectly calibrated).
    alpha : float, default=0.05
        The increase is significant when the lower bound of its two-sided ``1 - alpha``
        percentile bootstrap interval is above zero (bins held at each window's own edges;
        the two windows resampled independently).
    n_resamples : int, default=500
    min_samples : int, default=100
        Fewer labelled rows than this skips the check; a smaller reference is not compared.
    seed : int, default=0

    Returns
    -------
    CheckResult
        ``check="calibration"``; metrics ``ece``, ``ece_uniform``, ``ece_quantile``, ``mce``,
        ``brier``, ``reliability``, ``resolution``, ``uncertainty``, ``base_rate``,
        ``mean_score``, and with a reference ``reference_ece``, ``reference_brier``,
        ``reference_base_rate``, ``base_rate_p_value``, ``ece_delta`` and its interval and
        one-sided bootstrap p-value; details ``reliability`` (and ``reliability_reference``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=2000)
    >>> y = (rng.uniform(size=2000) < p).astype(int)
    >>> calibration_check(y, p, reference=(y, p), n_resamples=50).status
    'ok'
    >>> calibration_check(y, p**3, reference=(y, p), n_resamples=50).status
    'alert'
    """
    func = "calibration_check"
    y, p = _binary_inputs(y_true, y_score, func, names=("y_true", "y_score"))
    _check_binning(n_bins, strategy, func)
    check_interval("ece_threshold", ece_threshold, func, low=0.0, high=1.0)
    check_interval("min_delta", min_delta, func, low=0.0, high=1.0)
    check_open_unit("alpha", alpha, func)
    check_n_resamples(n_resamples, func)
    check_interval("min_samples", min_samples, func, low=1, integer=True)
    if y.size < min_samples:
        return CheckResult.skipped(
            "calibration", f"{y.size} labelled rows < min_samples={min_samples}", n=y.size
        )

    curve = reliability_curve(y, p, n_bins=n_bins, strategy=strategy)
    decomposition = brier_decomposition(y, p, n_bins=n_bins, strategy=strategy)
    eces = {s: expected_calibration_error(y, p, n_bins=n_bins, strategy=s) for s in STRATEGIES}
    ece = eces[strategy]
    metrics: dict[str, Any] = {
        "n": int(y.size),
        "ece": ece,
        "ece_uniform": eces["uniform"],
        "ece_quantile": eces["quantile"],
        "mce": maximum_calibration_error(y, p, n_bins=n_bins, strategy=strategy),
        "brier": decomposition.brier,
        "reliability": decomposition.reliability,
        "resolution": decomposition.resolution,
        "uncertainty": decomposition.uncertainty,
        "base_rate": float(y.mean()),
        "mean_score": float(p.mean()),
    }
    details: dict[str, Any] = {"reliability": curve, "strategy": strategy, "n_bins": n_bins}
    ids, group = bin_ids(p, bin_edges(p, n_bins, strategy)), score_group_of_rows(p)  # one sort per window
    metrics["ece_noise"] = float(simulated_eces(ids, group, p, n_bins, 200, seed).mean())
    findings: list[Finding] = []
    if ece - metrics["ece_noise"] > ece_threshold:
        findings.append(
            Finding(
                subject="model",
                method="ece",
                statistic=ece,
                threshold=ece_threshold,
                effect_size=ece,
                severity="alert",
                message=f"expected calibration error {ece:.3f} is above {ece_threshold:g}",
                evidence={
                    "n": int(y.size),
                    "ece_noise": metrics["ece_noise"],
                    "mce": metrics["mce"],
                    "strategy": strategy,
                    "n_bins": n_bins,
                },
            )
        )

    if reference is not None:
        y_ref, p_ref = _binary_inputs(*reference, func, names=("reference[0]", "reference[1]"))
        if y_ref.size < min_samples:
            details["reference_note"] = (
                f"reference has {y_ref.size} rows < min_samples={min_samples}; not compared"
            )
        else:
            finding = _compare_with_reference(
                (ids, group, y, p), y_ref, p_ref, metrics, details, n_bins, strategy, min_delta, alpha,
                n_resamples, seed,
            )  # fmt: skip
            if finding is not None:
                findings.append(finding)

    return CheckResult(
        check="calibration",
        status="alert" if findings else "ok",
        metrics=metrics,
        findings=tuple(findings),
        details=details,
    )


def _compare_with_reference(
    window: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    y_ref: np.ndarray,
    p_ref: np.ndarray,
    metrics: dict[str, Any],
    details: dict[str, Any],
    n_bins: int,
    strategy: str,
    min_delta: float,
    alpha: float,
    n_resamples: int,
    seed: int,
) -> Finding | None:
    """Fill the reference metrics in place; return the degradation finding if there is one.

    ``window`` is the current window's bin ids, score groups, outcomes and scores.
    """
    ids, group, y, p = window
    rng = np.random.default_rng(seed)
    ids_ref, group_ref = bin_ids(p_ref, bin_edges(p_ref, n_bins, strategy)), score_group_of_rows(p_ref)
    ref_ece = float(_ece_from_sums(*bin_sums(ids_ref, y_ref, p_ref, n_bins)))
    ref_noise = float(simulated_eces(ids_ref, group_ref, p_ref, n_bins, 200, seed + 1).mean())
    # The rise of the ECE beyond its noise: a small window's ECE is larger by noise alone.
    noise_gap = metrics["ece_noise"] - ref_noise
    delta = metrics["ece"] - ref_ece - noise_gap
    boot = _bootstrap_ece(ids, group, y, p, n_bins, n_resamples, rng) - _bootstrap_ece(
        ids_ref, group_ref, y_ref, p_ref, n_bins, n_resamples, rng
    )
    # Resampling adds noise of its own (a resampled ECE is larger still): keep the bootstrap's
    # spread, centred on the estimate.
    boot += delta - boot.mean()
    ci_low, ci_high = (float(v) for v in np.quantile(boot, [alpha / 2, 1 - alpha / 2]))
    p_value = float((1 + np.sum(boot <= 0)) / (n_resamples + 1))
    metrics.update(
        reference_n=int(y_ref.size),
        reference_ece=ref_ece,
        reference_ece_noise=ref_noise,
        reference_brier=float(np.mean((p_ref - y_ref) ** 2)),
        reference_base_rate=float(y_ref.mean()),
        reference_mean_score=float(p_ref.mean()),
        base_rate_p_value=_two_proportion_p(y.sum(), y.size, y_ref.sum(), y_ref.size),
        ece_delta=delta,
        ece_delta_ci_low=ci_low,
        ece_delta_ci_high=ci_high,
        ece_delta_p_value=p_value,
    )
    details["reliability_reference"] = reliability_curve(y_ref, p_ref, n_bins=n_bins, strategy=strategy)
    if not (delta >= min_delta and ci_low > 0):
        return None
    return Finding(
        subject="model",
        method="ece_delta",
        statistic=delta,
        threshold=min_delta,
        p_value=p_value,
        effect_size=delta,
        severity="alert",
        message=(
            f"calibration degraded: ECE {metrics['ece']:.3f} vs {ref_ece:.3f} in the reference "
            f"(+{delta:.3f} beyond noise, {100 * (1 - alpha):g}% CI [{ci_low:.3f}, {ci_high:.3f}])"
        ),
        evidence={
            "ece": metrics["ece"],
            "reference_ece": ref_ece,
            "ece_noise": metrics["ece_noise"],
            "reference_ece_noise": ref_noise,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "confidence": 1 - alpha,
            "n": int(y.size),
            "reference_n": int(y_ref.size),
            "brier": metrics["brier"],
            "reference_brier": metrics["reference_brier"],
        },
    )
