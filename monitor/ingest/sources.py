"""Ingest every configured source of a model once (the daemon's ingest job and ``driftwatch ingest``)."""

from __future__ import annotations

from datetime import datetime

from monitor.config import ModelConfig
from monitor.ingest.batch import IngestCounts
from monitor.ingest.files import Progress, expand, ingest_paths
from monitor.ingest.sql_source import SourceConfigError, ingest_sql_source, source_name
from monitor.store import Store


def ingest_sources(
    store: Store, model: ModelConfig, *, now: datetime, progress: Progress | None = None
) -> IngestCounts:
    """Ingest every configured source of ``model`` once; one bad source does not stop the rest."""
    total = IngestCounts()
    for index, source in enumerate(model.sources):
        if source.type == "files":
            assert source.path is not None
            total.add(
                ingest_paths(
                    store,
                    model,
                    source.kind,
                    expand(source.path),
                    now=now,
                    fmt=source.format,
                    progress=progress,
                )
            )
        else:
            try:
                total.add(ingest_sql_source(store, model, source, source_name(source, index), now=now))
            except SourceConfigError as exc:
                total.warnings.append(f"source {source_name(source, index)!r}: {exc}")
    return total
