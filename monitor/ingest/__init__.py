"""Ingestion: validate logged rows, store the good ones, quarantine the rest with reasons.

The names below are loaded on first use: :mod:`monitor.ingest.health` (imported by the
daemon at start) must not bring pandas and pyarrow with the package.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.ingest.batch import IngestCounts, InPlaceModelError, ingest_frame, store_batch
    from monitor.ingest.files import expand, ingest_file, ingest_paths
    from monitor.ingest.sql_source import ingest_sql_source

_HOMES = {
    "InPlaceModelError": "batch",
    "IngestCounts": "batch",
    "expand": "files",
    "ingest_file": "files",
    "ingest_frame": "batch",
    "ingest_paths": "files",
    "ingest_sql_source": "sql_source",
    "store_batch": "batch",
}

__all__ = [
    "InPlaceModelError",
    "IngestCounts",
    "expand",
    "ingest_file",
    "ingest_frame",
    "ingest_paths",
    "ingest_sql_source",
    "store_batch",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"monitor.ingest.{_HOMES[name]}"), name)
