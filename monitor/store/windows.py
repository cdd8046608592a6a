"""Read time windows of a model's events as columns (predictions joined with outcomes).

pandas is imported where a window is read: counting and the event time range need only SQL,
so the daemon can decide that nothing is due without loading the data stack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, DateTime, Float, Text, and_, cast, func, or_, select
from sqlalchemy.sql.elements import quoted_name
from sqlalchemy.types import TypeEngine

from monitor.config import ModelConfig
from monitor.store import columnar
from monitor.store.copy_read import read_copy
from monitor.store.engine import Store
from monitor.store.schema import feature_column, quarantine, score_columns
from monitor.windows import aware_utc, naive_utc

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("driftwatch.store.windows")


@dataclass(frozen=True)
class WindowCounts:
    """Row counts of one window, computed in SQL."""

    predictions: int
    labelled: int
    quarantined: int

    @property
    def coverage(self) -> float:
        return self.labelled / self.predictions if self.predictions else 0.0


def read_window(
    store: Store,
    model: ModelConfig,
    start: datetime,
    end: datetime,
    *,
    labels: bool = True,
    fraction: float | None = None,
) -> pd.DataFrame:
    """Events with ``start <= ts < end``; features under their configured names.

    With ``labels`` the frame also has ``label`` and ``label_ts`` (NaN/NaT where no outcome
    has arrived yet). With ``fraction`` (PostgreSQL) the hash sample of that share of the
    rows is read (:mod:`checks.drift.window_summary`: ``md5`` of the event id, the rows every
    in-place engine picks, and the same rows on a re-check).
    """
    events = store.events(model.name)
    outcomes = store.outcomes(model.name)
    cols = [
        events.c.event_id,
        events.c.ts,
        events.c.model_version,
        events.c.prediction,
        *[events.c[c] for c in score_columns(model)],
        events.c.latency_ms,
        events.c.error,
        # quoted: a feature may be named like a keyword that SQLAlchemy does not know (``nothing``)
        *[events.c[feature_column(f)].label(quoted_name(f, quote=True)) for f in model.feature_columns],
    ]
    window = and_(events.c.ts >= naive_utc(start), events.c.ts < naive_utc(end))
    if labels:
        cols += [outcomes.c.label, outcomes.c.ts.label("label_ts")]
        query = select(*cols).select_from(
            events.outerjoin(outcomes, events.c.event_id == outcomes.c.event_id)
        )
    else:
        query = select(*cols)
    query = query.where(window)
    types = [c.type for c in cols]
    with store.engine.connect() as conn:
        if fraction is not None and fraction < 1.0:
            if conn.dialect.name != "postgresql":
                raise ValueError("sampled window reads need PostgreSQL")
            from checks.drift.window_summary import HASH_DIGITS, hash_cutoff

            digest = func.substr(func.md5(cast(events.c.event_id, Text)), 1, HASH_DIGITS)
            query = query.where(digest < hash_cutoff(fraction))
        query = query.order_by(events.c.ts, events.c.event_id)
        table = columnar.read_table(conn, query, events, window)
        if table is None:
            table = read_copy(conn, query, types)
        frame = None if table is None else _arrow_frame(table, types, model)
        if frame is not None:
            return frame
        result = conn.execute(query)
        names = list(result.keys())
        # The driver's tuples, without SQLAlchemy's per-value result processing: each column
        # is converted once below, by its store type.
        rows = result.cursor.fetchall() if result.cursor is not None else []
        result.close()
    return _frame(rows, names, types, model)


def _frame(
    rows: list[tuple[Any, ...]], names: list[str], types: list[TypeEngine[Any]], model: ModelConfig
) -> pd.DataFrame:
    """The fetched rows as typed columns: floats, booleans, UTC timestamps; strings as objects."""
    import numpy as np

    table = np.array(rows, dtype=object).reshape(len(rows), len(names))
    data: dict[str, Any] = {}
    for i, (name, kind) in enumerate(zip(names, types, strict=True)):
        values = table[:, i]
        if isinstance(kind, DateTime):
            data[name] = _timestamps(values)
        elif isinstance(kind, Float):
            data[name] = values.astype(float)
        elif isinstance(kind, Boolean):
            missing = np.equal(values, None)
            data[name] = _booleans(np.where(missing, False, values).astype(bool), missing)
        else:
            data[name] = values
    return _typed_frame(data, model)


def _arrow_frame(table: pa.Table, types: list[TypeEngine[Any]], model: ModelConfig) -> pd.DataFrame | None:
    """The frame :func:`_frame` makes of the same rows, from the ADBC driver's Arrow columns.

    The driver types a column by its values: ``string`` (TEXT, timestamps), ``double`` (REAL),
    ``int64`` (booleans, and a column without any value). ``None`` for any other type (a value
    the schema does not expect): the caller reads the window with sqlite3 instead.
    """
    import pyarrow as pa

    data: dict[str, Any] = {}
    for name, column, kind in zip(table.column_names, table.columns, types, strict=True):
        if isinstance(kind, Boolean):
            expected = pa.int64()
        else:
            expected = pa.float64() if isinstance(kind, Float) else pa.string()
        if column.type != expected:
            if column.type != pa.int64() or column.null_count < len(column):
                log.debug('ADBC read column "%s" as %s; reading with sqlite3', name, column.type)
                return None
            column = column.cast(expected)
        if isinstance(kind, DateTime):
            data[name] = _arrow_timestamps(column)
        elif isinstance(kind, Boolean):
            missing = column.is_null().to_numpy(zero_copy_only=False)
            data[name] = _booleans(column.fill_null(0).to_numpy().astype(bool), missing)
        else:
            data[name] = column.to_numpy(zero_copy_only=False)
    return _typed_frame(data, model)


def _arrow_timestamps(column: pa.ChunkedArray) -> pd.DatetimeIndex:
    """ISO strings as :func:`_timestamps` parses them, by Arrow's parser (3x faster) where it can."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        stamps = pc.cast(column, pa.timestamp("ns"))
    except pa.ArrowInvalid:  # e.g. a zone offset, which Arrow's parser refuses for a naive type
        return _timestamps(column.to_numpy(zero_copy_only=False))
    return pd.DatetimeIndex(stamps.to_numpy(zero_copy_only=False)).tz_localize("UTC")


def _typed_frame(data: dict[str, Any], model: ModelConfig) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(data)
    for col in model.features.numeric:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def _timestamps(values: Any) -> pd.DatetimeIndex:
    """Stored naive UTC timestamps (SQLite: ISO strings; PostgreSQL: datetimes) as UTC, NaT for NULL."""
    import pandas as pd

    return pd.to_datetime(values, utc=True, format="ISO8601")


def _booleans(flags: Any, missing: Any) -> Any:
    """A boolean column: ``bool`` without missing values, else objects with ``None`` (as pandas reads it)."""
    if not missing.any():
        return flags
    out = flags.astype(object)
    out[missing] = None
    return out


def window_counts(store: Store, model: ModelConfig, start: datetime, end: datetime) -> WindowCounts:
    """Predictions, labelled predictions and quarantined rows of a window, counted in SQL."""
    events = store.events(model.name)
    outcomes = store.outcomes(model.name)
    lo, hi = naive_utc(start), naive_utc(end)
    in_window = and_(events.c.ts >= lo, events.c.ts < hi)
    q_window = and_(
        quarantine.c.model == model.name,
        or_(
            and_(quarantine.c.event_ts >= lo, quarantine.c.event_ts < hi),
            and_(
                quarantine.c.event_ts.is_(None),
                quarantine.c.quarantined_at >= lo,
                quarantine.c.quarantined_at < hi,
            ),
        ),
    )
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(events).where(in_window)).scalar_one()
        labelled = conn.execute(
            select(func.count())
            .select_from(events.join(outcomes, events.c.event_id == outcomes.c.event_id))
            .where(in_window)
        ).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(quarantine).where(q_window)).scalar_one()
    return WindowCounts(predictions=int(total), labelled=int(labelled), quarantined=int(quarantined))


def span_version(store: Store, model: ModelConfig, start: datetime, end: datetime) -> tuple[Any, ...]:
    """What changes when the stored rows of ``start <= ts < end`` or their labels change, in one query.

    Events and their outcomes: counts, newest ``ingested_at`` (a replaced row is written
    again) and, for numeric scores and labels, their sums (a correction written within the
    same clock tick).
    """
    events = store.events(model.name)
    outcomes = store.outcomes(model.name)
    aggregates = [
        func.count(events.c.event_id),
        func.max(events.c.ingested_at),
        func.count(outcomes.c.event_id),
        func.max(outcomes.c.ingested_at),
    ]
    if "score" in score_columns(model):
        aggregates.append(func.sum(events.c.score))
    if model.task != "multiclass":
        aggregates.append(func.sum(outcomes.c.label))
    query = (
        select(*aggregates)
        .select_from(events.outerjoin(outcomes, events.c.event_id == outcomes.c.event_id))
        .where(events.c.ts >= naive_utc(start), events.c.ts < naive_utc(end))
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).one()
    # Sums rounded: PostgreSQL may add in another order from one query to the next.
    return tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in row)


def event_time_range(store: Store, model: ModelConfig) -> tuple[datetime | None, datetime | None]:
    """The first and last event timestamps stored for ``model`` (aware UTC), or ``None``."""
    events = store.events(model.name)
    with store.engine.connect() as conn:
        row = conn.execute(select(func.min(events.c.ts), func.max(events.c.ts))).one()
    first, last = (
        None if v is None else aware_utc(datetime.fromisoformat(v) if isinstance(v, str) else v) for v in row
    )
    return first, last
