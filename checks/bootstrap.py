"""Bootstrap confidence intervals by index resampling, vectorised in batches.

A statistic is given in one of two forms:

* **plain** (``weighted=False``): ``statistic(*arrays) -> float``, called once per resample
  on the resampled arrays ``a[idx]``. Works for any statistic; costs one Python call per
  resample.
* **weighted** (``weighted=True``): ``statistic(counts, *arrays) -> ndarray of shape (b,)``,
  where ``counts`` is a ``(b, n)`` integer matrix and ``counts[r, i]`` is how many times row
  ``i`` was drawn in resample ``r``. Drawing ``n`` rows with replacement is exactly a
  multinomial count vector, so any statistic that is a weighted sum or ratio of sums
  (accuracy, RMSE, a rank-based AUC...) evaluates ``b`` resamples with a few matrix
  operations.

Both forms draw the same indices from the same seed, so they produce identical
distributions. Indices are drawn in batches of at most ``max_cells`` entries, so memory stays
bounded for large windows.

A *paired* comparison (two statistics on the same rows, e.g. F1 at two thresholds) needs no
special function: pass a statistic that returns the difference. :func:`bootstrap_difference`
covers the *two-sample* case (current window versus reference window, resampled
independently).

>>> x = np.arange(100.0)
>>> low, high = bootstrap_ci(np.mean, x, n_resamples=200, seed=1)
>>> bool(low < 49.5 < high)
True
>>> mean_w = lambda counts, v: counts @ v / len(v)
>>> bootstrap_ci(mean_w, x, n_resamples=200, seed=1, weighted=True) == (low, high)
True

References
----------
.. [1] Efron, B., Tibshirani, R. J. (1993). An Introduction to the Bootstrap. Chapman & Hall,
   ch. 13 (percentile interval) and ch. 16 (bootstrap hypothesis tests).
.. [2] Davison, A. C., Hinkley, D. V. (1997). Bootstrap Methods and their Application.
   Cambridge University Press, §4.4 (tests from resampling, the (1 + count) / (B + 1) p-value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from checks._params import InvalidParameter, check_interval, check_n_resamples, check_one_of

#: Upper bound on the number of index cells (resamples x rows) held in memory at once.
MAX_CELLS = 2_000_000


def _as_arrays(arrays: Sequence[Any], func: str) -> tuple[np.ndarray, ...]:
    if not arrays:
        raise InvalidParameter(f"{func} needs at least one array to resample")
    out = tuple(np.asarray(a.to_numpy() if isinstance(a, pd.Series | pd.DataFrame) else a) for a in arrays)
    n = len(out[0])
    for i, a in enumerate(out):
        if a.ndim == 0 or len(a) != n:
            raise InvalidParameter(
                f"arrays of {func} must have the same length along axis 0; "
                f"array 0 has {n} rows, array {i} has shape {a.shape}"
            )
    if n == 0:
        raise InvalidParameter(f"{func} cannot resample empty arrays")
    return out


def _check_common(n_resamples: int, func: str, confidence: float | None = None) -> None:
    check_n_resamples(n_resamples, func)
    if confidence is not None:
        check_interval("confidence", confidence, func, low=0.0, high=1.0, closed="neither")


def resample_indices(
    n: int, *, n_resamples: int, rng: np.random.Generator, max_cells: int = MAX_CELLS
) -> Iterator[np.ndarray]:
    """Yield ``(b, n)`` index matrices (rows drawn with replacement) until ``n_resamples`` are drawn.

    >>> [m.shape for m in resample_indices(10, n_resamples=5, rng=np.random.default_rng(0), max_cells=20)]
    [(2, 10), (2, 10), (1, 10)]
    """
    batch = max(1, max_cells // max(n, 1))
    done = 0
    while done < n_resamples:
        b = min(batch, n_resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def counts_from_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """``(b, n)`` multinomial counts: how often each of the ``n`` rows appears in each resample.

    >>> counts_from_indices(np.array([[0, 0, 2], [1, 2, 2]]), 3).tolist()
    [[2, 0, 1], [0, 1, 2]]
    """
    b = idx.shape[0]
    flat = idx + (np.arange(b) * n)[:, None]
    return np.bincount(flat.ravel(), minlength=b * n).reshape(b, n)


def poisson_weights(sizes: Any, *, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, k)`` Poisson bootstrap counts of ``k`` cells holding ``sizes`` rows each.

    Giving every row an independent Poisson(1) count is the Poisson bootstrap [3]_: its cell
    totals are Poisson(``sizes``), so a statistic of cell totals costs ``n_resamples x k``
    draws, whatever the number of rows. It differs from the multinomial (index) bootstrap only in
    that the resample size varies around ``n`` (by about ``sqrt(n)``): statistics must divide by
    the resample's own total. Every metric of a window reads the same matrix, so their joint
    distribution (what Holm's adjustment sees) is one coherent bootstrap.

    References
    ----------
    .. [3] Hanley, J. A., MacGibbon, B. (2006). Creating non-parametric bootstrap samples using
       Poisson frequencies. Computer Methods and Programs in Biomedicine 83(1), 57-62.

    >>> w = poisson_weights([1, 1000], n_resamples=4000, rng=np.random.default_rng(0))
    >>> w.shape, [round(float(v), 1) for v in w.mean(axis=0) / [1, 1000]]
    ((4000, 2), [1.0, 1.0])
    """
    lam = np.asarray(sizes, dtype=np.float64)
    return rng.poisson(lam, size=(n_resamples, lam.size)).astype(np.float64)


def _distribution(
    statistic: Callable[..., Any],
    arrays: tuple[np.ndarray, ...],
    *,
    n_resamples: int,
    rng: np.random.Generator,
    weighted: bool,
) -> np.ndarray:
    n = len(arrays[0])
    parts: list[np.ndarray] = []
    for idx in resample_indices(n, n_resamples=n_resamples, rng=rng):
        if weighted:
            values = np.asarray(statistic(counts_from_indices(idx, n), *arrays), dtype=np.float64)
            if values.ndim not in (1, 2) or values.shape[0] != idx.shape[0]:
                raise InvalidParameter(
                    f"a weighted statistic must return one value (or one row) per resample, shape "
                    f"({idx.shape[0]},) or ({idx.shape[0]}, m); got shape {values.shape}"
                )
        else:
            values = np.array([statistic(*(a[row] for a in arrays)) for row in idx], dtype=np.float64)
        parts.append(values)
    return np.concatenate(parts)


def bootstrap_distribution(
    statistic: Callable[..., Any],
    *arrays: Any,
    n_resamples: int = 1000,
    seed: int | np.random.SeedSequence = 0,
    weighted: bool = False,
) -> np.ndarray:
    """The statistic on ``n_resamples`` bootstrap resamples of the rows of ``arrays``.

    Parameters
    ----------
    statistic : callable
        ``statistic(*arrays) -> float`` or, with ``weighted=True``,
        ``statistic(counts, *arrays) -> ndarray of shape (b,)`` (see the module docstring); a
        weighted statistic may also return ``(b, m)`` to compute ``m`` statistics from the same
        resamples at once. It may return NaN for a resample where it is undefined (e.g. AUC
        with one class).
    *arrays : array-like, each of shape (n_samples, ...)
        Resampled together, row by row (paired).
    n_resamples : int, default=1000
    seed : int or numpy.random.SeedSequence, default=0
    weighted : bool, default=False

    Returns
    -------
    ndarray of shape (n_resamples,) or (n_resamples, m)
    """
    func = "bootstrap_distribution"
    _check_common(n_resamples, func)
    arr = _as_arrays(arrays, func)
    return _distribution(
        statistic, arr, n_resamples=n_resamples, rng=np.random.default_rng(seed), weighted=weighted
    )


def percentile_interval(distribution: Any, *, confidence: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of a bootstrap distribution, ignoring NaN resamples.

    Returns ``(nan, nan)`` when no resample gave a finite value.

    >>> percentile_interval(np.arange(101.0), confidence=0.5)
    (25.0, 75.0)
    """
    check_interval("confidence", confidence, "percentile_interval", low=0.0, high=1.0, closed="neither")
    d = np.asarray(distribution, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return (float("nan"), float("nan"))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(d, [tail, 1.0 - tail])
    return (float(low), float(high))


def bootstrap_ci(
    statistic: Callable[..., Any],
    *arrays: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    weighted: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval ``(low, high)`` of ``statistic`` over ``arrays``.

    Parameters are those of :func:`bootstrap_distribution` plus ``confidence`` (two-sided
    level, default 0.95). Resamples where the statistic is NaN are ignored.

    >>> y = np.r_[np.zeros(50), np.ones(50)]
    >>> low, high = bootstrap_ci(np.mean, y, n_resamples=500, seed=0)
    >>> bool(0.35 < low < 0.5 < high < 0.65)
    True
    """
    func = "bootstrap_ci"
    _check_common(n_resamples, func, confidence)
    dist = bootstrap_distribution(statistic, *arrays, n_resamples=n_resamples, seed=seed, weighted=weighted)
    return percentile_interval(dist, confidence=confidence)


def bootstrap_difference(
    statistic: Callable[..., Any],
    current: Sequence[Any],
    reference: Sequence[Any],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    weighted: bool = False,
) -> np.ndarray:
    """Bootstrap distribution of ``statistic(current) - statistic(reference)`` for two independent samples.

    Each window is resampled independently, which is the two-sample bootstrap for a difference
    of a statistic between two populations. The streams are
    ``numpy.random.SeedSequence(seed).spawn(2)`` (current first), so a caller that also needs
    each window's own distribution gets the same resamples from :func:`bootstrap_distribution`
    with those two seeds.

    Parameters
    ----------
    statistic : callable
        As in :func:`bootstrap_distribution`.
    current, reference : sequence of array-like
        The arrays of each window, in the order ``statistic`` takes them.
    n_resamples : int, default=1000
    seed : int, default=0
    weighted : bool, default=False

    Returns
    -------
    ndarray of shape (n_resamples,) or (n_resamples, m)

    >>> rng = np.random.default_rng(0)
    >>> d = bootstrap_difference(np.mean, [rng.normal(1, 1, 400)], [rng.normal(0, 1, 400)], n_resamples=300)
    >>> low, high = percentile_interval(d)
    >>> bool(0.7 < low < high < 1.3)
    True
    """
    func = "bootstrap_difference"
    _check_common(n_resamples, func)
    cur = _as_arrays(current, func)
    ref = _as_arrays(reference, func)
    cur_seq, ref_seq = np.random.SeedSequence(seed).spawn(2)
    kwargs: dict[str, Any] = {"n_resamples": n_resamples, "weighted": weighted}
    d_cur = _distribution(statistic, cur, rng=np.random.default_rng(cur_seq), **kwargs)
    d_ref = _distribution(statistic, ref, rng=np.random.default_rng(ref_seq), **kwargs)
    return d_cur - d_ref


def bootstrap_p_value(
    distribution: Any, *, null: float = 0.0, alternative: Literal["less", "greater"] = "less"
) -> float:
    """One-sided bootstrap p-value from the percentile-interval inversion.

    For ``alternative="less"`` (H1: the parameter is below ``null``), the p-value is
    ``(1 + #{d >= null}) / (B + 1)`` over the ``B`` finite resamples ``d``; mirrored for
    ``"greater"``. It is below ``alpha`` exactly when the one-sided ``1 - alpha`` percentile
    bound excludes ``null`` (up to the ``+1`` correction that keeps it a valid p-value).

    >>> bootstrap_p_value(np.array([-3.0, -2.0, -1.0, 0.5]), alternative="less")
    0.4
    >>> bootstrap_p_value(np.array([-3.0, -2.0, -1.0, 0.5]), alternative="greater")
    0.8
    """
    check_one_of("alternative", alternative, {"less", "greater"}, "bootstrap_p_value")
    d = np.asarray(distribution, dtype=np.float64)
    d = d[np.isfinite(d)]
    against = np.count_nonzero(d >= null) if alternative == "less" else np.count_nonzero(d <= null)
    return float((1 + against) / (d.size + 1))
