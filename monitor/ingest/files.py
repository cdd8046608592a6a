"""File sources: CSV, Parquet and JSON Lines by glob, each file once.

A file is identified by its path, size and modification time; a file already ingested
with the same identity is skipped (remembered in the store across restarts), a file that
changed is read again (ingestion is idempotent by id, so only new rows land). Each file is
one transaction together with its record in ``dw_ingested_files``: a crash mid-file leaves
nothing of it, and the next run reads it again. Files are streamed in chunks.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import Connection, select

from monitor.config import ModelConfig
from monitor.ingest.batch import IngestCounts, write_validated
from monitor.ingest.validate import Rejected, validate_batch
from monitor.ingest.writer import write_quarantine
from monitor.store import Store
from monitor.store.schema import ingested_files

log = logging.getLogger("driftwatch.ingest.files")

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}

Progress = Callable[[str, int], None]


class UnreadableFileError(ValueError):
    """A file could not be parsed in its format."""

    def __init__(self, path: str, fmt: str, after_rows: int, detail: str) -> None:
        super().__init__(f"{path}: unreadable {fmt} file after {after_rows:,} rows: {detail}")
        self.after_rows = after_rows


def file_format(path: str, declared: str = "auto") -> str:
    """The format of ``path``: declared, or from its extension (``.csv.gz`` counts as CSV)."""
    if declared != "auto":
        return declared
    name = path.lower().removesuffix(".gz")
    for ext, fmt in FORMATS.items():
        if name.endswith(ext):
            return fmt
    raise UnreadableFileError(
        path, "unknown", 0, "unknown extension (use .csv, .parquet or .jsonl, or set format)"
    )


def read_chunks(path: str, fmt: str, model: ModelConfig, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream ``path`` as DataFrames of at most ``chunk_rows`` rows."""
    text_columns = {model.id_column: "string"}
    done = 0
    try:
        if fmt == "parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas()
                done += len(frame)
                yield frame
        elif fmt == "csv":
            for frame in pd.read_csv(path, chunksize=chunk_rows, dtype=text_columns, low_memory=False):
                done += len(frame)
                yield frame
        elif fmt == "jsonl":
            reader = pd.read_json(path, lines=True, chunksize=chunk_rows, dtype=False, convert_dates=False)
            with reader:
                for frame in reader:
                    done += len(frame)
                    yield frame
        else:
            raise UnreadableFileError(path, fmt, 0, f"unsupported format {fmt!r}")
    except UnreadableFileError:
        raise
    except Exception as exc:  # every parser error of pandas/pyarrow/json ends up here
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableFileError(path, fmt, done, detail[:300]) from None


def _identity(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _already_ingested(conn: Connection, model: str, kind: str, path: str, identity: tuple[int, int]) -> bool:
    row = conn.execute(
        select(ingested_files.c.size, ingested_files.c.mtime_ns).where(
            ingested_files.c.model == model, ingested_files.c.kind == kind, ingested_files.c.path == path
        )
    ).first()
    return row is not None and (row.size, row.mtime_ns) == identity


def _record_file(conn: Connection, model: str, kind: str, path: str, identity, counts, now: datetime) -> None:  # type: ignore[no-untyped-def]
    key = (
        (ingested_files.c.model == model) & (ingested_files.c.kind == kind) & (ingested_files.c.path == path)
    )
    conn.execute(ingested_files.delete().where(key))
    conn.execute(
        ingested_files.insert().values(
            model=model,
            kind=kind,
            path=path,
            size=identity[0],
            mtime_ns=identity[1],
            stored=counts.stored,
            quarantined=counts.quarantined,
            ingested_at=now.replace(tzinfo=None),
        )
    )


def ingest_file(
    store: Store,
    model: ModelConfig,
    kind: str,
    path: str,
    *,
    now: datetime,
    fmt: str = "auto",
    chunk_rows: int = 100_000,
    force: bool = False,
    progress: Progress | None = None,
) -> IngestCounts:
    """Ingest one file in one transaction; an unreadable file is quarantined, not fatal."""
    path = str(Path(path).resolve())
    identity = _identity(path)
    with store.engine.begin() as conn:
        if not force and _already_ingested(conn, model.name, kind, path, identity):
            return IngestCounts(skipped_files=1)
        counts = IngestCounts(files=1)
        try:
            chunks = read_chunks(path, file_format(path, fmt), model, chunk_rows)
            offset = _pipeline(
                conn, store, model, kind, chunks, counts, path=path, now=now, progress=progress
            )
        except UnreadableFileError as exc:
            offset = exc.after_rows
            log.warning("%s", exc)
            reject = Rejected(positions=[0], reasons=[str(exc)], rows=[{"file": path}], timestamps=[None])
            counts.quarantined += write_quarantine(
                conn, reject, model=model.name, kind=kind, source=path, row_offset=offset, now=now
            )
            counts.warnings.append(str(exc))
        _record_file(conn, model.name, kind, path, identity, counts, now)
    log.info('Ingested %s file %s for model "%s": %s', kind, path, model.name, counts.summary())
    return counts


def _pipeline(
    conn: Connection,
    store: Store,
    model: ModelConfig,
    kind: str,
    chunks: Iterator[pd.DataFrame],
    counts: IngestCounts,
    *,
    path: str,
    now: datetime,
    progress: Progress | None,
) -> int:
    """Read and validate chunk k+1 while chunk k is written; returns the rows read.

    On PostgreSQL the server (another process) ingests one chunk on one core while pandas
    validates the next on the other. Only the writer thread touches ``conn``, and every write
    completes before this returns or raises. SQLite's ``executemany`` holds the GIL while it
    binds rows, so there the chunks are written in line (overlap only made it slower).
    """
    if conn.dialect.name != "postgresql":
        offset = 0
        for chunk in chunks:
            validated = validate_batch(chunk, model, kind, now=now)
            counts.add(
                write_validated(
                    conn,
                    store,
                    model,
                    kind,
                    validated,
                    rows=len(chunk),
                    source=path,
                    now=now,
                    row_offset=offset,
                )
            )
            offset += len(chunk)
            if progress:
                progress(path, offset)
        return offset
    offset = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dw-ingest-writer") as writer:
        pending: Future[IngestCounts] | None = None
        try:
            for chunk in chunks:
                validated = validate_batch(chunk, model, kind, now=now)
                if pending is not None:
                    counts.add(pending.result())
                    if progress:
                        progress(path, offset)
                pending = writer.submit(
                    write_validated,
                    conn,
                    store,
                    model,
                    kind,
                    validated,
                    rows=len(chunk),
                    source=path,
                    now=now,
                    row_offset=offset,
                )
                offset += len(chunk)
        finally:
            if pending is not None:
                counts.add(pending.result())
    if progress and offset:
        progress(path, offset)
    return offset


def expand(pattern: str) -> list[str]:
    """Files matching a glob (recursive ``**`` allowed), sorted for a stable order."""
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def ingest_paths(
    store: Store,
    model: ModelConfig,
    kind: str,
    paths: list[str],
    *,
    now: datetime,
    fmt: str = "auto",
    chunk_rows: int = 100_000,
    progress: Progress | None = None,
) -> IngestCounts:
    """Ingest several files; one bad file does not stop the others."""
    total = IngestCounts()
    for path in paths:
        try:
            total.add(
                ingest_file(
                    store, model, kind, path, now=now, fmt=fmt, chunk_rows=chunk_rows, progress=progress
                )
            )
        except OSError as exc:
            message = f"{path}: cannot read file: {exc.strerror or exc}"
            log.warning("%s", message)
            total.warnings.append(message)
    return total
