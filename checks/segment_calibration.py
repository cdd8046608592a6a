"""Calibration per segment: where the probabilities stopped matching the outcomes.

A model can be calibrated on the whole window and miscalibrated in one market or channel
(its errors cancel out). For each segment of each configured column (formed as the segment
error check forms them, :mod:`checks.segmentation`) with at least ``min_support`` labelled
rows this reports the ECE and MCE on ``n_bins`` uniform bins, the Brier score, the reliability
curve, and calibration-in-the-large: the mean score against the observed rate with its Wilson
interval.

ECE is biased upwards in small samples: a perfectly calibrated segment of 200 rows shows an
ECE of a few points from label noise alone. Each row therefore carries ``ece_noise_floor``,
the 95th percentile of the ECE the segment would show were it perfectly calibrated (labels
simulated as ``Bernoulli(score)``, ``n_simulations`` times). As for the whole window, a
segment is ``miscalibrated`` when its ECE exceeds ``ece_threshold`` or exceeds the same
segment's reference ECE by at least ``min_delta`` — and, either way, exceeds its noise floor.
The rows are informative (the report's calibration section); they raise no alert on their own.

>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"s": rng.uniform(0, 1, 2000), "c": rng.choice(["a", "b"], 2000)})
>>> frame["y"] = (rng.uniform(size=2000) < np.where(frame["c"] == "a", frame["s"], frame["s"] / 3))
>>> rows = calibration_by_segment(frame, None, segments=["c"], y_true="y", y_score="s")
>>> [(r["value"], r["miscalibrated"]) for r in rows]
[('b', True), ('a', False)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from checks._params import InvalidParameter, check_interval
from checks.calibration import brier_decomposition, reliability_curve
from checks.segmentation import apply_segments, form_segments
from checks.segments import wilson_interval

_SIMULATED_CELLS = 4_000_000  # simulated labels held in memory at once


def _ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE on uniform bins for each row of ``y`` (shape ``(b, n)``), as :mod:`checks.calibration`."""
    ids = np.searchsorted(np.linspace(0, 1, n_bins + 1)[1:-1], p)
    onehot = np.zeros((len(p), n_bins))
    onehot[np.arange(len(p)), ids] = 1.0
    gap = p @ onehot - y @ onehot
    return np.abs(gap).sum(axis=-1) / len(p)


def _noise_floor(p: np.ndarray, n_bins: int, n_simulations: int, rng: np.random.Generator) -> float:
    """The 95th percentile of the ECE of perfectly calibrated labels for these scores."""
    eces, left = [], n_simulations
    step = max(1, _SIMULATED_CELLS // max(len(p), 1))
    while left > 0:
        b = min(step, left)
        eces.append(_ece((rng.uniform(size=(b, len(p))) < p).astype(np.float64), p, n_bins))
        left -= b
    return float(np.quantile(np.concatenate(eces), 0.95))


def _segment_row(
    column: str,
    value: str,
    y: np.ndarray,
    p: np.ndarray,
    *,
    n: int,
    n_bins: int,
    confidence: float,
    floor: float,
) -> dict[str, Any]:
    ece = float(_ece(y, p, n_bins))
    curve = reliability_curve(y, p, n_bins=n_bins)
    filled = curve.count > 0
    low, high = wilson_interval(float(y.sum()), len(y), confidence=confidence)
    return {
        "column": column,
        "value": value,
        "support": len(y),
        "share": len(y) / n,
        "ece": ece,
        "ece_noise_floor": floor,
        "mce": float(np.max(np.abs(curve.mean_predicted[filled] - curve.fraction_positive[filled]))),
        "brier": brier_decomposition(y, p, n_bins=n_bins).brier,
        "mean_score": float(p.mean()),
        "observed_rate": float(y.mean()),
        "observed_ci_low": low,
        "observed_ci_high": high,
        "miscalibrated": False,
        "reference_ece": None,
        "reference_support": None,
        "reliability": curve.to_dict(),
    }


def _miscalibrated(row: dict[str, Any], ece_threshold: float, min_delta: float) -> bool:
    """Beyond its noise floor, and above the threshold or materially above its reference ECE."""
    ece, reference = row["ece"], row["reference_ece"]
    worse = reference is not None and ece - reference >= min_delta
    return bool(ece > row["ece_noise_floor"] and (ece > ece_threshold or worse))


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
    min_support: int = 50,
    numeric_bins: int = 4,
    top_k: int = 20,
    confidence: float = 0.95,
    n_simulations: int = 200,
    seed: int = 0,
) -> list[dict[str, Any]]:
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
    min_delta : float, default=0.02
        Rise of a segment's ECE over its reference ECE that counts as miscalibration.
    min_support : int, default=50
    numeric_bins, top_k : int
        As in :func:`checks.segments.segment_check`.
    confidence : float, default=0.95
        Level of the Wilson interval of the observed rate.
    n_simulations : int, default=200
        Simulated label draws for each segment's ECE noise floor.
    seed : int, default=0

    Returns
    -------
    list of dict
        One row per segment (see the module docstring), miscalibrated first, then by ECE.
    """
    func = "calibration_by_segment"
    check_interval("n_bins", n_bins, func, low=2)
    check_interval("min_support", min_support, func, low=1)
    check_interval("n_simulations", n_simulations, func, low=1)
    missing = sorted({y_true, y_score, *segments} - set(current.columns))
    if missing:
        raise InvalidParameter(f"columns {missing} of {func} are not in the current frame")
    rng = np.random.default_rng(seed)
    y = current[y_true].to_numpy(dtype=np.float64)
    p = current[y_score].to_numpy(dtype=np.float64)
    rows = []
    for column in segments:
        basis = reference[column] if reference is not None and column in reference else current[column]
        how = form_segments(current[column], basis, numeric_bins=numeric_bins, top_k=top_k)
        labels = apply_segments(current[column], how).to_numpy()
        ref_labels = None
        if reference is not None and column in reference:
            ref_labels = apply_segments(reference[column], how).to_numpy()
        for value in pd.unique(labels):
            mask = labels == value
            if mask.sum() < min_support:
                continue
            floor = _noise_floor(p[mask], n_bins, n_simulations, rng)
            row = _segment_row(
                column,
                str(value),
                y[mask],
                p[mask],
                n=len(y),
                n_bins=n_bins,
                confidence=confidence,
                floor=floor,
            )
            if ref_labels is not None and (ref_labels == value).sum() >= min_support:
                in_ref = ref_labels == value
                ref_y = reference[y_true].to_numpy(dtype=np.float64)[in_ref]
                ref_p = reference[y_score].to_numpy(dtype=np.float64)[in_ref]
                row["reference_ece"], row["reference_support"] = float(_ece(ref_y, ref_p, n_bins)), len(ref_y)
            row["miscalibrated"] = _miscalibrated(row, ece_threshold, min_delta)
            rows.append(row)
    return sorted(rows, key=lambda r: (not r["miscalibrated"], -r["ece"]))
