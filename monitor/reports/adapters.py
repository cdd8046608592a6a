"""The one place that reads check ``details``: tolerant accessors from loose mappings to typed rows.

Checks evolve; reports must not crash on a renamed or missing key. Every accessor here
accepts the documented key and its common aliases, and returns ``None``/empty for what is
absent, so a section renders what it has. Renderers never index ``details`` themselves.

>>> pick({"pvalue": 0.01}, "p_value", "pvalue")
0.01
>>> col = drift_columns({"columns": [{"feature": "amount", "p_value": 0.001, "drift_detected": True,
...     "bin_edges": [0, 1, 2], "reference": [0.5, 0.5], "current": [0.2, 0.8]}]})[0]
>>> (col.column, col.drifted, col.distribution.kind)
('amount', True, 'numeric')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from checks.result import Finding

from .fmt import as_float, num


def pick(row: Any, *keys: str, default: Any = None) -> Any:
    """The value of the first of ``keys`` present (and not ``None``) in ``row``."""
    if not isinstance(row, Mapping):
        return default
    for key in keys:
        value = row.get(key)
        if value is not None:
            return value
    return default


def rows(value: Any) -> list[Mapping[str, Any]]:
    """A list of mappings from a list of mappings or a ``{name: mapping}`` mapping (name kept as ``name``)."""
    if isinstance(value, Mapping):
        return [{"name": k, **v} for k, v in value.items() if isinstance(v, Mapping)]
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [r for r in value if isinstance(r, Mapping)]
    return []


def floats(value: Any) -> list[float | None]:
    """A list of floats (``None`` where not a finite number) from any sequence."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [as_float(v) for v in value]
    if hasattr(value, "tolist"):
        return floats(value.tolist())
    return []


def flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class Distribution:
    """Reference vs current distribution of one column: numeric bins, categorical shares, or the
    ``discrete`` bins of a column with few values (``categories`` then name each bin's value)."""

    kind: str
    reference: list[float | None]
    current: list[float | None]
    edges: list[float | None]
    categories: list[str]


@dataclass(frozen=True)
class DriftColumn:
    column: str
    kind: str | None
    role: str | None
    method: str | None
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    threshold: float | None
    effect_size: float | None
    drifted: bool | None
    distribution: Distribution | None
    effect_measure: str | None = None
    noise_floor: float | None = None
    effect_threshold: float | None = None
    reason: str | None = None
    minimum_detectable: float | None = None
    minimum_detectable_measure: str | None = None
    minimum_detectable_shift_sd: float | None = None


def distribution(row: Mapping[str, Any]) -> Distribution | None:
    """Histogram or category shares of a drift row, flat or nested under ``histogram``/``distribution``.

    Numeric bins come as ``edges`` (or ``bin_edges``/``bins``: n + 1 values); categorical ones
    as ``categories`` (or ``bins`` when the row's ``kind`` is categorical), or as
    ``{category: share}`` mappings.
    """
    nested = pick(row, "histogram", "distribution", "distributions")
    src = nested if isinstance(nested, Mapping) else row
    ref, cur = pick(src, "reference", "reference_hist", "ref"), pick(src, "current", "current_hist", "cur")
    if isinstance(ref, Mapping) and isinstance(cur, Mapping):
        cats = list(dict.fromkeys([*map(str, ref), *map(str, cur)]))
        ref_s = {str(k): v for k, v in ref.items()}
        cur_s = {str(k): v for k, v in cur.items()}
        return Distribution(
            "categorical",
            floats([ref_s.get(c, 0) for c in cats]),
            floats([cur_s.get(c, 0) for c in cats]),
            [],
            cats,
        )
    ref_f, cur_f = floats(ref), floats(cur)
    if not ref_f or not cur_f:
        return None
    categorical = pick(row, "kind", "column_type", "type") == "categorical"
    categories = pick(src, "categories", "values", "labels", *(("bins",) if categorical else ()))
    if isinstance(categories, Sequence) and not isinstance(categories, str):
        return Distribution("categorical", ref_f, cur_f, [], [str(c) for c in categories])
    edges = floats(pick(src, "edges", "bin_edges", "bins", default=[]))
    if _discrete(edges, len(ref_f)):
        return Distribution("discrete", ref_f, cur_f, edges, [num(e) for e in edges[: len(ref_f)]])
    return Distribution("numeric", ref_f, cur_f, edges, [])


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


def kind_shown(column: DriftColumn) -> str:
    """The kind of a drift column as a reader knows it: ``binary`` for a 0/1 column.

    >>> kind_shown(drift_columns({"columns": [{"column": "y", "kind": "numeric", "role": "label",
    ...     "bins": [0, 1, 1], "reference": [0.9, 0.1], "current": [0.8, 0.2]}]})[0])
    'label · binary (0/1)'
    """
    d = column.distribution
    kind = column.kind or ""
    if d is not None and d.kind == "discrete":
        kind = "binary (0/1)" if d.categories == ["0", "1"] else f"discrete ({len(d.categories)} values)"
    return f"{column.role} · {kind}" if column.role not in (None, "feature") else kind


def drift_columns(details: Mapping[str, Any]) -> list[DriftColumn]:
    """Per-column drift rows, largest effect first (rows without an effect size last, in given order)."""
    out = []
    for row in rows(pick(details, "columns", "features")):
        out.append(
            DriftColumn(
                column=str(pick(row, "column", "feature", "name", default="?")),
                kind=pick(row, "kind", "column_type", "type"),
                role=pick(row, "role"),
                method=pick(row, "method", "stattest", "test"),
                statistic=as_float(pick(row, "statistic", "score", "drift_score")),
                p_value=as_float(pick(row, "p_value", "pvalue", "significance_p_value")),
                p_adjusted=as_float(
                    pick(row, "p_adjusted", "significance_p_adjusted", "p_value_adjusted", "q_value")
                ),
                threshold=as_float(pick(row, "threshold")),
                effect_size=as_float(pick(row, "effect_size", "effect")),
                drifted=flag(pick(row, "drifted", "drift_detected")),
                distribution=distribution(row),
                effect_measure=pick(row, "effect_measure"),
                noise_floor=as_float(pick(row, "noise_floor")),
                effect_threshold=as_float(pick(row, "effect_threshold")),
                reason=pick(row, "reason"),
                minimum_detectable=as_float(pick(row, "minimum_detectable_effect")),
                minimum_detectable_measure=pick(row, "minimum_detectable_measure"),
                minimum_detectable_shift_sd=as_float(pick(row, "minimum_detectable_shift_sd")),
            )
        )
    return sorted(out, key=lambda c: -(c.effect_size if c.effect_size is not None else -math.inf))


@dataclass(frozen=True)
class QualityColumn:
    column: str
    kind: str | None
    missing_ref: float | None
    missing_cur: float | None
    new_categories: dict[str, float | None]
    vanished_categories: dict[str, float | None]
    out_of_range_share: float | None
    ref_min: float | None
    ref_max: float | None
    constant: bool | None


def quality_columns(details: Mapping[str, Any]) -> list[QualityColumn]:
    out = []
    for row in rows(pick(details, "columns", "features")):
        new = pick(row, "new_categories", "unseen_categories", default={})
        new_map = (
            {str(k): as_float(v) for k, v in new.items()}
            if isinstance(new, Mapping)
            else {
                str(k): None for k in (new if isinstance(new, Sequence) and not isinstance(new, str) else [])
            }
        )
        out.append(
            QualityColumn(
                column=str(pick(row, "column", "feature", "name", default="?")),
                kind=pick(row, "kind", "column_type", "type"),
                missing_ref=as_float(pick(row, "missing_ref", "missing_reference", "missing_share_ref")),
                missing_cur=as_float(
                    pick(row, "missing_cur", "missing_current", "missing_share_cur", "missing")
                ),
                new_categories=new_map,
                vanished_categories={
                    str(k): as_float(v)
                    for k, v in (pick(row, "vanished_categories", default={}) or {}).items()
                },
                out_of_range_share=as_float(pick(row, "out_of_range_share", "out_of_range")),
                ref_min=as_float(pick(row, "ref_min", "reference_min", "min")),
                ref_max=as_float(pick(row, "ref_max", "reference_max", "max")),
                constant=flag(pick(row, "constant", "is_constant")),
            )
        )
    return out


@dataclass(frozen=True)
class PerfMetric:
    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    reference: float | None
    reference_ci_low: float | None
    reference_ci_high: float | None
    direction: str | None
    degraded: bool | None
    estimated: bool
    threshold: float | None = None
    p_value: float | None = None
    raw_p_value: float | None = None


def performance_metrics(details: Mapping[str, Any], *, estimated: bool = False) -> list[PerfMetric]:
    out = []
    for row in rows(pick(details, "metrics")):
        out.append(
            PerfMetric(
                name=str(pick(row, "name", "metric", default="?")),
                value=as_float(pick(row, "value", "current")),
                ci_low=as_float(pick(row, "ci_low", "low", "lower")),
                ci_high=as_float(pick(row, "ci_high", "high", "upper")),
                reference=as_float(pick(row, "reference", "reference_value")),
                reference_ci_low=as_float(pick(row, "reference_ci_low")),
                reference_ci_high=as_float(pick(row, "reference_ci_high")),
                direction=pick(row, "direction"),
                degraded=flag(pick(row, "degraded", "flagged")),
                estimated=bool(pick(row, "estimated", default=estimated)),
                threshold=as_float(pick(row, "threshold")),
                p_value=as_float(pick(row, "adjusted_p_value", "p_adjusted")),
                raw_p_value=as_float(pick(row, "p_value")),
            )
        )
    return out


@dataclass(frozen=True)
class Reliability:
    mean_predicted: list[float | None]
    fraction_positive: list[float | None]
    count: list[float | None]
    bin_edges: list[float | None]


def reliability(value: Any) -> Reliability | None:
    if not isinstance(value, Mapping):
        return None
    pred = floats(pick(value, "mean_predicted", "prob_pred", "mean_predicted_value"))
    frac = floats(pick(value, "fraction_positive", "prob_true", "fraction_of_positives"))
    if not pred or len(pred) != len(frac):
        return None
    return Reliability(
        pred,
        frac,
        floats(pick(value, "count", "counts", default=[])),
        floats(pick(value, "bin_edges", "edges", default=[])),
    )


@dataclass(frozen=True)
class SegmentRow:
    column: str
    value: str
    support: float | None
    metric: str | None
    metric_value: float | None
    ci_low: float | None
    ci_high: float | None
    reference_value: float | None
    rest_value: float | None
    p_value: float | None
    p_adjusted: float | None
    flagged: bool | None


def segment_rows(details: Mapping[str, Any]) -> list[SegmentRow]:
    out = []
    for row in rows(pick(details, "segments")):
        out.append(
            SegmentRow(
                column=str(pick(row, "column", "feature", default="?")),
                value=str(pick(row, "value", "segment", default="?")),
                support=as_float(pick(row, "support", "n", "count")),
                metric=pick(row, "metric"),
                metric_value=as_float(pick(row, "value_metric", "metric_value", "score", "estimate")),
                ci_low=as_float(pick(row, "ci_low", "low")),
                ci_high=as_float(pick(row, "ci_high", "high")),
                reference_value=as_float(pick(row, "reference_value", "reference")),
                rest_value=as_float(pick(row, "rest_value", "rest")),
                p_value=as_float(pick(row, "p_value", "pvalue")),
                p_adjusted=as_float(pick(row, "p_adjusted", "q_value")),
                flagged=flag(pick(row, "flagged", "significant")),
            )
        )
    return out


@dataclass(frozen=True)
class ThresholdCurve:
    thresholds: list[float | None]
    objective: list[float | None]
    objective_name: str | None
    current: float | None
    proposed: float | None
    gain: float | None
    gain_ci: tuple[float | None, float | None] | None


def threshold_curve(details: Mapping[str, Any]) -> ThresholdCurve | None:
    curve = pick(details, "curve", default={})
    thresholds = floats(pick(curve, "thresholds", "threshold"))
    objective = floats(pick(curve, "objective", "values", "score"))
    name = pick(details, "objective", "objective_name")
    ci = pick(details, "gain_ci")
    gain_ci = (as_float(ci[0]), as_float(ci[1])) if isinstance(ci, Sequence) and len(ci) == 2 else None
    if not thresholds and as_float(pick(details, "proposed")) is None:
        return None
    return ThresholdCurve(
        thresholds=thresholds,
        objective=objective if len(objective) == len(thresholds) else [],
        objective_name=name if isinstance(name, str) else None,
        current=as_float(pick(details, "current", "current_threshold")),
        proposed=as_float(pick(details, "proposed", "proposed_threshold", "best")),
        gain=as_float(pick(details, "gain", "expected_gain")),
        gain_ci=gain_ci,
    )


def latency_slos(
    metrics: Mapping[str, Any], details: Mapping[str, Any], findings: Sequence[Finding] = ()
) -> dict[str, float]:
    """SLO bounds by metric key (``{"p99_ms": 250.0}``).

    Read from ``details["slo"]``, from ``slo_*``/``*_slo`` metrics, and from breached-SLO
    findings (method ``p99_slo``, ``error_rate_slo``; the throughput floor is not a bound).
    """
    found: dict[str, float] = {}
    table = pick(details, "slo", "slos", default={})
    if isinstance(table, Mapping):
        for key, bound in table.items():
            b = as_float(pick(bound, "threshold", "max", "bound") if isinstance(bound, Mapping) else bound)
            if b is not None:
                found[_slo_key(str(key))] = b
    named = [(k, v) for k, v in {**metrics, **details}.items() if isinstance(k, str)]
    named += [(f.method, f.threshold) for f in findings if f.method != "throughput_slo"]
    for key, value in named:
        bound = as_float(value)
        if (key.endswith("_slo") or key.startswith("slo_")) and bound is not None:
            found.setdefault(_slo_key(key.removesuffix("_slo").removeprefix("slo_")), bound)
    return found


def _slo_key(key: str) -> str:
    """``p99`` / ``p99_ms`` / ``latency_p99_ms`` -> ``p99_ms``; ``error_rate`` stays."""
    key = key.removeprefix("latency_").removesuffix("_max")
    if key.startswith("p") and key[1:].isdigit():
        return f"{key}_ms"
    return key
