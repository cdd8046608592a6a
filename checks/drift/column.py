"""Drift of one column between a reference and a current sample: the notebook entry point.

The verdict -- constant reference, method, material beyond the noise floor, significant --
is written once in :mod:`checks.drift.verdict`; this module computes the numbers it needs
from the two samples (:mod:`checks.drift.binned` from two count vectors).

>>> rng = np.random.default_rng(0)
>>> res = column_drift(rng.normal(size=5000), rng.normal(0.5, 1, size=5000))
>>> res.method, res.drifted, round(res.effect_size, 1)
('wasserstein', True, 0.5)
>>> column_drift(["a", "b"] * 50, ["a", "b"] * 50).drifted
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from checks._params import InvalidParameter, check_interval, check_one_of
from checks.details import Histogram
from checks.drift import count_tests, noise, verdict
from checks.drift.binning import category_counts, edges_of_sorted, sorted_bin_counts, sturges_bins
from checks.drift.methods import KINDS, Method, default_method, resolve_method
from checks.drift.sample_tests import SortedPair, ks
from checks.drift.verdict import MEASURES, corrected

#: Default effect-size thresholds (practical significance) per kind of column.
EFFECT_THRESHOLDS: dict[str, float] = {"numeric": 0.1, "categorical": 0.1}

#: Effect measure of test methods per kind of column (a distance method measures its effect
#: with its own statistic): the larger noise-corrected one of the two for categorical columns.
EFFECT_MEASURES: dict[str, str] = {"numeric": "wasserstein_norm", "categorical": "max(tvd, jensenshannon)"}

#: Test giving the significance of a distance method, per kind of column.
SIGNIFICANCE_TESTS: dict[str, str] = {"numeric": "ks", "categorical": "chisquare"}


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column: the method's statistic, its size, its significance, the verdict.

    ``score`` is the number compared with ``threshold`` (the p-value for test methods, the
    statistic for distances: Evidently's ``drift_score``); ``p_value`` is ``None`` for
    distances. ``effect_measure`` names the effect (the method's statistic for a distance),
    ``effect_corrected`` is it beyond ``noise_floor``; ``clause`` is the clause of
    :mod:`checks.drift.verdict` that decided and ``reason`` says it in words;
    ``minimum_detectable_effect`` (in ``minimum_detectable_measure`` units) and, for numeric
    columns, ``minimum_detectable_shift_sd`` are what the window detects with 80% power.
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
    n_bins: int
    effect_measure: str
    effect_corrected: float
    constant_reference: bool
    clause: str
    reason: str
    minimum_detectable_effect: float
    minimum_detectable_measure: str
    minimum_detectable_shift_sd: float | None

    @property
    def material(self) -> bool:
        """Whether the effect beyond the noise floor reaches its threshold."""
        return self.effect_corrected >= self.effect_threshold

    def to_dict(self) -> dict[str, Any]:
        """The fields and :attr:`material`: the start of a :class:`checks.details.DriftRow`."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"material": self.material}


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
    if threshold is not None:
        check_interval("threshold", threshold, "column_drift", low=0.0, closed="neither")
    if effect_threshold is not None:
        check_interval("effect_threshold", effect_threshold, "column_drift", low=0.0)
    if n_bins is not None:
        check_interval("n_bins", n_bins, "column_drift", low=2, integer=True)
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
        effects=_numeric_effects(chosen, statistic, pair, (ref_counts, cur_counts)),
        effect_threshold=effect_threshold,
        significance=(significance, significance_p),
        alpha=alpha,
        histogram=histogram,
        sizes=(ref.size, cur.size),
        constant_share=float(np.mean(pair.cur != pair.ref[0])) if pair.constant_reference else None,
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
        effects=count_effects(chosen, statistic, ref_counts, cur_counts),
        effect_threshold=effect_threshold,
        significance=(significance, significance_p),
        alpha=alpha,
        histogram=histogram,
        sizes=(int(ref_counts.sum()), int(cur_counts.sum())),
    )


def _numeric_effects(
    method: Method, statistic: float, pair: SortedPair, counts: tuple[np.ndarray, np.ndarray]
) -> list[tuple[str, float, float]]:
    """The effect of a numeric column: the statistic of a distance, else normed Wasserstein."""
    if method.name == "energy":
        return [("energy", statistic, pair.energy_noise_floor)]
    if method.is_p_value or method.name == "wasserstein":
        # one name for the normed Wasserstein effect, in memory and from an engine's bins
        return [("wasserstein_norm", pair.wasserstein_norm, pair.noise_floor)]
    return count_effects(method, statistic, *counts)


def count_effects(
    method: Method, statistic: float, ref_counts: np.ndarray, cur_counts: np.ndarray
) -> list[tuple[str, float, float]]:
    """The effect from counts: a distance's own statistic, or TVD and JS for a categorical test."""
    if not method.is_p_value:
        return [(method.name, statistic, noise.count_floor(method.name, ref_counts, cur_counts))]
    names = ("tvd", "jensenshannon")
    floors = noise.count_floors(names, ref_counts, cur_counts)  # one set of draws for both
    return [
        (name, fn(ref_counts, cur_counts)[0], floor)
        for name, fn, floor in zip(names, (count_tests.tvd, count_tests.jensenshannon), floors, strict=True)
    ]


def decide(
    *,
    column: str | None,
    kind: str,
    method: Method,
    outcome: tuple[float, float | None],
    threshold: float | None,
    effects: Sequence[tuple[str, float, float]],
    effect_threshold: float | None,
    significance: tuple[str, float | None],
    alpha: float,
    histogram: Histogram,
    sizes: tuple[int, int],
    constant_share: float | None = None,
) -> ColumnDrift:
    """Assemble a :class:`ColumnDrift` from computed numbers and apply :mod:`checks.drift.verdict`.

    ``effects`` holds candidate ``(measure, effect_size, noise_floor)``; the one largest
    beyond its floor counts. ``constant_share`` is, for a constant reference, the share of
    current rows holding another value (it replaces the effect).
    """
    statistic, p_value = outcome
    threshold = method.default_threshold if threshold is None else float(threshold)
    if effect_threshold is None:
        effect_threshold = EFFECT_THRESHOLDS[kind] if method.is_p_value else threshold
    effect_threshold = float(effect_threshold)
    check_interval("effect_threshold", effect_threshold, "column_drift", low=0.0)
    if constant_share is not None:
        measure, effect_size, noise_floor, effect_corrected = "tvd", constant_share, 0.0, constant_share
    else:
        measure, effect_size, noise_floor, effect_corrected = max(
            ((m, e, f, corrected(e, f, squared=MEASURES[m].squared)) for m, e, f in effects),
            key=lambda c: c[3],
        )
    row = {
        "column": column,
        "kind": kind,
        "method": method.name,
        "statistic": float(statistic),
        "p_value": None if p_value is None else float(p_value),
        "threshold": threshold,
        "score": method.score(statistic, p_value),
        "method_drifted": bool(method.decides_drift(statistic, p_value, threshold)),
        "effect_size": float(effect_size),
        "noise_floor": float(noise_floor),
        "effect_threshold": effect_threshold,
        "significance_method": significance[0],
        "significance_p_value": 1.0 if significance[1] is None else float(significance[1]),
        "n_reference": int(sizes[0]),
        "n_current": int(sizes[1]),
        "histogram": histogram,
        "n_bins": sum(r > 0 or c > 0 for r, c in zip(histogram.reference, histogram.current, strict=True)),
        "effect_measure": measure,
        "effect_corrected": float(effect_corrected),
        "constant_reference": constant_share is not None,
    }
    return ColumnDrift(**verdict.apply(row, alpha=alpha, adjusted=False))


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
