"""Calibration per segment: where the probabilities stopped matching the outcomes.

A model can be calibrated on the whole window and miscalibrated in one market or channel
(its errors cancel out). For each segment of each configured column (formed as the segment
error check forms them, :mod:`checks.segmentation`) with at least ``min_support`` labelled
rows this reports the ECE and MCE on ``n_bins`` uniform bins, the Brier score, the reliability
curve, and calibration-in-the-large: the mean score against the observed rate with its Wilson
interval.

ECE is biased upwards in small samples: a perfectly calibrated segment of 200 rows shows an
ECE of a few points from label noise alone. Labels simulated as ``Bernoulli(score)``
(``n_simulations`` times) give the ECE a perfectly calibrated segment of that size shows:
its mean is the segment's ``ece_noise`` (the bias), its 95th percentile ``ece_noise_floor``.
A segment is ``miscalibrated`` when one of two material differences is significant:

- **absolute**: the ECE in excess of its noise above ``ece_threshold``, tested against the
  simulated ECEs (Monte Carlo p-value of "perfectly calibrated");
- **against its reference** (the same segment in the reference with ``min_support`` rows):
  the ECE in excess of its noise rose by at least ``min_delta``, tested with a bootstrap of
  both windows' ECE (``n_resamples`` each; its spread, centred on the noise-corrected rise,
  since resampling inflates the ECE further).

A segment with both gets the smaller p-value times two (Bonferroni); the p-values of all
segments are then adjusted by Benjamini-Hochberg at ``fdr``. The rows are informative (the
report's calibration section); they raise no alert on their own.

>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"s": rng.uniform(0, 1, 2000), "c": rng.choice(["a", "b"], 2000)})
>>> frame["y"] = (rng.uniform(size=2000) < np.where(frame["c"] == "a", frame["s"], frame["s"] / 3))
>>> rows = calibration_by_segment(frame, None, segments=["c"], y_true="y", y_score="s")
>>> [(r.value, r.miscalibrated) for r in rows]
[('b', True), ('a', False)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from checks._params import InvalidParameter, binary_labels, check_interval, probabilities
from checks.calibration import bootstrap_eces, calibrated_eces, expected_calibration_error, reliability_curve
from checks.details import SegmentCalibration
from checks.segmentation import segmentation
from checks.segments import wilson_interval

_MAX_REFERENCE_ROWS = 50_000  # a reference segment's ECE is estimated on at most this many rows


def _segment_row(
    column: str, value: str, y: np.ndarray, p: np.ndarray, *, n: int, n_bins: int, confidence: float
) -> dict[str, Any]:
    low, high = wilson_interval(float(y.sum()), len(y), confidence=confidence)
    curve = reliability_curve(y, p, n_bins=n_bins)  # one binning: ECE and MCE are its gaps
    filled = curve.count > 0
    gaps = np.abs(curve.mean_predicted[filled] - curve.fraction_positive[filled])
    return {
        "column": column,
        "value": value,
        "support": len(y),
        "share": len(y) / n,
        "ece": float(np.sum(curve.count[filled] * gaps) / len(y)),
        "ece_noise": None,
        "ece_noise_floor": None,
        "mce": float(np.max(gaps)),
        "brier": float(np.mean((p - y) ** 2)),
        "mean_score": float(p.mean()),
        "observed_rate": float(y.mean()),
        "observed_ci_low": low,
        "observed_ci_high": high,
        "reference_ece": None,
        "reference_ece_noise": None,
        "reference_support": None,
        "excess_rise": None,
        "p_value": None,
        "p_adjusted": None,
        "miscalibrated": False,
        "reliability": curve,
    }


def _test(
    row: dict[str, Any],
    y: np.ndarray,
    p: np.ndarray,
    ref: tuple[np.ndarray, np.ndarray] | None,
    *,
    n_bins: int,
    ece_threshold: float,
    min_delta: float,
    n_simulations: int,
    n_resamples: int,
    rng: np.random.Generator,
) -> float | None:
    """Fill the noise and reference figures of ``row``; the p-value of its material tests, if any."""
    null = calibrated_eces(p, n_bins=n_bins, n_simulations=n_simulations, seed=int(rng.integers(2**31)))
    row["ece_noise"], row["ece_noise_floor"] = float(null.mean()), float(np.quantile(null, 0.95))
    p_values = []
    if row["ece"] - row["ece_noise"] > ece_threshold:  # material beyond the ECE's own noise
        p_values.append((1 + np.sum(null >= row["ece"])) / (n_simulations + 1))
    if ref is not None:
        y_ref, p_ref = ref
        ref_null = calibrated_eces(p_ref, n_bins=n_bins, n_simulations=50, seed=int(rng.integers(2**31)))
        row["reference_ece"] = expected_calibration_error(y_ref, p_ref, n_bins=n_bins)
        row["reference_support"] = len(y_ref)
        row["reference_ece_noise"] = float(ref_null.mean())
        noise_gap = row["ece_noise"] - row["reference_ece_noise"]
        row["excess_rise"] = row["ece"] - row["reference_ece"] - noise_gap
        if row["excess_rise"] >= min_delta:
            seeds = [int(s) for s in rng.integers(2**31, size=2)]
            rise = bootstrap_eces(y, p, n_bins=n_bins, n_resamples=n_resamples, seed=seeds[0])
            rise -= bootstrap_eces(y_ref, p_ref, n_bins=n_bins, n_resamples=n_resamples, seed=seeds[1])
            rise += row["excess_rise"] - rise.mean()  # the bootstrap's spread around the estimate
            p_values.append((1 + np.sum(rise <= 0)) / (n_resamples + 1))
    return min(1.0, len(p_values) * min(p_values)) if p_values else None


def _in_score_order(order: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The rows of ``mask`` in ascending score order, from the window's ``order``: no sort per segment."""
    return order[mask[order]]


def _reference_segment(
    y: np.ndarray, p: np.ndarray, order: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The segment's reference outcomes and scores (score order), at most ``_MAX_REFERENCE_ROWS`` of them."""
    rows = np.flatnonzero(mask)
    if rows.size > _MAX_REFERENCE_ROWS:
        mask = np.zeros_like(mask)
        mask[rng.choice(rows, _MAX_REFERENCE_ROWS, replace=False)] = True
    rows = _in_score_order(order, mask)
    return y[rows], p[rows]


def calibration_by_segment(
    current: pd.DataFrame,
    reference: pd.DataFrame | None,
    *,
    segments: Sequence[str],
    y_true: str,
    y_score: str,
    n_bins: int = 10,
    ece_threshold: float = 0.1,
    min_delta: float = 0.02,
    fdr: float = 0.05,
    min_support: int = 50,
    numeric_bins: int = 4,
    top_k: int = 20,
    confidence: float = 0.95,
    n_simulations: int = 200,
    n_resamples: int = 200,
    seed: int = 0,
) -> list[SegmentCalibration]:
    """Calibration of every segment of ``segments`` with ``min_support`` labelled rows, worst first.

    Parameters
    ----------
    current, reference : DataFrame
        Labelled rows of the window and of the reference (or ``None``): 0/1 outcomes in
        ``y_true``, probabilities in ``y_score``, and the segment columns. Numeric columns are
        binned at the reference's quantiles.
    segments : sequence of str
    n_bins : int, default=10
        Uniform bins of the ECE, MCE and reliability curve.
    ece_threshold : float, default=0.1
        ECE above which a segment is materially miscalibrated.
    min_delta : float, default=0.02
        Rise of a segment's excess ECE over its reference's that is material.
    fdr : float, default=0.05
        Benjamini-Hochberg level across the segments.
    min_support : int, default=50
    numeric_bins, top_k : int
        As in :func:`checks.segments.segment_check`.
    confidence : float, default=0.95
        Level of the Wilson interval of the observed rate.
    n_simulations, n_resamples : int, default=200
        Simulated calibrated label draws per segment; bootstrap resamples per window of the
        reference comparison.
    seed : int, default=0

    Returns
    -------
    list of SegmentCalibration
        One row per segment (see the module docstring), miscalibrated first, then by ECE.
    """
    func = "calibration_by_segment"
    check_interval("n_bins", n_bins, func, low=2, integer=True)
    check_interval("min_support", min_support, func, low=1)
    check_interval("fdr", fdr, func, low=0.0, high=1.0, closed="neither")
    check_interval("n_simulations", n_simulations, func, low=20)
    check_interval("n_resamples", n_resamples, func, low=20)
    missing = sorted({y_true, y_score, *segments} - set(current.columns))
    if missing:
        raise InvalidParameter(f"columns {missing} of {func} are not in the current frame")
    rng = np.random.default_rng(seed)
    y = binary_labels(current[y_true], "y_true", func)
    p = probabilities(current[y_score], "y_score", func)
    # Sorted by score once per window: each segment's rows are taken in that order, so the
    # score groups of its simulated and resampled ECEs need no sort of their own.
    order = np.argsort(p, kind="stable")
    if reference is not None:
        y_ref = binary_labels(reference[y_true], "y_true", func)
        p_ref = probabilities(reference[y_score], "y_score", func)
        ref_order = np.argsort(p_ref, kind="stable")
    settings = {
        "n_bins": n_bins,
        "ece_threshold": ece_threshold,
        "min_delta": min_delta,
        "n_simulations": n_simulations,
        "n_resamples": n_resamples,
        "rng": rng,
    }
    rows, tested = [], []
    for column in segments:
        has_ref = reference is not None and column in reference
        split = segmentation(
            current[column], reference[column] if has_ref else None, numeric_bins=numeric_bins, top_k=top_k
        )
        codes, values, ref_codes = split.codes, split.labels, split.reference_codes
        for code, value in enumerate(values):
            mask = codes == code
            if mask.sum() < min_support:
                continue
            rows_in = _in_score_order(order, mask)
            y_seg, p_seg = y[rows_in], p[rows_in]
            row = _segment_row(
                column, str(value), y_seg, p_seg, n=len(y), n_bins=n_bins, confidence=confidence
            )
            ref = None
            if ref_codes is not None and (ref_mask := ref_codes == code).sum() >= min_support:
                ref = _reference_segment(y_ref, p_ref, ref_order, ref_mask, rng)
            row["p_value"] = _test(row, y_seg, p_seg, ref, **settings)
            if row["p_value"] is not None:
                tested.append(row)
            rows.append(row)
    adjusted = false_discovery_control([r["p_value"] for r in tested]) if tested else []
    for row, q in zip(tested, adjusted, strict=True):
        row["p_adjusted"] = float(q)
        row["miscalibrated"] = bool(q <= fdr)
    return [SegmentCalibration.of(r) for r in sorted(rows, key=lambda r: (not r["miscalibrated"], -r["ece"]))]
