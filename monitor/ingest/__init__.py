"""Ingestion: validate logged rows, store the good ones, quarantine the rest with reasons."""

from monitor.ingest.batch import IngestCounts, InPlaceModelError, ingest_frame, store_batch
from monitor.ingest.files import expand, ingest_file, ingest_paths
from monitor.ingest.sql_source import ingest_sql_source

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
