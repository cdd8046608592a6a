"""The one place that reads check ``details`` for the reports: typed rows in, what a page draws out.

A check puts the rows of :mod:`checks.details` in its ``details`` and a stored run gets them
back from :meth:`checks.result.CheckResult.from_dict`, so these accessors only pick them out
(empty when a result has none, e.g. a skipped check) and derive what the page shows but no
check states (how a column's distribution is drawn, the threshold figures in one place).
Renderers never index ``details`` themselves.

>>> from checks.details import DriftRow, Histogram
>>> row = DriftRow.from_dict({"column": "y", "kind": "numeric", "role": "label", "effect_size": 0.1,
...     "histogram": {"bins": [0, 1, 1], "reference": [0.9, 0.1], "current": [0.8, 0.2]}})
>>> (distribution(row).kind, kind_shown(row))
('discrete', 'label · binary (0/1)')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from checks.details import (
    ClassRow,
    Confusion,
    DriftRow,
    LatencySLO,
    MetricRow,
    QualityColumn,
    RecalibrationSummary,
    ReliabilityCurve,
    SegmentCalibration,
    SegmentRow,
    ThresholdCurve,
)

from .fmt import as_float, num


def floats(values: Any) -> list[float | None]:
    """A list of floats (``None`` where not a finite number) from a sequence or an array."""
    return [as_float(v) for v in (values.tolist() if hasattr(values, "tolist") else values)]


@dataclass(frozen=True)
class Distribution:
    """Reference vs current distribution of one column: numeric bins, categorical shares, or the
    ``discrete`` bins of a column with few values (``categories`` then name each bin's value)."""

    kind: str
    reference: list[float | None]
    current: list[float | None]
    edges: list[float | None]
    categories: list[str]


def distribution(row: DriftRow) -> Distribution | None:
    """How the histogram of a drift row is drawn (``None`` when it has no shares)."""
    hist = row.histogram
    if hist is None or not hist.reference or not hist.current:
        return None
    ref, cur = floats(hist.reference), floats(hist.current)
    if row.kind == "categorical":
        return Distribution("categorical", ref, cur, [], [str(c) for c in hist.bins])
    edges = floats(hist.bins)
    if _discrete(edges, len(ref)):
        return Distribution("discrete", ref, cur, edges, [num(e) for e in edges[: len(ref)]])
    return Distribution("numeric", ref, cur, edges, [])


def _discrete(edges: Sequence[float | None], n_bins: int) -> bool:
    """Whether numeric bins hold one reference value each (a 0/1 label, a small count).

    The drift check gives every distinct value its own bin when the reference has few of
    them; the last bin is then the single largest value, ``[v, v]``.

    >>> _discrete([0.0, 1.0, 1.0], 2), _discrete([0.0, 0.5, 1.0], 2)
    (True, False)
    """
    return (
        len(edges) == n_bins + 1 >= 3
        and all(e is not None for e in edges)
        and edges[-1] == edges[-2]
        and all(a < b for a, b in pairwise(edges[:-1]))  # type: ignore[operator]
    )


def kind_shown(row: DriftRow) -> str:
    """The kind of a drift column as a reader knows it: ``binary`` for a 0/1 column."""
    d = distribution(row)
    kind = row.kind or ""
    if d is not None and d.kind == "discrete":
        kind = "binary (0/1)" if d.categories == ["0", "1"] else f"discrete ({len(d.categories)} values)"
    return f"{row.role} · {kind}" if row.role not in (None, "feature") else kind


def drift_columns(details: Mapping[str, Any]) -> list[DriftRow]:
    """Per-column drift rows, largest effect first (rows without an effect size last, in given order)."""
    rows: list[DriftRow] = details.get("columns", [])
    return sorted(rows, key=lambda c: -(c.effect_size if c.effect_size is not None else -math.inf))


def quality_columns(details: Mapping[str, Any]) -> list[QualityColumn]:
    return list(details.get("columns", []))


def performance_metrics(details: Mapping[str, Any]) -> list[MetricRow]:
    return list(details.get("metrics", []))


def resamples(details: Mapping[str, Any]) -> int | None:
    """The bootstrap resamples behind a check's p-values (their resolution floor is ``1 / (B + 1)``)."""
    b = as_float(details.get("n_resamples"))
    return int(b) if b else None


def alpha(details: Mapping[str, Any]) -> float:
    """The level a check compared its adjusted p-values with."""
    level = as_float(details.get("alpha"))
    return 0.05 if level is None else level


def class_rows(details: Mapping[str, Any]) -> list[ClassRow]:
    """The per-class rows of a multiclass performance check (none for other models)."""
    return list(details.get("per_class", []))


def reliability(details: Mapping[str, Any], key: str) -> ReliabilityCurve | None:
    """One reliability curve: ``reliability``, ``recalibrated_reliability``..."""
    return details.get(key)


def recalibration(details: Mapping[str, Any]) -> RecalibrationSummary | None:
    """The recalibrator proposed with a calibration alert, if one was."""
    return details.get("recalibration")


def confusion(details: Mapping[str, Any]) -> tuple[Confusion, list[str]] | None:
    """The confusion matrices of a multiclass model and its classes, if it has them."""
    matrices, classes = details.get("confusion"), details.get("classes")
    if matrices is None or not isinstance(classes, list) or not classes:
        return None
    return matrices, [str(c) for c in classes]


def class_reliability(
    details: Mapping[str, Any], key: str = "class_reliability"
) -> dict[str, ReliabilityCurve]:
    """The one-vs-rest reliability curve of each class of a multiclass model, by class."""
    return dict(details.get(key, {}))


def calibration_segments(details: Mapping[str, Any]) -> list[SegmentCalibration]:
    return list(details.get("segments", []))


def segment_rows(details: Mapping[str, Any]) -> list[SegmentRow]:
    return list(details.get("segments", []))


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold check's curve with the current and proposed thresholds and the expected gain."""

    curve: ThresholdCurve | None
    objective_name: str | None
    current: float | None
    proposed: float | None
    gain: float | None
    gain_ci: tuple[float | None, float | None] | None


def threshold_choice(details: Mapping[str, Any]) -> ThresholdChoice | None:
    curve, ci, objective = details.get("curve"), details.get("gain_ci"), details.get("objective")
    if curve is None and as_float(details.get("proposed")) is None:
        return None
    return ThresholdChoice(
        curve=curve,
        objective_name=objective if isinstance(objective, str) else None,
        current=as_float(details.get("current")),
        proposed=as_float(details.get("proposed")),
        gain=as_float(details.get("gain")),
        gain_ci=(as_float(ci[0]), as_float(ci[1])) if isinstance(ci, list) and len(ci) == 2 else None,
    )


def latency_slos(details: Mapping[str, Any]) -> dict[str, float]:
    """SLO bounds by metric key (``{"p99_ms": 250.0}``)."""
    slo: LatencySLO | None = details.get("slo")
    return {} if slo is None else slo.bounds()
