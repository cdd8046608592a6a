"""Reference summaries kept in the store, so a restarted daemon or a ``driftwatch check`` does
not scan a reference again.

A window checked where its data lives (an in-place engine, or the PostgreSQL push-down)
compares its summary with the reference's: bin edges from a sample of the reference and one
scan of it (:mod:`monitor.engines.window`, :mod:`monitor.engines.pushdown`). Both are saved
here per model and reference span (``dw_summary_cache``) with a ``key``: a hash of the
reference data's version (computed by the caller in one light query: row count, time range
or newest ingestion, sum of the scores) and of everything the summary depends on (engine
and its datasets, monitored columns, ``edge_sample_rows``). A different key recomputes and
replaces the entry: new or rewritten reference rows, another configuration. At most
:data:`KEEP_SPANS` spans per model are kept (a trailing reference has a span per window).

Other results derived from a model's reference alone are kept the same way under a name of
their own instead of a span (:func:`load_entry`, :func:`save_entry`): the importance estimate
(:data:`IMPORTANCE`), keyed by the digest of the rows it was estimated from.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import suppress
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from monitor.store.engine import Store
from monitor.store.schema import summary_cache

#: Reference spans kept per model, newest first.
KEEP_SPANS = 16

#: The entry of the importance estimate (monitor.pipeline.runner).
IMPORTANCE = "importance"


def summary_key(*parts: Any) -> str:
    """A stable hash of what a cached summary depends on (JSON of ``parts``, ``str`` for the rest)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _span(start: datetime, end: datetime) -> str:
    return f"{start.isoformat()}|{end.isoformat()}"


def load_summary(store: Store, model: str, start: datetime, end: datetime, key: str) -> dict[str, Any] | None:
    """The cached summary of the span when its key is ``key``, else ``None``."""
    return load_entry(store, model, _span(start, end), key)


def load_entry(store: Store, model: str, name: str, key: str) -> dict[str, Any] | None:
    """The model's entry ``name`` (a span, or another name) when its key is ``key``, else ``None``."""
    where = (summary_cache.c.model == model) & (summary_cache.c.span == name)
    with store.engine.connect() as conn:
        row = conn.execute(select(summary_cache.c.key, summary_cache.c.summary).where(where)).first()
    if row is None or row.key != key:
        return None
    return json.loads(row.summary)  # type: ignore[no-any-return]


def save_summary(
    store: Store,
    model: str,
    start: datetime,
    end: datetime,
    key: str,
    summary: dict[str, Any],
    *,
    now: datetime,
) -> None:
    """Keep ``summary`` for the span under ``key`` (replacing its entry); drop the model's oldest spans."""
    save_entry(store, model, _span(start, end), key, summary, now=now)


def save_entry(
    store: Store, model: str, name: str, key: str, value: dict[str, Any], *, now: datetime
) -> None:
    """Keep ``value`` as the model's entry ``name`` under ``key`` (replacing it)."""
    with suppress(IntegrityError):  # a replica saved the same entry meanwhile: its entry serves
        _replace(store, model, name, key, json.dumps(value), now)


def _replace(store: Store, model: str, span: str, key: str, summary: str, now: datetime) -> None:
    mine = summary_cache.c.model == model
    with store.engine.begin() as conn:
        conn.execute(delete(summary_cache).where(mine & (summary_cache.c.span == span)))
        conn.execute(
            summary_cache.insert().values(
                model=model,
                span=span,
                key=key,
                summary=summary,
                created_at=now.replace(tzinfo=None),
            )
        )
        kept = select(summary_cache.c.span).where(mine).order_by(summary_cache.c.created_at.desc())
        old = [r.span for r in conn.execute(kept.offset(KEEP_SPANS))]
        if old:
            conn.execute(delete(summary_cache).where(mine & summary_cache.c.span.in_(old)))
