"""Reference-fixed bins and count vectors: the shared ground of in-memory and SQL drift.

Binned statistics (PSI, Jensen-Shannon, KL, Hellinger, TVD, chi-square) are computed on
**bins fixed from the reference window**, so a statistic is comparable from one current
window to the next and the same counts can be produced by a database
(``width_bucket(x, edges)`` in PostgreSQL puts ``x`` in the same bin as :func:`bin_index`).

Evidently 0.7 instead re-derives equal-width Sturges bins from the *combined* reference and
current values on every call: its bins move with each window and a single outlier in the
current window can squeeze almost all mass into one bin. driftwatch uses equal-frequency
bins of the reference (quantiles, so no reference bin is empty and PSI/KL need no
smoothing on numeric data) whose two outer bins are open-ended: values outside the
reference range fall in the first or last bin.

>>> edges = reference_edges(np.arange(100.0), n_bins=4)
>>> edges.tolist()
[25.0, 50.0, 75.0]
>>> bin_counts([-5.0, 10.0, 50.0, 99.0, 1e9], edges).tolist()
[2, 0, 1, 2]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from checks._params import InvalidParameter, as_float_array, check_interval


def sturges_bins(n: int) -> int:
    """Number of bins by Sturges' rule, ``ceil(log2(n)) + 1`` (at least 2), as numpy uses.

    >>> sturges_bins(1000), sturges_bins(1_000_000)
    (11, 21)
    """
    return max(2, math.ceil(math.log2(max(n, 1))) + 1)


def reference_edges(reference_values: Any, *, n_bins: int | None = None) -> np.ndarray:
    """Interior bin edges fixed from the reference sample.

    The bins are ``(-inf, e[0]), [e[0], e[1]), ..., [e[-1], +inf)``: left-closed like
    PostgreSQL's ``width_bucket(x, edges)``, with open-ended outer bins. When the reference
    has at most ``n_bins`` distinct values, each distinct value gets its own bin (the edges
    are the distinct values but the smallest); otherwise the edges are the distinct
    reference order statistics of ranks ``j * n // n_bins`` (``j = 1 .. n_bins-1``, 0-based),
    so every edge is a reference value, no reference bin is empty, and with distinct values
    each bin holds ``n / n_bins`` reference rows up to rounding. A constant reference ``v``
    gives the three bins ``x < v``, ``x == v`` and ``x > v``.

    Parameters
    ----------
    reference_values : array-like of shape (n_samples,)
        Reference values; NaN are ignored.
    n_bins : int, default=None
        Number of bins; by default Sturges' rule on the reference size (11 bins at 1,000
        rows, 21 at 1,000,000).

    Returns
    -------
    edges : ndarray of shape (n_edges,)
        Strictly increasing interior edges; ``len(edges) + 1`` bins.

    Examples
    --------
    >>> reference_edges([1.0, 1.0, 2.0, 3.0]).tolist()
    [2.0, 3.0]
    >>> edges = reference_edges([4.0, 4.0])
    >>> bin_counts([3.0, 4.0, 5.0], edges).tolist()
    [1, 1, 1]
    """
    values = as_float_array(reference_values, "reference_values", "reference_edges", allow_nan=True)
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise InvalidParameter("'reference_values' of reference_edges has no non-missing value")
    if n_bins is None:
        n_bins = sturges_bins(values.size)
    check_interval("n_bins", n_bins, "reference_edges", low=2)
    return edges_of_sorted(np.sort(values), n_bins)


def edges_of_sorted(sorted_values: np.ndarray, n_bins: int) -> np.ndarray:
    """:func:`reference_edges` of an already sorted sample without NaN."""
    distinct = sorted_values[np.append(True, np.diff(sorted_values) > 0)]
    if distinct.size == 1:
        v = distinct[0]
        return np.array([v, np.nextafter(v, np.inf)])
    if distinct.size <= n_bins:
        return distinct[1:]
    ranks = (np.arange(1, n_bins) * sorted_values.size) // n_bins
    quantiles = np.unique(sorted_values[ranks])
    return quantiles[quantiles > distinct[0]]


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin number of each value, ``0 .. len(edges)`` (PostgreSQL ``width_bucket(x, edges)``)."""
    return np.searchsorted(edges, values, side="right")


def bin_counts(values: Any, edges: np.ndarray) -> np.ndarray:
    """Count of values in each reference-fixed bin (NaN ignored), length ``len(edges) + 1``."""
    arr = as_float_array(values, "values", "bin_counts", allow_nan=True)
    arr = arr[~np.isnan(arr)]
    return np.bincount(bin_index(arr, edges), minlength=len(edges) + 1)


def sorted_bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """:func:`bin_counts` for an already sorted sample, in ``O(n_bins log n)``."""
    below = np.searchsorted(sorted_values, edges, side="left")
    return np.diff(np.concatenate(([0], below, [sorted_values.size])))


def category_counts(reference: pd.Series, current: pd.Series) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Categories seen in either sample (sorted) and their counts in each (NaN ignored).

    >>> cats, ref, cur = category_counts(pd.Series(["b", "a", "a"]), pd.Series(["c", "a"]))
    >>> cats, ref.tolist(), cur.tolist()
    (['a', 'b', 'c'], [2, 1, 0], [1, 0, 1])
    """
    table = pd.concat(
        [reference.value_counts(dropna=True), current.value_counts(dropna=True)], axis=1, sort=False
    ).fillna(0)
    categories = list(table.index)
    try:
        order = sorted(range(len(categories)), key=lambda i: categories[i])
    except TypeError:
        order = sorted(range(len(categories)), key=lambda i: str(categories[i]))
    counts = table.to_numpy(dtype=np.int64)[order]
    return [categories[i] for i in order], counts[:, 0], counts[:, 1]
