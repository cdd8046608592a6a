"""The typed parts of :attr:`checks.result.CheckResult.details` that reports and JSON read.

A check puts these frozen dataclasses in its ``details`` (per-column drift rows, quality
rows, performance metric rows, segment rows, reliability and threshold curves, latency
SLOs); :func:`checks.result.jsonable` turns each into the mapping of its fields, under the
keys the JSON output and the stored runs have always had; :func:`read_details` turns that
stored JSON back into the same objects. Stored JSON is read leniently: a key a stored run
lacks reads as ``None``, a key this version no longer has is ignored, and a row whose values
are not of their field's type (or a curve whose arrays differ in length) is left out, so a
page renders what it can. Everything else in ``details`` (settings echoed back, notes)
stays plain JSON values.

>>> slo = LatencySLO(p99_ms=250.0)
>>> slo.to_dict()
{'p99_ms': 250.0}
>>> read_details("latency", {"slo": {"p99_ms": 250.0}}) == {"slo": slo}
True
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self, Union, get_args, get_origin, get_type_hints

import numpy as np


class DetailError(ValueError):
    """A stored detail that is not of the shape its type has."""

    def __init__(self, kind: str, key: str, value: Any) -> None:
        super().__init__(f"{kind}.{key} cannot be {str(value)[:40]!r}")


@dataclass(frozen=True)
class Detail:
    """Base of the typed details: JSON keys are the field names (a trailing ``_`` dropped).

    A field that defaults to ``None`` is left out of :meth:`to_dict` while it is ``None``
    (the JSON has the key only when it has a value, as it always had).

    ``_nested`` names the fields that hold another :class:`Detail`, so that
    :meth:`from_dict` rebuilds them too.
    """

    _nested: ClassVar[dict[str, type[Detail]]] = {}
    #: Fields without which a stored row is not one (its name).
    _required: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for name, key, _, _, optional in _fields(type(self)):
            value = getattr(self, name)
            if value is not None or not optional:
                out[key] = value
        return out

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Self:
        """From a row a check built under the JSON keys: every key a field, every field given."""
        names = {f.name.rstrip("_"): f.name for f in fields(cls)}
        unknown = sorted(set(row) - set(names))
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
        return cls(**{names[k]: v for k, v in row.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """From stored JSON: a key the data lacks reads as ``None``, an unknown key is ignored.

        :raises DetailError: a value is not of its field's type.
        """
        values = {}
        for name, key, fits, kind, _ in _fields(cls):
            value = data.get(key)
            if not fits(value) or (value is None and name in cls._required):
                raise DetailError(cls.__name__, name, value)
            values[name] = kind.from_dict(value) if kind is not None and value is not None else value
        return cls(**values)


_Check = Callable[[Any], bool]


@functools.cache
def _fields(cls: type[Detail]) -> list[tuple[str, str, _Check, type[Detail] | None, bool]]:
    """Per field: its name, its JSON key, the check of a JSON value, the :class:`Detail` it
    nests, and whether it defaults to ``None`` (left out of the JSON while ``None``)."""
    hints = get_type_hints(cls)
    return [
        (f.name, f.name.rstrip("_"), _checker(hints[f.name]), cls._nested.get(f.name), f.default is None)
        for f in fields(cls)
    ]


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


_SCALARS = {float: (int, float), int: (int, float), str: (str,), bool: (bool,)}


def _scalar_types(hint: Any) -> set[type] | None:
    """The exact JSON types of a scalar (or a union of scalars) ``hint``, ``None`` included."""
    parts = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    if not all(p in _SCALARS or p is type(None) for p in parts):
        return None
    return {type(None), *(t for p in parts for t in _SCALARS.get(p, ()))}


def _checker(hint: Any) -> _Check:
    """The check of whether a JSON value can stand for a field of type ``hint`` (``None`` always can).

    >>> _checker(tuple[float | str, ...])([0.5, "a", None]), _checker(float | None)(True)
    (True, False)
    """
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        parts = [_checker(a) for a in args if a is not type(None)]
        return parts[0] if len(parts) == 1 else lambda v: any(part(v) for part in parts)
    if hint in (float, int):
        return _is_number
    if hint in (bool, str):
        return lambda v: v is None or isinstance(v, hint)
    if origin is tuple or hint is np.ndarray:
        if not args or args[0] is Any:
            return lambda v: v is None or isinstance(v, list | tuple)
        item, exact = _checker(args[0]), _scalar_types(args[0])
        # the exact types of plain JSON first (fast); numpy scalars of a row built in memory next
        return lambda v: (
            v is None
            or (
                isinstance(v, list | tuple)
                and ((exact is not None and set(map(type, v)) <= exact) or all(map(item, v)))
            )
        )
    if origin is Mapping:
        value_check = _checker(args[1])
        return lambda v: v is None or (isinstance(v, Mapping) and all(map(value_check, v.values())))
    if isinstance(hint, type) and issubclass(hint, Detail):
        return lambda v: v is None or isinstance(v, Mapping)
    return lambda v: True


_FLOATS = _checker(tuple[float, ...])


def _same_length(kind: str, *arrays: Sequence[Any]) -> None:
    if len({len(a) for a in arrays}) > 1:
        raise DetailError(kind, "lengths", [len(a) for a in arrays])


@dataclass(frozen=True, eq=False)
class ReliabilityCurve(Detail):
    """Per-bin mean score and fraction of positives; empty bins hold NaN and count 0."""

    mean_predicted: np.ndarray
    fraction_positive: np.ndarray
    count: np.ndarray
    bin_edges: np.ndarray

    def to_dict(self) -> dict[str, list[Any]]:
        return {
            "mean_predicted": self.mean_predicted.tolist(),
            "fraction_positive": self.fraction_positive.tolist(),
            "count": self.count.tolist(),
            "bin_edges": self.bin_edges.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReliabilityCurve:
        def floats(key: str) -> np.ndarray:
            values = data.get(key) or []
            if not _FLOATS(values):
                raise DetailError(cls.__name__, key, values)
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        curve = cls(
            floats("mean_predicted"), floats("fraction_positive"), floats("count"), floats("bin_edges")
        )
        _same_length(cls.__name__, curve.mean_predicted, curve.fraction_positive)
        return curve

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReliabilityCurve):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True)
            for f in fields(self)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Histogram(Detail):
    """Reference and current distributions of a drift row as the report draws them.

    For a numeric column ``bins`` holds ``n + 1`` edges: the reference-fixed interior
    edges (:func:`checks.drift.binning.reference_edges`) framed by the smallest and the
    largest value seen (the outer bins are open-ended; a bin may have zero width when a
    value of a discrete column is an edge); for a categorical column ``bins`` holds the
    ``n`` categories (any JSON scalar: a bool or int column's values stay what they are).
    ``reference`` and ``current`` hold the ``n`` shares, each summing to 1.
    """

    bins: tuple[Any, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        hist = super().from_dict({k: tuple(data.get(k) or ()) for k in ("bins", "reference", "current")})
        _same_length("Histogram", hist.reference, hist.current)
        if len(hist.bins) - len(hist.reference) not in (0, 1):
            raise DetailError("Histogram", "bins", hist.bins)
        return hist


@dataclass(frozen=True)
class DriftRow(Detail):
    """One tested column of ``drift`` (``details["columns"]``).

    The fields of :class:`checks.drift.column.ColumnDrift`, with its verdict after
    multiple-testing control (:mod:`checks.drift.verdict`) and the column's role, importance
    and missing shares.
    """

    _nested: ClassVar[dict[str, type[Detail]]] = {"histogram": Histogram}

    _required: ClassVar[tuple[str, ...]] = ("column",)

    column: str | int  # the column label (a notebook frame may have int labels)
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
    material: bool
    subject: str
    role: str
    significance_p_adjusted: float
    significant: bool
    importance: float | None
    missing_reference: float | None
    missing_current: float | None


@dataclass(frozen=True)
class QualityColumn(Detail):
    """One column of ``data_quality`` (``details["columns"]``); the range for numeric columns,
    the categories for categorical ones (``None``/empty otherwise)."""

    _required: ClassVar[tuple[str, ...]] = ("column",)

    column: str | int
    kind: str
    new_categories: Mapping[str, float]
    n_new_categories: int
    new_category_share: float | None
    vanished_categories: Mapping[str, float]
    vanished_p_value: float | None
    missing_ref: float
    missing_cur: float
    missing_p_value: float | None
    constant: bool
    out_of_range_share: float | None
    ref_min: float | None
    ref_max: float | None


@dataclass(frozen=True)
class MetricRow(Detail):
    """One metric of a performance check (``details["metrics"]``), realised or estimated.

    ``p_value`` is the one-sided bootstrap p-value of the change, ``adjusted_p_value`` it
    Holm-adjusted across metrics; ``threshold`` is the value past which the change is
    material. ``class_`` (JSON ``class``) names the class of a per-class metric.
    """

    _required: ClassVar[tuple[str, ...]] = ("name",)

    name: str
    value: float
    ci_low: float
    ci_high: float
    reference: float | None
    reference_ci_low: float | None
    reference_ci_high: float | None
    direction: str
    degraded: bool
    estimated: bool
    delta: float | None
    min_delta: float | None
    min_relative: float | None
    relative_rise: float | None
    material_by: str | None
    threshold: float | None
    p_value: float | None
    adjusted_p_value: float | None
    class_: str | None = None


@dataclass(frozen=True)
class ClassMetric(Detail):
    """One cell of the multiclass per-class table: a per-class metric with its interval."""

    value: float
    ci_low: float
    ci_high: float
    reference: float | None
    degraded: bool


@dataclass(frozen=True)
class ClassRow(Detail):
    """One class of a multiclass performance check (``details["per_class"]``)."""

    _nested: ClassVar[dict[str, type[Detail]]] = {
        "precision": ClassMetric,
        "recall": ClassMetric,
        "roc_auc": ClassMetric,
    }

    _required: ClassVar[tuple[str, ...]] = ("class_",)

    class_: str
    support: int
    share: float
    precision: ClassMetric
    recall: ClassMetric
    roc_auc: ClassMetric
    reference_support: int | None = None
    reference_share: float | None = None


@dataclass(frozen=True)
class SegmentRow(Detail):
    """One segment of the ``segments`` check (``details["segments"]``).

    ``value_metric`` is the segment's error metric ``metric``, ``rest_value`` the rest of the
    window's, ``reference_value`` the segment's on the reference; ``comparison`` names what
    it was judged against.
    """

    _required: ClassVar[tuple[str, ...]] = ("column",)

    column: str | int
    value: str
    support: int
    share: float
    metric: str
    value_metric: float
    ci_low: float
    ci_high: float
    comparison: str
    ratio_of_ratios: float | None
    expected_value: float | None
    excess: float | None
    p_value: float | None
    p_ratio: float | None
    p_own: float | None
    p_adjusted: float | None
    flagged: bool
    flagged_against: tuple[str, ...]
    severity: str | None
    alert_ratio: float | None
    rest_value: float | None
    rest_support: int | None
    reference_value: float | None
    reference_support: int | None
    reference_rest_value: float | None
    reference_rest_support: int | None
    gap: float | None
    reference_gap: float | None
    gap_change: float | None


@dataclass(frozen=True)
class SegmentCalibration(Detail):
    """One segment of :func:`checks.segment_calibration.calibration_by_segment`
    (``details["segments"]`` of ``calibration``)."""

    _nested: ClassVar[dict[str, type[Detail]]] = {"reliability": ReliabilityCurve}

    _required: ClassVar[tuple[str, ...]] = ("column",)

    column: str | int
    value: str
    support: int
    share: float
    ece: float
    ece_noise: float | None
    ece_noise_floor: float | None
    mce: float
    brier: float
    mean_score: float
    observed_rate: float
    observed_ci_low: float
    observed_ci_high: float
    reference_ece: float | None
    reference_ece_noise: float | None
    reference_support: int | None
    excess_rise: float | None
    p_value: float | None
    p_adjusted: float | None
    miscalibrated: bool
    reliability: ReliabilityCurve


@dataclass(frozen=True)
class ThresholdCurve(Detail):
    """The objective at each candidate decision threshold (``details["curve"]`` of ``threshold``)."""

    thresholds: tuple[float, ...]
    objective: tuple[float, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdCurve:
        curve = super().from_dict({k: tuple(data.get(k) or ()) for k in ("thresholds", "objective")})
        _same_length(cls.__name__, curve.thresholds, curve.objective)
        return curve


@dataclass(frozen=True)
class Confusion(Detail):
    """Confusion matrices of a multiclass model (rows: true class, columns: predicted, in
    ``details["classes"]`` order), the current window's and the reference's."""

    current: tuple[tuple[int, ...], ...]
    reference: tuple[tuple[int, ...], ...] | None = None


@dataclass(frozen=True)
class RecalibrationSummary(Detail):
    """The recalibrator proposed after a calibration alert (``details["recalibration"]``),
    ECE and log loss before and after it on the held-out newest rows."""

    improved: bool
    reason: str
    method: str | None
    ece_before: float | None
    ece_after: float | None
    log_loss_before: float | None
    log_loss_after: float | None
    n_fit: int
    n_holdout: int


@dataclass(frozen=True)
class LatencySLO(Detail):
    """The latency check's bounds (``details["slo"]``): percentiles in ms and the error rate."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, by metric key (``{"p99_ms": 250.0}``)."""
        return {k: v for k, v in self.to_dict().items() if v is not None}


_Reader = Callable[[Any], Any]


def _read(kind: type[Detail], value: Any) -> Any:
    """``kind`` from ``value``; ``None`` when it is not one."""
    if isinstance(value, kind):
        return value
    try:
        return kind.from_dict(value) if isinstance(value, Mapping) else None
    except DetailError:
        return None


def _one(kind: type[Detail]) -> _Reader:
    return lambda value: _read(kind, value)


def _rows(kind: type[Detail]) -> _Reader:
    def read(value: Any) -> list[Any]:
        rows = (_read(kind, v) for v in (value if isinstance(value, list) else ()))
        return [r for r in rows if r is not None]

    return read


def _by_name(kind: type[Detail]) -> _Reader:
    def read(value: Any) -> dict[str, Any]:
        items = value.items() if isinstance(value, Mapping) else ()
        return {str(k): r for k, v in items if (r := _read(kind, v)) is not None}

    return read


_RELIABILITY = {
    "reliability": _one(ReliabilityCurve),
    "reliability_reference": _one(ReliabilityCurve),
    "recalibrated_reliability": _one(ReliabilityCurve),
    "class_reliability": _by_name(ReliabilityCurve),
    "class_reliability_reference": _by_name(ReliabilityCurve),
    "segments": _rows(SegmentCalibration),
    "recalibration": _one(RecalibrationSummary),
}
_PERFORMANCE = {"metrics": _rows(MetricRow), "per_class": _rows(ClassRow), "confusion": _one(Confusion)}

#: Per check, the details keys that hold typed parts and how each is read back from JSON.
READERS: dict[str, dict[str, _Reader]] = {
    "drift": {"columns": _rows(DriftRow)},
    "data_quality": {"columns": _rows(QualityColumn)},
    "latency": {"slo": _one(LatencySLO)},
    "performance": _PERFORMANCE,
    "estimated_performance": _PERFORMANCE,
    "calibration": _RELIABILITY,
    "segments": {"segments": _rows(SegmentRow)},
    "threshold": {"curve": _one(ThresholdCurve)},
}


def read_details(check: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """``details`` of a ``check`` as stored (JSON) with its typed parts rebuilt (a part that
    is not of its type is left out)."""
    readers = READERS.get(check, {})
    out = {k: readers[k](v) if k in readers else v for k, v in details.items()}
    return {k: v for k, v in out.items() if v is not None or k not in readers}
