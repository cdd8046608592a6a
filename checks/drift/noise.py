"""Noise floors: how large each effect measure gets when nothing changed.

The noise floor of a measure is its :data:`QUANTILE` (99th percentile) between two samples
of the window's sizes drawn from one distribution, from the large-sample law of the
difference of the two empirical distributions, ``F_ref - F_cur ~ sqrt(1/n + 1/m) B(F)``
with ``B`` a Brownian bridge (per category: multinomial, so ``n m / (n + m)`` times the
chi-square divergence ``Q = sum((p - q)**2 / pooled)`` is chi-square with ``k - 1`` degrees
of freedom):

* ``psi`` ~ ``Q``, ``kl_div`` ~ ``Q / 2``, squared ``jensenshannon`` and ``hellinger`` ~
  ``Q / 8``: quantiles of the chi-square law;
* ``tvd`` <= ``sqrt(Q) / 2`` (Cauchy-Schwarz; equal for two balanced categories): the bound's
  quantile;
* ``wasserstein`` (``integral |B(F(x))| dx``) and ``energy`` (``sqrt(2 integral B(F(x))**2 dx)``):
  quantiles of :data:`N_DRAWS` simulated bridges (fixed seed, so a verdict is reproducible).

A quantile and not the mean: subtracted in quadrature (:mod:`checks.drift.verdict`) it
leaves a large effect nearly whole (it removes ``floor**2 / (2 effect)``) yet keeps noise
from passing as a material effect in small windows, where effect thresholds sit within
two or three times the mean noise (Wasserstein at 1,000 rows a side: mean 0.057, 99th
percentile 0.12).

>>> round(count_floor("jensenshannon", [500, 500], [500, 500]), 4)
0.0407
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

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
    ref = as_float_array(ref_counts, "ref_counts", measure)
    cur = as_float_array(cur_counts, "cur_counts", measure)
    return chi2_floor(measure, int(np.count_nonzero(ref + cur)), 1 / ref.sum() + 1 / cur.sum())


def chi2_floor(measure: str, n_bins: int, variance: float) -> float:
    """:func:`count_floor` from the number of non-empty bins and ``1/n + 1/m``."""
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
