"""Drift of one column between a reference and a current sample: the notebook entry point.

A column *drifts* when three things hold at once:

1. the chosen method says so at its threshold (Evidently's verdict, ``method_drifted``);
2. the change is **material**: its effect size exceeds ``effect_threshold`` by more than
   the sampling noise, ``effect_size - noise_floor >= effect_threshold``. The effect size is
   on a scale that does not shrink with sample size -- for numeric columns the Wasserstein
   distance divided by the reference standard deviation (a mean shift of ``d`` standard
   deviations scores ``d``; default threshold 0.1), for categorical columns the total
   variation distance (the share of rows that changed category; default 0.1). Both are
   biased upwards in small samples: ``noise_floor`` is their expected value when nothing
   changed (about 0.057 for a normal column at 1,000 rows per side, 0.0057 at 100,000),
   from the normal approximation of the difference of the two empirical distributions;
3. the change is **significant**: the p-value of a two-sample test (the method's own when
   it is a test, otherwise KS for numeric and the chi-square test of homogeneity for
   categorical columns) is below ``alpha`` (:func:`checks.drift.dataset_drift` replaces
   ``alpha`` with a Benjamini-Hochberg adjustment across columns).

Significance alone flags negligible changes in large windows (at a million rows KS rejects
a 0.01-standard-deviation shift); size alone flags noise in small windows. Requiring both
keeps false alarms rare at any sample size.

>>> rng = np.random.default_rng(0)
>>> res = column_drift(rng.normal(size=5000), rng.normal(0.5, 1, size=5000))
>>> res.method, res.drifted, round(res.effect_size, 1)
('wasserstein', True, 0.5)
>>> column_drift(["a", "b"] * 50, ["a", "b"] * 50).drifted
False
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from checks._params import InvalidParameter, check_interval, check_one_of
from checks.drift import count_tests
from checks.drift.binning import category_counts, edges_of_sorted, sorted_bin_counts, sturges_bins
from checks.drift.methods import KINDS, Method, default_method, resolve_method
from checks.drift.sample_tests import SortedPair, ks

#: Default effect-size thresholds (practical significance) per kind of column.
EFFECT_THRESHOLDS: dict[str, float] = {"numeric": 0.1, "categorical": 0.1}

#: Name of the effect-size measure per kind of column.
EFFECT_MEASURES: dict[str, str] = {"numeric": "wasserstein_norm", "categorical": "tvd"}

#: Test giving the significance of a distance method, per kind of column.
SIGNIFICANCE_TESTS: dict[str, str] = {"numeric": "ks", "categorical": "chisquare"}


@dataclass(frozen=True)
class Histogram:
    """Reference and current distributions as the report draws them.

    For a numeric column ``bins`` holds ``n + 1`` edges: the reference-fixed interior
    edges (:func:`checks.drift.binning.reference_edges`) framed by the smallest and the
    largest value seen (the outer bins are open-ended; a bin may have zero width when a
    value of a discrete column is an edge); for a categorical column ``bins`` holds the
    ``n`` categories.
    ``reference`` and ``current`` hold the ``n`` shares, each summing to 1.
    """

    bins: tuple[Any, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column: the method's statistic, its size, its significance, the verdict.

    ``score`` is the number compared with ``threshold`` (the p-value for test methods, the
    statistic for distances: Evidently's ``drift_score``); ``p_value`` is ``None`` for
    distances. ``drifted`` is ``method_drifted and material and significance_p_value < alpha``
    with ``material`` meaning ``effect_size - noise_floor >= effect_threshold`` (see the
    module docstring).
    """

    column: str | None
    kind: str
    method: str
    statistic: float
    p_value: float | None
    threshold: float
    score: float
    method_drifted: bool
    effect_size: float
    noise_floor: float
    effect_threshold: float
    significance_method: str
    significance_p_value: float
    drifted: bool
    n_reference: int
    n_current: int
    histogram: Histogram

    @property
    def material(self) -> bool:
        """Whether the effect size exceeds its threshold by more than the noise floor."""
        return self.effect_size - self.noise_floor >= self.effect_threshold

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["histogram"] = {
            "bins": list(self.histogram.bins),
            "reference": list(self.histogram.reference),
            "current": list(self.histogram.current),
        }
        out["effect_measure"] = EFFECT_MEASURES[self.kind]
        out["material"] = self.material
        return out


def infer_kind(values: pd.Series) -> str:
    """``"numeric"`` for numeric dtypes (booleans excepted), ``"categorical"`` otherwise.

    >>> infer_kind(pd.Series([1.5, 2.0])), infer_kind(pd.Series(["a"])), infer_kind(pd.Series([True]))
    ('numeric', 'categorical', 'categorical')
    """
    dtype = values.dtype
    is_numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    return "numeric" if is_numeric else "categorical"


def column_drift(
    reference: Any,
    current: Any,
    *,
    method: str | None = None,
    threshold: float | None = None,
    kind: str | None = None,
    effect_threshold: float | None = None,
    alpha: float = 0.05,
    n_bins: int | None = None,
    column: str | None = None,
) -> ColumnDrift:
    """Compare the distribution of one column between a reference and a current sample.

    Parameters
    ----------
    reference, current : array-like or Series of shape (n_samples,)
        The two samples; missing values are ignored (data quality counts them).
    method : str, default=None
        A name of :data:`checks.drift.METHODS` (or Evidently's ``ed``/``TVD``); by default
        Evidently's choice (:func:`checks.drift.methods.default_method`).
    threshold : float, default=None
        The method's threshold; by default the method's (Evidently's) default.
    kind : {"numeric", "categorical"}, default=None
        Inferred from the dtype of ``reference`` when omitted.
    effect_threshold : float, default=None
        Smallest material effect size; :data:`EFFECT_THRESHOLDS` of the kind by default.
    alpha : float, default=0.05
        Significance level of the gating test.
    n_bins : int, default=None
        Bins of numeric columns for binned methods and the histogram
        (:func:`checks.drift.binning.reference_edges`; Sturges' rule by default).
    column : str, default=None
        Name carried into the result.

    Returns
    -------
    ColumnDrift
    """
    ref_series, cur_series = _as_series(reference, "reference"), _as_series(current, "current")
    kind = infer_kind(ref_series) if kind is None else kind
    check_one_of("kind", kind, KINDS, "column_drift")
    check_interval("alpha", alpha, "column_drift", low=0.0, high=1.0, closed="neither")
    if kind == "numeric":
        return _numeric_drift(
            _as_floats(ref_series, column),
            _as_floats(cur_series, column),
            method=method,
            threshold=threshold,
            effect_threshold=effect_threshold,
            alpha=alpha,
            n_bins=n_bins,
            column=column,
        )
    return _categorical_drift(
        ref_series,
        cur_series,
        method=method,
        threshold=threshold,
        effect_threshold=effect_threshold,
        alpha=alpha,
        column=column,
    )


def _numeric_drift(
    ref: np.ndarray,
    cur: np.ndarray,
    *,
    method: str | None,
    threshold: float | None,
    effect_threshold: float | None,
    alpha: float,
    n_bins: int | None,
    column: str | None,
) -> ColumnDrift:
    pair = SortedPair.of(ref, cur)
    if method is None:
        method = default_method("numeric", ref.size, pair.n_distinct)
    chosen = resolve_method(method, "numeric")
    if n_bins is not None:
        check_interval("n_bins", n_bins, "column_drift", low=2)
    edges = edges_of_sorted(pair.ref, sturges_bins(ref.size) if n_bins is None else n_bins)
    ref_counts, cur_counts = sorted_bin_counts(pair.ref, edges), sorted_bin_counts(pair.cur, edges)
    if chosen.input == "samples":
        statistic, p_value = chosen.fn(pair)
    else:
        statistic, p_value = chosen.fn(ref_counts, cur_counts)
    significance = chosen.name if chosen.is_p_value else SIGNIFICANCE_TESTS["numeric"]
    significance_p = p_value if chosen.is_p_value else ks(pair)[1]
    low = min(pair.ref[0], pair.cur[0])
    high = max(pair.ref[-1], pair.cur[-1], edges[-1])
    histogram = Histogram(
        bins=tuple(float(e) for e in (low, *edges, high)),
        reference=tuple((ref_counts / ref.size).tolist()),
        current=tuple((cur_counts / cur.size).tolist()),
    )
    return decide(
        column=column,
        kind="numeric",
        method=chosen,
        outcome=(statistic, p_value),
        threshold=threshold,
        effect=(pair.wasserstein_norm, pair.noise_floor),
        effect_threshold=effect_threshold,
        significance=(significance, significance_p),
        alpha=alpha,
        histogram=histogram,
        sizes=(ref.size, cur.size),
    )


def _categorical_drift(
    ref: pd.Series,
    cur: pd.Series,
    *,
    method: str | None,
    threshold: float | None,
    effect_threshold: float | None,
    alpha: float,
    column: str | None,
) -> ColumnDrift:
    categories, ref_counts, cur_counts = category_counts(ref, cur)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        raise InvalidParameter(f"column {column!r}: reference and current need a non-missing value each")
    if method is None:
        method = default_method("categorical", int(ref_counts.sum()), len(categories))
    chosen = resolve_method(method, "categorical")
    statistic, p_value = chosen.fn(ref_counts, cur_counts)
    significance = chosen.name if chosen.is_p_value else SIGNIFICANCE_TESTS["categorical"]
    significance_p = p_value if chosen.is_p_value else count_tests.chisquare(ref_counts, cur_counts)[1]
    histogram = Histogram(
        bins=tuple(categories),
        reference=tuple((ref_counts / ref_counts.sum()).tolist()),
        current=tuple((cur_counts / cur_counts.sum()).tolist()),
    )
    return decide(
        column=column,
        kind="categorical",
        method=chosen,
        outcome=(statistic, p_value),
        threshold=threshold,
        effect=(
            count_tests.tvd(ref_counts, cur_counts)[0],
            count_tests.tvd_noise_floor(ref_counts, cur_counts),
        ),
        effect_threshold=effect_threshold,
        significance=(significance, significance_p),
        alpha=alpha,
        histogram=histogram,
        sizes=(int(ref_counts.sum()), int(cur_counts.sum())),
    )


def decide(
    *,
    column: str | None,
    kind: str,
    method: Method,
    outcome: tuple[float, float | None],
    threshold: float | None,
    effect: tuple[float, float],
    effect_threshold: float | None,
    significance: tuple[str, float | None],
    alpha: float,
    histogram: Histogram,
    sizes: tuple[int, int],
) -> ColumnDrift:
    """Assemble a :class:`ColumnDrift` from computed numbers, applying the three-part verdict."""
    statistic, p_value = outcome
    effect_size, noise_floor = effect
    threshold = method.default_threshold if threshold is None else float(threshold)
    effect_threshold = EFFECT_THRESHOLDS[kind] if effect_threshold is None else float(effect_threshold)
    check_interval("effect_threshold", effect_threshold, "column_drift", low=0.0)
    method_drifted = method.decides_drift(statistic, p_value, threshold)
    material = effect_size - noise_floor >= effect_threshold
    significance_p = 1.0 if significance[1] is None else float(significance[1])
    return ColumnDrift(
        column=column,
        kind=kind,
        method=method.name,
        statistic=float(statistic),
        p_value=None if p_value is None else float(p_value),
        threshold=threshold,
        score=method.score(statistic, p_value),
        method_drifted=bool(method_drifted),
        effect_size=float(effect_size),
        noise_floor=float(noise_floor),
        effect_threshold=effect_threshold,
        significance_method=significance[0],
        significance_p_value=significance_p,
        drifted=bool(method_drifted and material and significance_p < alpha),
        n_reference=int(sizes[0]),
        n_current=int(sizes[1]),
        histogram=histogram,
    )


def _as_series(values: Any, name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidParameter(f"{name!r} of column_drift must be 1-dimensional; got shape {arr.shape}")
    return pd.Series(arr)


def _as_floats(values: pd.Series, column: str | None) -> np.ndarray:
    """The non-missing values as float64 (nullable dtypes' ``pd.NA`` counts as missing)."""
    try:
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"column {column!r} is declared numeric but holds non-numeric values") from exc
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise InvalidParameter(f"column {column!r}: reference and current need a non-missing value each")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameter(f"column {column!r} holds infinite values")
    return arr
