"""Ingest every configured source of a model once (the daemon's ingest job and ``driftwatch ingest``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from monitor.config import ModelConfig
from monitor.ingest.batch import IngestCounts
from monitor.ingest.files import Progress, expand, ingest_paths
from monitor.ingest.sql_source import SourceConfigError, ingest_sql_source, source_name
from monitor.store import Store
from monitor.store.errors import describe_error


class HealthRecorder(Protocol):
    """Where each source's outcome goes (the daemon's :class:`monitor.service.health.SourceHealth`)."""

    def record(
        self, model: str, source: str, *, at: datetime, error: str | None = None, unreadable_files: int = 0
    ) -> None: ...


def ingest_sources(
    store: Store,
    model: ModelConfig,
    *,
    now: datetime,
    progress: Progress | None = None,
    kind: str | None = None,
    health: HealthRecorder | None = None,
) -> IngestCounts:
    """Ingest the configured sources of ``model`` (only those of ``kind`` if given) once.

    One bad source does not stop the rest; each source's outcome goes to ``health``. An
    error that stopped a source is raised again once every other source has been read.
    """
    total = IngestCounts()
    failure: Exception | None = None
    for index, source in enumerate(model.sources):
        if kind is not None and source.kind != kind:
            continue
        name = source_name(source, index)
        error: str | None = None
        counts = IngestCounts()
        try:
            if source.type == "files":
                assert source.path is not None
                counts = ingest_paths(
                    store,
                    model,
                    source.kind,
                    expand(source.path),
                    now=now,
                    fmt=source.format,
                    progress=progress,
                    settle=source.settle,
                )
            else:
                counts = ingest_sql_source(store, model, source, name, now=now)
        except SourceConfigError as exc:
            error = str(exc)
            total.warnings.append(f"source {name!r}: {exc}")
        except Exception as exc:
            error = describe_error(exc)
            total.warnings.append(f"source {name!r}: {error}")
            failure = failure or exc
        total.add(counts)
        if health is not None:
            health.record(model.name, name, at=now, error=error, unreadable_files=counts.bad_files)
    if failure is not None:
        raise failure
    return total
