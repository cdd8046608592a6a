"""One window of an in-place model: exact drift summaries, the other checks on a hash sample.

- **Drift** from :class:`checks.drift.window_summary.WindowSummary` of both windows,
  computed by the engine on bins fixed from a hash sample of the reference
  (``edge_sample_rows``; the whole reference when it is smaller, and then the edges are
  exactly the in-memory ones) and turned into the verdict by
  :func:`checks.drift.window_summary.summary_drift` (:func:`checks.drift.binned_drift` per
  column). A file reference is read into memory and summarised there.
- **The other checks** (quality, latency, the label checks) run on the hash sample of
  ``[store] sample_rows`` rows of each window, joined with its outcomes in the engine and
  validated like ingested rows; with a window under ``sample_rows`` rows that is the whole
  window, so the results are those of the in-memory path. A sampled window's latency
  quantiles come from the engine over every row (exact in DuckDB; Spark's
  ``percentile_approx`` with its rank error in the result).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from checks.drift.column import ColumnDrift, column_drift, infer_kind
from checks.drift.window_summary import (
    WindowSummary,
    summarise_frame,
    summary_drift,
    summary_edges,
    summary_from_json,
    summary_to_json,
)
from checks.result import CheckResult
from monitor.config import ModelConfig
from monitor.engines import open_engine
from monitor.engines.base import InPlaceEngine, column_names
from monitor.engines.reference import Reference, load_reference, reference_span
from monitor.ingest.validate import validate_batch
from monitor.store import Store
from monitor.store.schema import feature_column
from monitor.store.summary_cache import load_summary, save_summary, summary_key
from monitor.store.windows import WindowCounts


@dataclass(frozen=True)
class InPlaceWindow:
    counts: WindowCounts
    reference: Reference
    current: pd.DataFrame
    drift: CheckResult | None
    #: Latency quantiles of the whole window when ``current`` is a sample of it.
    latency: dict[str, float | None] | None = None


def read_in_place(
    store: Store,
    model: ModelConfig,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    sample_rows: int,
    timezone: str = "UTC",
) -> InPlaceWindow:
    """Counts, sampled frames and summary-based drift of the window ``[start, end)``."""
    with open_engine(model) as engine:
        counts = engine.counts(start, end)
        current = _sampled(engine, model, start, end, counts.predictions, sample_rows, now)
        if model.reference.kind == "file":
            reference = load_reference(store, model, start, now=now, timezone=timezone)
            span = None
        else:
            span = reference_span(model, start, timezone)
            n_ref = engine.counts(*span).predictions
            frame = _sampled(engine, model, *span, n_ref, sample_rows, now)
            description: dict[str, Any] = {"kind": model.reference.kind}
            description |= {"start": span[0].isoformat(), "end": span[1].isoformat(), "rows": n_ref}
            if n_ref > sample_rows:
                description["sampled_fraction"] = round(sample_rows / n_ref, 6)
            reference = Reference(frame=frame, description=description)
        drift = None
        if model.drift.enabled and counts.predictions and len(reference.frame):
            drift = drift_in_place(
                engine, model, reference, span, (start, end), current, cache=store, now=now
            )
        latency = None
        if model.latency.enabled and model.latency_column and counts.predictions > sample_rows:
            latency = engine.latency(start, end)
    return InPlaceWindow(counts=counts, reference=reference, current=current, drift=drift, latency=latency)


def _sampled(
    engine: InPlaceEngine,
    model: ModelConfig,
    start: datetime,
    end: datetime,
    rows: int,
    sample_rows: int,
    now: datetime,
) -> pd.DataFrame:
    """The hash sample of a window, validated and shaped like a window read from the store."""
    fraction = min(1.0, sample_rows / rows) if rows else 1.0
    raw, outcomes = engine.sample(start, end, fraction)
    frame = validate_batch(raw, model, "predictions", now=now).frame
    frame = frame.rename(columns={feature_column(c): c for c in model.feature_columns})
    labels = pd.DataFrame({"event_id": pd.Series(dtype=object), "label": [], "label_ts": []})
    if len(outcomes):
        valid = validate_batch(outcomes, model, "outcomes", now=now).frame
        labels = valid[["event_id", "label", "ts"]].rename(columns={"ts": "label_ts"})
    frame = frame.merge(labels, on="event_id", how="left")
    for col in ("ts", "label_ts"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame.sort_values(["ts", "event_id"], ignore_index=True)


def drift_in_place(
    engine: InPlaceEngine,
    model: ModelConfig,
    reference: Reference,
    span: tuple[datetime, datetime] | None,
    window: tuple[datetime, datetime],
    current: pd.DataFrame,
    *,
    cache: Store | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """The ``drift`` check of ``window`` from engine summaries (``span``: the reference's; ``None``
    for a file reference, summarised from ``reference.frame``); the label on the frames.

    With ``cache`` the reference span's edges and summary are read from and kept in that
    store (:mod:`monitor.store.summary_cache`) while the reference's rows are unchanged.
    """
    numeric, categorical, roles = column_names(model)
    if span is None:
        edges = _edges_in_memory(reference.frame, numeric)
        ref_summary = summarise_frame(reference.frame, edges, categorical)
    else:
        edges, ref_summary = _reference_summary(engine, model, span, numeric, categorical, cache, now)
    cur_summary = engine.summarise(*window, {c: numeric[c] for c in edges}, categorical, edges)
    cfg = model.drift
    methods, thresholds = model.drift_settings()
    result = summary_drift(
        ref_summary,
        cur_summary,
        edges=edges,
        roles=roles,
        methods=methods,
        thresholds=thresholds,
        importance=model.importance or None,
        drift_share=cfg.drift_share,
        fdr=cfg.fdr,
        sampled=_label_drift(reference.frame, current),
    )
    metrics = {**result.metrics, "engine": model.data.engine if model.data else None}
    return replace(result, metrics=metrics)


def _reference_summary(
    engine: InPlaceEngine,
    model: ModelConfig,
    span: tuple[datetime, datetime],
    numeric: dict[str, str],
    categorical: dict[str, str],
    cache: Store | None,
    now: datetime | None,
) -> tuple[dict[str, np.ndarray], WindowSummary]:
    """Edges and summary of the reference span: from the store's cache when its rows are unchanged."""
    assert model.data is not None
    key = ""
    if cache is not None:
        summed = numeric.get("score") or numeric.get("prediction") or next(iter(numeric.values()), None)
        version = engine.version(*span, summed)
        key = summary_key(model.data.model_dump(), numeric, categorical, version)
        stored = load_summary(cache, model.name, *span, key)
        if stored is not None:
            return summary_from_json(stored)
    edges = _edges_in_place(engine, model, span, numeric)
    summary = engine.summarise(*span, {c: numeric[c] for c in edges}, categorical, edges)
    if cache is not None:
        save_summary(
            cache, model.name, *span, key, summary_to_json(edges, summary), now=now or datetime.now(UTC)
        )
    return edges, summary


def _label_drift(reference: pd.DataFrame, current: pd.DataFrame) -> list[tuple[str, ColumnDrift]]:
    """Label drift on the hash samples (as in memory: when both windows have labels)."""
    if not (current["label"].notna().any() and reference["label"].notna().any()):
        return []
    kind = infer_kind(reference["label"])
    return [("label", column_drift(reference["label"], current["label"], kind=kind, column="label"))]


def _edges_in_memory(frame: pd.DataFrame, numeric: dict[str, str]) -> dict[str, np.ndarray]:
    edges = {}
    for name in numeric:
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[~np.isnan(values)]
        if values.size:
            edges[name] = summary_edges(values, values.size)
    return edges


def _edges_in_place(
    engine: InPlaceEngine, model: ModelConfig, span: tuple[datetime, datetime], numeric: dict[str, str]
) -> dict[str, np.ndarray]:
    """Edges from the hash sample of ``edge_sample_rows`` reference rows, Sturges on the column's count."""
    assert model.data is not None
    present = engine.summarise(*span, numeric, {}, dict.fromkeys(numeric, np.array([])))
    fraction = min(1.0, model.data.edge_sample_rows / present.rows) if present.rows else 1.0
    sample = engine.column_sample(*span, numeric, fraction)
    return {
        name: summary_edges(values, present.numeric[name].n) for name, values in sample.items() if values.size
    }
