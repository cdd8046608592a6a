"""The reference a window is compared with: a fixed period, a trailing window, or a file.

A loaded period or trailing reference is kept in memory (:class:`ReferenceCache`) and reused
while its stored rows and their labels are unchanged: the windows of one job, and the cycles
after it, read a fixed reference once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from checks.volume import Expectation, expected_rows
from monitor.config import ModelConfig
from monitor.ingest.files import file_format, read_chunks
from monitor.ingest.validate import validate_batch
from monitor.store import Store
from monitor.store.reference_cache import cached_reference
from monitor.store.schema import feature_column, score_columns
from monitor.store.windows import read_window, span_version, window_counts
from monitor.windows import Window, aware_utc, local_shift


class ReferenceError(ValueError):
    """The reference cannot be built (missing file, no rows)."""


@dataclass(frozen=True)
class Reference:
    """The reference's rows and description.

    ``derived`` holds what is computed from the rows alone (the importance estimate), keyed by
    its caller: it is shared by every copy the caches hand out of the same loaded rows and
    starts empty when they are read again, so it is computed once per reference.
    """

    frame: pd.DataFrame
    description: dict[str, Any]
    derived: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


_FILE_CACHE: dict[tuple[str, int], tuple[pd.DataFrame, dict[Any, Any]]] = {}


def _read_reference_file(
    path: Path, model: ModelConfig, now: datetime
) -> tuple[pd.DataFrame, dict[Any, Any]]:
    """The file's rows and what was derived from them (kept until the file changes)."""
    try:
        key = (str(path), os.stat(path).st_mtime_ns)
    except FileNotFoundError:
        raise ReferenceError(
            f"reference file {path} does not exist (models.{model.name}.reference.file)"
        ) from None
    if key in _FILE_CACHE:
        return _FILE_CACHE[key]
    raw = pd.concat(list(read_chunks(str(path), file_format(str(path)), model, 200_000)), ignore_index=True)
    validated = validate_batch(raw, model, "predictions", now=now).frame
    frame = validated.rename(columns={feature_column(c): c for c in model.feature_columns})
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    if model.label_column in raw.columns:
        labels = validate_batch(raw, model, "outcomes", now=now).frame[["event_id", "label"]]
        frame = frame.merge(labels, on="event_id", how="left")
    else:
        frame["label"] = pd.NA
    keep = ["event_id", "ts", "prediction", *score_columns(model), "latency_ms", "error", "label"]
    frame = frame[[c for c in keep if c in frame.columns] + model.feature_columns]
    _FILE_CACHE.clear()
    _FILE_CACHE[key] = (frame, {})
    return _FILE_CACHE[key]


def reference_span(
    model: ModelConfig, current_start: datetime, timezone: str = "UTC"
) -> tuple[datetime, datetime]:
    """Start and end of a period or trailing reference (not for a file reference)."""
    ref = model.reference
    if ref.kind == "trailing":
        assert ref.trailing is not None
        length = ref.trailing.months if isinstance(ref.trailing, Window) else ref.trailing
        return local_shift(current_start, length, timezone), current_start
    assert ref.start is not None and ref.end is not None
    return aware_utc(ref.start), aware_utc(ref.end)


def window_overlap(reference: tuple[datetime, datetime], window: tuple[datetime, datetime]) -> dict[str, Any]:
    """Whether the checked ``window`` overlaps the ``reference`` span, and what share of it does.

    A window inside its own reference is partly compared with itself: a shift there is diluted.

    >>> from datetime import UTC, timedelta
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> window_overlap((t, t + timedelta(days=7)), (t + timedelta(days=6), t + timedelta(days=8)))
    {'overlaps_window': True, 'overlap_share': 0.5}
    """
    (ref_start, ref_end), (start, end) = reference, window
    inside = max(min(ref_end, end) - max(ref_start, start), timedelta(0))
    return {"overlaps_window": inside > timedelta(0), "overlap_share": round(inside / (end - start), 4)}


def expected_rows_in(
    reference: Reference, model: ModelConfig, window: tuple[datetime, datetime], timezone: str = "UTC"
) -> Expectation | None:
    """What the reference's rate predicts for ``window`` (:func:`checks.volume.expected_rows`).

    The rate of a period or trailing reference is over its span; a file's over the time its
    rows cover. ``None`` when the reference has no rows or (a file) no time span.
    """
    frame = reference.frame
    if frame.empty:
        return None
    if model.reference.kind == "file":
        span = (frame["ts"].min(), frame["ts"].max())
        if not span[1] > span[0]:
            return None
    else:
        span = reference_span(model, window[0], timezone)
    weight = 1.0 / float(reference.description.get("sampled_fraction", 1.0))
    as_ts = (pd.Timestamp(span[0]), pd.Timestamp(span[1]))
    return expected_rows(
        frame["ts"], as_ts, (pd.Timestamp(window[0]), pd.Timestamp(window[1])), weight=weight
    )


def load_reference(
    store: Store,
    model: ModelConfig,
    current_start: datetime,
    *,
    now: datetime,
    timezone: str = "UTC",
    max_rows: int | None = None,
) -> Reference:
    """The reference rows for the window that starts at ``current_start``.

    With ``max_rows`` (PostgreSQL) a stored reference larger than that is read as a uniform
    random sample of about that many rows.
    """
    ref = model.reference
    if ref.kind == "file":
        assert ref.file is not None
        frame, derived = _read_reference_file(ref.file, model, now)
        return Reference(frame, {"kind": "file", "file": ref.file.name, "rows": len(frame)}, derived)
    start, end = reference_span(model, current_start, timezone)
    fraction = None
    if max_rows is not None:
        total = window_counts(store, model, start, end).predictions
        fraction = max_rows / total if total > max_rows else None
    frame = read_window(store, model, start, end, fraction=fraction)
    description: dict[str, Any] = {"kind": ref.kind, "start": start.isoformat(), "end": end.isoformat()}
    if ref.kind == "period":
        frame, cached = cached_reference(store, model, start, end, frame, now=now)
        if cached:
            description["cached"] = True
    if fraction is not None:
        description["sampled_fraction"] = round(fraction, 6)
    description["rows"] = len(frame)
    return Reference(frame=frame, description=description)


#: What the process-wide reference cache may hold (bytes of pandas frames).
DEFAULT_MAX_BYTES = 512 * 2**20


class ReferenceCache:
    """The last loaded period and trailing references, reused while their stored rows are unchanged.

    An entry is keyed by the store, the model's configuration, the reference span and the
    sample size, and is valid while :func:`monitor.store.windows.span_version` of the span
    (row and label counts, newest ``ingested_at``, score and label sums) is unchanged: late
    labels for reference rows, new or replaced rows, or a deletion read the reference again.
    A reloaded configuration that changes a model misses. The frames kept weigh at most
    ``max_bytes`` in all (pandas' deep memory usage; least recently used first out): a
    reference of 100,000 rows with 25 features weighs some 20 to 40 MB (more with text
    columns), so the default keeps a dozen or more, enough for every model of a daemon to find
    its own on the next cycle. (A bound by entries would not: jobs visit models in turn, so
    with more models than entries every lookup would miss.) A reference heavier than the bound
    is not kept. File references have their own cache (by path and modification time) and are
    not kept here.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Reference, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def load(
        self,
        store: Store,
        model: ModelConfig,
        current_start: datetime,
        *,
        now: datetime,
        timezone: str = "UTC",
        max_rows: int | None = None,
    ) -> Reference:
        """:func:`load_reference`, from memory when the stored reference has not changed.

        The caller gets its own copy of the frame and description (checks may add columns).
        """
        if model.reference.kind == "file":
            return load_reference(store, model, current_start, now=now, timezone=timezone, max_rows=max_rows)
        start, end = reference_span(model, current_start, timezone)
        key = (str(store.engine.url), model.model_dump_json(), start, end, max_rows)
        version = span_version(store, model, start, end)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                self.hits += 1
                return _copy(entry[1])
        reference = load_reference(store, model, current_start, now=now, timezone=timezone, max_rows=max_rows)
        weight = int(reference.frame.memory_usage(deep=True).sum())
        with self._lock:
            self.misses += 1
            self._entries.pop(key, None)
            if weight <= self.max_bytes:
                self._entries[key] = (version, _copy(reference), weight)
            while self.weight > self.max_bytes:
                self._entries.popitem(last=False)
        return reference

    @property
    def weight(self) -> int:
        """Bytes held by the kept frames."""
        return sum(entry[2] for entry in self._entries.values())


def _copy(reference: Reference) -> Reference:
    return replace(reference, frame=reference.frame.copy(), description=dict(reference.description))


#: The references of this process: shared by the runners of every job.
REFERENCES = ReferenceCache()
