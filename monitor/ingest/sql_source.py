"""SQL sources: a table or query in another database, read incrementally.

Rows are read in ``(timestamp, id)`` order after the stored watermark, ``batch_size`` at a
time; each batch is stored in one transaction together with the new watermark, so a crash
never loses or doubles a batch and the next run resumes right after the last committed row.
The source URL comes from the environment variable named by ``url_env``.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, column, or_, select, table, text

from monitor.config import ModelConfig, SourceConfig
from monitor.ingest.batch import IngestCounts, store_batch
from monitor.store import Store, make_engine
from monitor.store.schema import watermarks

log = logging.getLogger("driftwatch.ingest.sql")


class SourceConfigError(ValueError):
    """A SQL source cannot be used as configured (e.g. its URL variable is not set)."""


def source_name(source: SourceConfig, index: int) -> str:
    return source.name or f"{source.kind}-{index}"


def source_engine(source: SourceConfig) -> Engine:
    assert source.url_env is not None
    url = os.environ.get(source.url_env)
    if not url:
        raise SourceConfigError(f"environment variable {source.url_env} (the source's url_env) is not set")
    return make_engine(url)


def _selectable(source: SourceConfig):  # type: ignore[no-untyped-def]
    if source.table:
        schema, _, name = source.table.rpartition(".")
        return table(name, schema=schema or None)
    return text(source.query or "").columns().subquery("q")


def _batch_query(source: SourceConfig, model: ModelConfig, wm_ts: datetime | None, wm_id: str | None):  # type: ignore[no-untyped-def]
    base = _selectable(source)
    ts_col, id_col = column(model.timestamp_column), column(model.id_column)
    query = select(text("*")).select_from(base)
    if wm_ts is not None:
        query = query.where(or_(ts_col > wm_ts, and_(ts_col == wm_ts, id_col > wm_id)))
    return query.order_by(ts_col, id_col).limit(source.batch_size)


def _load_watermark(conn, model: str, name: str) -> tuple[datetime | None, str | None, int]:  # type: ignore[no-untyped-def]
    row = conn.execute(
        select(watermarks.c.ts, watermarks.c.event_id, watermarks.c.rows).where(
            watermarks.c.model == model, watermarks.c.source == name
        )
    ).first()
    return (row.ts, row.event_id, row.rows) if row else (None, None, 0)


def _save_watermark(
    conn, model: str, name: str, ts: datetime, event_id: str, rows: int, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    key = (watermarks.c.model == model) & (watermarks.c.source == name)
    conn.execute(watermarks.delete().where(key))
    conn.execute(
        watermarks.insert().values(
            model=model, source=name, ts=ts, event_id=event_id, rows=rows, updated_at=now.replace(tzinfo=None)
        )
    )


def ingest_sql_source(
    store: Store,
    model: ModelConfig,
    source: SourceConfig,
    name: str,
    *,
    now: datetime,
    engine: Engine | None = None,
    max_batches: int | None = None,
) -> IngestCounts:
    """Read all new rows of a SQL source, batch by batch, each batch with its watermark."""
    src = engine or source_engine(source)
    total = IngestCounts()
    batches = 0
    try:
        while max_batches is None or batches < max_batches:
            with store.engine.begin() as conn:
                wm_ts, wm_id, seen = _load_watermark(conn, model.name, name)
                with src.connect() as src_conn:
                    frame = pd.read_sql(_batch_query(source, model, wm_ts, wm_id), src_conn)
                if frame.empty:
                    break
                counts = store_batch(
                    conn, store, model, source.kind, frame, source=f"sql:{name}", now=now, row_offset=seen
                )
                last = frame.iloc[-1]
                last_ts = pd.Timestamp(last[model.timestamp_column])
                last_ts = last_ts.tz_convert("UTC").tz_localize(None) if last_ts.tzinfo else last_ts
                _save_watermark(
                    conn,
                    model.name,
                    name,
                    last_ts.to_pydatetime(),
                    str(last[model.id_column]),
                    seen + len(frame),
                    now,
                )
            total.add(counts)
            batches += 1
            if len(frame) < source.batch_size:
                break
    finally:
        if engine is None:
            src.dispose()
    if total.rows:
        log.info(
            'Ingested %s from SQL source "%s" for model "%s": %s',
            source.kind,
            name,
            model.name,
            total.summary(),
        )
    return total
