"""A snapshot of each fixed reference period, so a model keeps working where raw events are gone.

The rows a check reads as its fixed reference (``reference = {start, end}``: the sample
drawn for a large reference, with the labels that had arrived) are kept as Parquet bytes in
``dw_reference_cache``, refreshed whenever the stored reference has more rows or more labels
than the snapshot. When the store holds fewer rows of that period than the snapshot (raw
events deleted by hand, or by an older retention), the snapshot is used and the run's
reference description says so (``"cached": true``). Retention itself never deletes a fixed
reference (:mod:`monitor.store.retention`).
"""

from __future__ import annotations

import io
import logging
from datetime import datetime

import pandas as pd
from sqlalchemy import select

from monitor.config import ModelConfig
from monitor.store.engine import Store
from monitor.store.schema import reference_cache

log = logging.getLogger("driftwatch.store.reference_cache")


def _key(model: ModelConfig, start: datetime, end: datetime) -> str:
    columns = ",".join(model.feature_columns)
    return f"{start.isoformat()}|{end.isoformat()}|{model.task}|{columns}"[:512]


def _labelled(frame: pd.DataFrame) -> int:
    return int(frame["label"].notna().sum()) if "label" in frame.columns else 0


def cached_reference(
    store: Store, model: ModelConfig, start: datetime, end: datetime, frame: pd.DataFrame, *, now: datetime
) -> tuple[pd.DataFrame, bool]:
    """The reference rows to use: ``frame``, or the snapshot when it holds more; and whether cached.

    Saves ``frame`` as the new snapshot when it has more rows or labels than the stored one.
    """
    key = _key(model, start, end)
    where = (reference_cache.c.model == model.name) & (reference_cache.c.key == key)
    with store.engine.connect() as conn:
        row = conn.execute(select(reference_cache.c.rows, reference_cache.c.labelled).where(where)).first()
    if row is not None and len(frame) < row.rows:
        with store.engine.connect() as conn:
            data = conn.execute(select(reference_cache.c.data).where(where)).scalar_one()
        log.info(
            'Model "%s": the reference %s to %s has %d stored row(s), its snapshot %d; using the snapshot',
            model.name,
            start.isoformat(),
            end.isoformat(),
            len(frame),
            row.rows,
        )
        return pd.read_parquet(io.BytesIO(data)), True
    if frame.empty or (row is not None and (len(frame), _labelled(frame)) == (row.rows, row.labelled)):
        return frame, False
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    with store.engine.begin() as conn:
        conn.execute(reference_cache.delete().where(where))
        conn.execute(
            reference_cache.insert().values(
                model=model.name,
                key=key,
                rows=len(frame),
                labelled=_labelled(frame),
                data=buffer.getvalue(),
                created_at=now.replace(tzinfo=None),
            )
        )
    return frame, False
