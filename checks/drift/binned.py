"""Drift from count vectors on shared bins: windows too large for memory, aggregated in SQL.

The database computes, for each window, the count of rows per category or per bin of
:func:`checks.drift.binning.reference_edges` (``width_bucket(x, edges)`` in PostgreSQL puts
every value in the same bin as :func:`checks.drift.binning.bin_index`), and
:func:`binned_drift` turns the two count vectors into the same :class:`ColumnDrift` as
:func:`checks.drift.column_drift`.

Accuracy against the in-memory computation on the same rows:

* ``psi``, ``jensenshannon``, ``kl_div``, ``hellinger``, ``tvd``, ``chisquare``, ``z``: identical
  (in memory they are computed on these very counts).
* ``ks``: the statistic at the bin edges only (:func:`checks.drift.count_tests.ks_binned`),
  at most the largest bin share below the exact ``D`` and never above it; its p-value is
  conservative. With the default Sturges bins (21 at a million rows) a 0.2-standard-
  deviation shift gives ``D`` within 0.005 of the exact value.
* effect size of numeric columns: the Wasserstein distance of the piecewise-linear CDFs
  through the edges, over the span of the interior edges (the open outer bins are left
  out), divided by ``reference_std``. It underestimates a location shift by about
  ``2 / n_bins`` of its size (the mass of the two outer bins), about 10% with 21 bins.
* a constant reference (its edges ``[v, next float]`` hold every reference row in the middle
  bin) is decided as in memory: drift exactly when a current row falls outside that bin.

>>> res = binned_drift([250, 250], [150, 350], method="tvd", kind="categorical", categories=["a", "b"])
>>> round(res.statistic, 3), res.drifted
(0.2, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from checks._params import InvalidParameter, as_float_array, check_interval, check_one_of
from checks.drift import count_tests
from checks.drift.column import SIGNIFICANCE_TESTS, ColumnDrift, Histogram, count_effects, decide
from checks.drift.methods import KINDS, METHODS, Method, resolve_method
from checks.drift.noise import bridge_floor

#: Methods computable from counts; ``ks`` is the binned approximation.
BINNED_METHODS: frozenset[str] = frozenset(
    {name for name, m in METHODS.items() if m.input == "counts"} | {"ks"}
)


def binned_drift(
    ref_counts: Any,
    cur_counts: Any,
    *,
    method: str,
    threshold: float | None = None,
    kind: str = "numeric",
    edges: Any = None,
    reference_std: float | None = None,
    categories: Any = None,
    low: float | None = None,
    high: float | None = None,
    effect_threshold: float | None = None,
    alpha: float = 0.05,
    column: str | None = None,
) -> ColumnDrift:
    """Drift of one column from the counts of both windows over the same bins.

    Parameters
    ----------
    ref_counts, cur_counts : array-like of shape (n_bins,)
        Rows per bin (numeric) or per category (categorical), aligned.
    method : str
        One of :data:`BINNED_METHODS`.
    threshold : float, default=None
        The method's threshold; its default when omitted.
    kind : {"numeric", "categorical"}, default="numeric"
    edges : array-like of shape (n_bins - 1,), default=None
        Interior edges from :func:`checks.drift.reference_edges`; required for numeric.
    reference_std : float, default=None
        Standard deviation of the reference (ddof=0); required for numeric (effect size).
    categories : sequence of shape (n_bins,), default=None
        Category labels for the histogram of a categorical column.
    low, high : float, default=None
        Smallest and largest value of both windows, to frame the histogram's outer bins
        (infinite when omitted).
    effect_threshold : float, default=None
        See :func:`checks.drift.column_drift`.
    alpha : float, default=0.05
        Significance level of the gating test.
    column : str, default=None

    Returns
    -------
    ColumnDrift
    """
    check_one_of("method", method, BINNED_METHODS, "binned_drift")
    check_one_of("kind", kind, KINDS, "binned_drift")
    check_interval("alpha", alpha, "binned_drift", low=0.0, high=1.0, closed="neither")
    ref, cur = count_tests.shares(ref_counts, cur_counts, "binned_drift")
    ref_n = as_float_array(ref_counts, "ref_counts", "binned_drift")
    cur_n = as_float_array(cur_counts, "cur_counts", "binned_drift")
    chosen: Method = METHODS["ks"] if method == "ks" else resolve_method(method, kind, "binned_drift")
    fn = count_tests.ks_binned if method == "ks" else chosen.fn
    statistic, p_value = fn(ref_n, cur_n)
    constant_share = None
    if kind == "numeric":
        edge_arr = _numeric_edges(edges, ref.size, reference_std)
        scale = float(reference_std)  # type: ignore[arg-type]
        if chosen.is_p_value:
            wasserstein = _binned_wasserstein(ref, cur, edge_arr), _binned_noise(ref_n, cur_n, edge_arr)
            effects = [("wasserstein_norm", *_scaled(*wasserstein, scale))]
        else:
            effects = count_effects(chosen, statistic, ref_n, cur_n)
        if _constant(ref, edge_arr):
            constant_share = float(cur[0] + cur[2])
        significance_p = p_value if chosen.is_p_value else count_tests.ks_binned(ref_n, cur_n)[1]
        frame = (-np.inf if low is None else float(low), np.inf if high is None else float(high))
        bins: tuple[Any, ...] = (frame[0], *edge_arr.tolist(), frame[1])
    else:
        effects = count_effects(chosen, statistic, ref_n, cur_n)
        significance_p = p_value if chosen.is_p_value else count_tests.chisquare(ref_n, cur_n)[1]
        bins = tuple(range(ref.size)) if categories is None else tuple(categories)
        if len(bins) != ref.size:
            raise InvalidParameter(f"'categories' of binned_drift needs {ref.size} labels; got {len(bins)}")
    significance = chosen.name if chosen.is_p_value else SIGNIFICANCE_TESTS[kind]
    histogram = Histogram(bins=bins, reference=tuple(ref.tolist()), current=tuple(cur.tolist()))
    return decide(
        column=column,
        kind=kind,
        method=chosen,
        outcome=(statistic, p_value),
        threshold=threshold,
        effects=effects,
        effect_threshold=effect_threshold,
        significance=(significance, significance_p),
        alpha=alpha,
        histogram=histogram,
        sizes=(int(ref_n.sum()), int(cur_n.sum())),
        constant_share=constant_share,
    )


def _numeric_edges(edges: Any, n_bins: int, reference_std: float | None) -> np.ndarray:
    if edges is None or reference_std is None:
        raise InvalidParameter("binned_drift of a numeric column needs 'edges' and 'reference_std'")
    edge_arr = as_float_array(edges, "edges", "binned_drift")
    if edge_arr.size != n_bins - 1:
        raise InvalidParameter(
            f"'edges' of binned_drift must have one value fewer than the counts ({n_bins - 1}); "
            f"got {edge_arr.size}"
        )
    if np.any(np.diff(edge_arr) <= 0):
        raise InvalidParameter("'edges' of binned_drift must be strictly increasing")
    check_interval("reference_std", reference_std, "binned_drift", low=0.0)
    return edge_arr


def _constant(ref: np.ndarray, edges: np.ndarray) -> bool:
    """Whether the reference is one value ``v``: its edges ``[v, next float]`` hold it all in bin 1."""
    one_value = edges.size == 2 and edges[1] == np.nextafter(edges[0], np.inf)
    return bool(one_value and ref[1] == 1.0)


def _scaled(wasserstein: float, noise: float, scale: float) -> tuple[float, float]:
    """Effect and floor in reference SDs; a zero SD (constant reference) decides without them."""
    return (wasserstein / scale, noise / scale) if scale > 0 else (0.0, 0.0)


def _binned_noise(ref_counts: np.ndarray, cur_counts: np.ndarray, edges: np.ndarray) -> float:
    """The noise floor of :func:`_binned_wasserstein`: bridges at the edges, trapezoid weights."""
    pooled = np.cumsum(ref_counts + cur_counts)[:-1] / (ref_counts.sum() + cur_counts.sum())
    widths = np.diff(edges)
    weights = (np.append(widths, 0.0) + np.insert(widths, 0, 0.0)) / 2
    return bridge_floor("wasserstein", pooled, weights, int(ref_counts.sum()), int(cur_counts.sum()))


def _binned_wasserstein(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> float:
    """Integral of ``|F_ref - F_cur|`` between the outer edges, CDFs linear between edges."""
    gap = np.abs(np.cumsum(ref)[:-1] - np.cumsum(cur)[:-1])
    return float(np.sum((gap[:-1] + gap[1:]) / 2 * np.diff(edges)))
