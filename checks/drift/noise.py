"""Noise floors: how large each effect measure gets when nothing changed.

The noise floor of a measure is its :data:`QUANTILE` (99th percentile) between two samples
of the window's sizes drawn from one distribution:

* ``psi``, ``kl_div``, ``jensenshannon``, ``hellinger``, ``tvd`` (two count vectors over the
  same categories or bins): the statistic itself over :data:`N_DRAWS` pairs of multinomial
  samples of the two sizes from the pooled shares (fixed seed, so a verdict is
  reproducible). Exact for sparse tables too -- many rare categories, where the
  chi-square law of ``n m / (n + m) sum((p - q)**2 / pooled)`` (about ``k - 1`` degrees of
  freedom) understates JS and PSI -- and with Evidently's smoothing of empty cells;
* ``wasserstein`` (``integral |B(F(x))| dx``) and ``energy`` (``sqrt(2 integral B(F(x))**2
  dx)``): from the large-sample law ``F_ref - F_cur ~ sqrt(1/n + 1/m) B(F)``, ``B`` a
  Brownian bridge, over :data:`N_DRAWS` simulated bridges (fixed seed).

A quantile and not the mean: subtracted in quadrature (:mod:`checks.drift.verdict`) it
leaves a large effect nearly whole (it removes ``floor**2 / (2 effect)``) yet keeps noise
from passing as a material effect in small windows, where effect thresholds sit within
two or three times the mean noise (Wasserstein at 1,000 rows a side: mean 0.057, 99th
percentile 0.12).

>>> round(count_floor("jensenshannon", [500, 500], [500, 500]), 4)
0.0403
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import special, stats

from checks._params import as_float_array

#: Quantile of the no-change law used as the noise floor.
QUANTILE = 0.99

#: Simulated Brownian bridges for the Wasserstein and energy floors.
N_DRAWS = 2000

#: Points of the pooled CDF at which the bridges are simulated for samples in memory.
GRID = 256

#: Divergence per unit of the chi-square divergence ``Q``.
_PER_Q = {"psi": 1.0, "kl_div": 0.5, "jensenshannon": 0.125, "hellinger": 0.125, "tvd": 0.25}


def count_floor(measure: str, ref_counts: Any, cur_counts: Any) -> float:
    """Noise floor of a measure computed from two count vectors over the same bins or categories."""
    return count_floors((measure,), ref_counts, cur_counts)[0]


def count_floors(measures: Sequence[str], ref_counts: Any, cur_counts: Any) -> list[float]:
    """Noise floors of several measures from one set of draws (each as :func:`count_floor`)."""
    func = measures[0]
    ref = as_float_array(ref_counts, "ref_counts", func)
    cur = as_float_array(cur_counts, "cur_counts", func)
    n_ref, n_cur = round(ref.sum()), round(cur.sum())
    pooled = (ref + cur)[(ref + cur) > 0]
    pooled = pooled / pooled.sum()
    rng = np.random.default_rng(0)
    chunk = max(1, 2_000_000 // pooled.size)  # bounds the memory of the draws
    values: list[list[np.ndarray]] = [[] for _ in measures]
    for start in range(0, N_DRAWS, chunk):
        size = min(chunk, N_DRAWS - start)
        p = rng.multinomial(n_ref, pooled, size=size) / n_ref
        q = rng.multinomial(n_cur, pooled, size=size) / n_cur
        for out, measure in zip(values, measures, strict=True):
            out.append(_STATISTICS[measure](p, q))
    rank = int(np.ceil(QUANTILE * N_DRAWS)) - 1
    return [float(np.partition(np.concatenate(v), rank)[rank]) for v in values]


def _smoothed(p: np.ndarray) -> np.ndarray:
    """Evidently's smoothing of empty cells, row by row (``count_tests._fill_zeroes``)."""
    smallest = np.where(p > 0, p, np.inf).min(axis=1, keepdims=True)
    return np.where(p == 0, np.where(smallest <= 1e-4, smallest / 1e6, 1e-4), p)


def _kl_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = _smoothed(p), _smoothed(q)
    p, q = p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)
    return special.rel_entr(p, q).sum(axis=1)


def _js_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    mix = (p + q) / 2
    divergence = (special.rel_entr(p, mix).sum(axis=1) + special.rel_entr(q, mix).sum(axis=1)) / 2
    return np.sqrt(np.maximum(divergence, 0.0))


def _psi_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = _smoothed(p), _smoothed(q)
    return ((p - q) * np.log(p / q)).sum(axis=1)


#: The count statistics of :mod:`checks.drift.count_tests`, one value per row of two share matrices.
_STATISTICS = {
    "tvd": lambda p, q: 0.5 * np.abs(p - q).sum(axis=1),
    "jensenshannon": _js_rows,
    "hellinger": lambda p, q: np.sqrt(1 - np.clip(np.sqrt(p * q).sum(axis=1), 0.0, 1.0)),
    "psi": _psi_rows,
    "kl_div": _kl_rows,
}


def chi2_floor(measure: str, n_bins: int, variance: float) -> float:
    """:func:`count_floor` from the chi-square law (``k - 1`` degrees of freedom; for the power).

    ``n_bins`` non-empty bins, ``variance`` is ``1/n + 1/m``; TVD through its Cauchy-Schwarz
    bound ``sqrt(Q) / 2``.
    """
    value = _PER_Q[measure] * float(stats.chi2.ppf(QUANTILE, max(n_bins - 1, 1))) * variance
    return value if measure in ("psi", "kl_div") else float(np.sqrt(value))


def bridge_floor(measure: str, cdf: np.ndarray, widths: np.ndarray, n_ref: int, n_cur: int) -> float:
    """Floor of ``wasserstein`` or ``energy`` (unnormalised) for a CDF ``cdf`` on cells ``widths``.

    ``cdf`` holds the pooled CDF at one point per cell (non-decreasing, in [0, 1]) and
    ``widths`` each cell's length: the integrals are the sums over cells.
    """
    absolute, squared = _bridges(tuple(np.round(cdf, 12).tolist()))
    # einsum, not @: a BLAS matrix-vector product this small costs more in thread wake-ups.
    draws = np.einsum("ij,j->i", absolute if measure == "wasserstein" else squared, widths)
    if measure == "energy":
        draws = np.sqrt(2 * draws)
    rank = int(np.ceil(QUANTILE * N_DRAWS)) - 1
    return float(np.sqrt(1 / n_ref + 1 / n_cur) * np.partition(draws, rank)[rank])


def quantile_cells(pooled_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:data:`GRID` cells between pooled quantiles ``j / GRID``: their CDF midpoints and widths."""
    n = pooled_sorted.size
    bounds = pooled_sorted[np.minimum((np.arange(GRID + 1) * n) // GRID, n - 1)]
    return (np.arange(GRID) + 0.5) / GRID, np.diff(bounds)


@lru_cache(maxsize=64)
def _bridges(points: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``|B|`` and ``B**2`` of :data:`N_DRAWS` seeded Brownian bridges at ``points`` (non-decreasing)."""
    t = np.asarray(points)
    steps = np.diff(np.concatenate(([0.0], t, [1.0])))
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.standard_normal((N_DRAWS, steps.size)) * np.sqrt(steps), axis=1)
    bridges = walk[:, :-1] - t * walk[:, -1:]
    return np.abs(bridges), bridges**2
