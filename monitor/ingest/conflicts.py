"""Conflicts: an id that arrives again with different values is never a silent duplicate.

After a batch is inserted (new ids stored, known ids ignored), the rows that were not new are
compared with what the store holds. Equal rows are duplicates. Different ones are conflicts:
with ``on_conflict = "quarantine"`` (the default) the stored row stays and the new version is
quarantined with the difference; with ``"replace"`` the new version overwrites it (last write
wins). Either way they are counted and logged. Outcomes compare only their label (an outcome
without a time of its own is stamped on arrival, so its time differs on every re-send).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, bindparam, select

from monitor.ingest.validate import Rejected

log = logging.getLogger("driftwatch.ingest.conflicts")

#: Ids per ``IN (...)`` query when reading stored rows back.
LOOKUP_BATCH = 5000


def _same(a: Any, b: Any) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NaT
    b_missing = b is None or (isinstance(b, float) and math.isnan(b)) or b is pd.NaT
    if a_missing or b_missing:
        return a_missing and b_missing
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, datetime | pd.Timestamp) or isinstance(b, datetime | pd.Timestamp):
        return pd.Timestamp(a).tz_localize(None) == pd.Timestamp(b).tz_localize(None)
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    return float(a) == float(b)


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return pd.Timestamp(value).isoformat()
    return value.item() if hasattr(value, "item") else value


def find_conflicts(
    conn: Connection, table: Table, frame: pd.DataFrame, *, compare: list[str]
) -> list[tuple[int, dict[str, tuple[Any, Any]]]]:
    """Rows of ``frame`` whose id is stored with other values in ``compare``: ``(position, diff)``.

    ``diff`` maps each differing column to ``(stored, new)``.
    """
    stored: dict[str, Any] = {}
    ids = frame["event_id"].tolist()
    columns = [table.c.event_id, *(table.c[c] for c in compare)]
    query = select(*columns).where(table.c.event_id.in_(bindparam("ids", expanding=True)))
    for i in range(0, len(ids), LOOKUP_BATCH):
        for row in conn.execute(query, {"ids": ids[i : i + LOOKUP_BATCH]}):
            stored[row[0]] = row
    out = []
    records = frame[["event_id", *compare]].itertuples(index=False, name=None)
    for position, (event_id, *values) in enumerate(records):
        old = stored.get(event_id)
        if old is None:
            continue
        diff = {
            col: (_plain(was), _plain(new))
            for col, was, new in zip(compare, old[1:], values, strict=True)
            if not _same(was, new)
        }
        if diff:
            out.append((position, diff))
    return out


def describe(diff: dict[str, tuple[Any, Any]]) -> str:
    parts = [f"{col} {was!r} stored, {new!r} new" for col, (was, new) in list(diff.items())[:5]]
    return "; ".join(parts) + ("; ..." if len(diff) > 5 else "")


def conflict_rejects(
    frame: pd.DataFrame, conflicts: list[tuple[int, dict[str, tuple[Any, Any]]]]
) -> Rejected:
    """The new versions of conflicting rows, for the quarantine (located by their id)."""
    rejected = Rejected()
    for position, diff in conflicts:
        event_id = frame["event_id"].iloc[position]
        rejected.positions.append(position)
        rejected.reasons.append(f"conflict: id {event_id!r} is stored with other values: {describe(diff)}")
        rejected.rows.append(
            {
                "id": event_id,
                "stored": {c: w for c, (w, _) in diff.items()},
                "new": {c: n for c, (_, n) in diff.items()},
            }
        )
        ts = frame["ts"].iloc[position] if "ts" in frame.columns else None
        rejected.timestamps.append(None if ts is None or pd.isna(ts) else pd.Timestamp(ts).to_pydatetime())
        rejected.locations.append(f"id {str(event_id)[:200]!r}")
    return rejected


def replace_rows(conn: Connection, table: Table, frame: pd.DataFrame, positions: list[int]) -> int:
    """Overwrite the stored rows at ``positions`` of ``frame`` with the new values (last write wins)."""
    rows = frame.iloc[positions]
    values = [c for c in rows.columns if c != "event_id"]
    statement = (
        table.update()
        .where(table.c.event_id == bindparam("b_event_id"))
        .values({c: bindparam(f"b_{c}") for c in values})
    )
    params = [
        {
            f"b_{k}": _plain(v) if not isinstance(v, pd.Timestamp) else v.to_pydatetime()
            for k, v in rec.items()
        }
        for rec in rows.to_dict("records")
    ]
    conn.execute(statement, params)
    return len(params)
