"""File sources: CSV, Parquet and JSON Lines by glob, each file once.

A file is identified by its path, size and modification time; a file already ingested
with the same identity is skipped (remembered in the store across restarts), a file that
changed is read again (ingestion is idempotent by id, so only new rows land). A CSV or JSON
Lines file is read up to its last complete line and that offset is recorded: when it grows,
it is read on from there (see :mod:`monitor.ingest.lines`). A last line without newline
waits until the file has not changed for ``settle`` (a writer still appending to it).
Each file is one transaction together with its record in ``dw_ingested_files``: a crash
mid-file leaves nothing of it, and the next run reads it again. Files are streamed in chunks.

Anything that goes wrong *reading* a file (a parser error, bad UTF-8 in a Parquet string, a
value the validator cannot handle) quarantines the rows it concerns, or the rest of the file
with the reason, and ingestion goes on with the next file. Errors *writing* to the store are
not the file's fault: they propagate, and the next run reads the file again.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, select

from alerts.durations import format_duration
from monitor.config import ModelConfig
from monitor.ingest.batch import (
    IngestCounts,
    carried_labels,
    refuse_in_place,
    validate_safely,
    write_validated,
)
from monitor.ingest.lines import Chunk, LineReader, UnreadableFileError, declared_columns
from monitor.ingest.validate import Rejected, Validated
from monitor.ingest.writer import write_quarantine
from monitor.store import Store
from monitor.store.schema import file_offsets, ingested_files

log = logging.getLogger("driftwatch.ingest.files")

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
TEXT_FORMATS = {"csv", "jsonl"}

#: How long a text file must stay unchanged before a last line without newline is read.
SETTLE = timedelta(seconds=60)

Progress = Callable[[str, int], None]

__all__ = ["UnreadableFileError", "expand", "file_format", "ingest_file", "ingest_paths", "read_chunks"]


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


def _arrow_frame(batch: pa.RecordBatch, wanted: set[str]) -> pd.DataFrame:
    """A record batch as a frame of the declared columns; invalid UTF-8 is kept for the validator.

    A string with bytes that are not UTF-8 becomes a str with lone surrogates
    (``surrogateescape``), which validation quarantines row by row ("not valid unicode").
    """
    batch = batch.select([i for i, name in enumerate(batch.schema.names) if name in wanted])
    try:
        return batch.to_pandas()
    except (UnicodeDecodeError, pa.ArrowException):
        columns = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                binary = column.view(
                    pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary()
                )
                columns[name] = pd.Series(
                    [None if v is None else v.decode("utf-8", "surrogateescape") for v in binary.to_pylist()],
                    dtype=object,
                )
            else:
                columns[name] = column.to_pandas()
        return pd.DataFrame(columns)


def _parquet_chunks(path: str, model: ModelConfig, chunk_rows: int) -> Iterator[Chunk]:
    wanted = set(declared_columns(model))
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
        yield Chunk(frame=_arrow_frame(batch, wanted))


def read_pieces(
    path: str, fmt: str, model: ModelConfig, chunk_rows: int, reader: LineReader | None = None
) -> Iterator[Chunk]:
    """Stream ``path`` as chunks; any error reading it becomes :class:`UnreadableFileError`."""
    done = 0
    try:
        if fmt == "parquet":
            chunks = _parquet_chunks(path, model, chunk_rows)
        elif fmt in TEXT_FORMATS:
            chunks = (reader or LineReader(path, fmt, model, chunk_rows)).chunks()
        else:
            raise UnreadableFileError(path, fmt, 0, f"unsupported format {fmt!r}")
        for chunk in chunks:
            done += len(chunk.frame) + len(chunk.bad)
            yield chunk
    except UnreadableFileError:
        raise
    except Exception as exc:  # every parser error of pandas/pyarrow/json ends up here
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnreadableFileError(path, fmt, done, f"{type(exc).__name__}: {detail[:300]}") from None


def read_chunks(path: str, fmt: str, model: ModelConfig, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream ``path`` as DataFrames of at most ``chunk_rows`` rows (lines that do not parse are left out)."""
    for chunk in read_pieces(path, fmt, model, chunk_rows):
        yield chunk.frame


def _identity(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _key(table, model: str, kind: str, path: str):  # type: ignore[no-untyped-def]
    return (table.c.model == model) & (table.c.kind == kind) & (table.c.path == path)


def _known(conn: Connection, model: str, kind: str, path: str):  # type: ignore[no-untyped-def]
    """The recorded identity and read offset of a file, or None."""
    key = _key(ingested_files, model, kind, path)
    row = conn.execute(select(ingested_files.c.size, ingested_files.c.mtime_ns).where(key)).first()
    if row is None:
        return None
    where = _key(file_offsets, model, kind, path)
    offset = conn.execute(
        select(file_offsets.c.offset, file_offsets.c.lines, file_offsets.c.tail).where(where)
    ).first()
    return (row.size, row.mtime_ns), tuple(offset) if offset else None


def _record_file(
    conn: Connection,
    model: str,
    kind: str,
    path: str,
    identity: tuple[int, int],
    counts: IngestCounts,
    now: datetime,
    offset: tuple[int, int] | None,
) -> None:
    """Record the file's identity (and, for a text file, how far it was read)."""
    key = _key(ingested_files, model, kind, path)
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
    conn.execute(file_offsets.delete().where(_key(file_offsets, model, kind, path)))
    if offset is not None:
        conn.execute(
            file_offsets.insert().values(
                model=model,
                kind=kind,
                path=path,
                offset=offset[0],
                lines=offset[1],
                tail=_tail(path, offset[0]),
            )
        )


def _tail(path: str, offset: int) -> str:
    """SHA-256 of the (up to) 4 KiB of ``path`` before ``offset``."""
    with open(path, "rb") as fh:
        fh.seek(max(0, offset - 4096))
        return hashlib.sha256(fh.read(min(offset, 4096))).hexdigest()


def _resume_at(path: str, size: int, offset: tuple[int, int, str] | None) -> tuple[int, int]:
    """Where to read on: the recorded offset if the file only grew past it, else the start."""
    if offset is None or offset[0] <= 0 or offset[0] > size:
        return 0, 0
    return (offset[0], offset[1]) if _tail(path, offset[0]) == offset[2] else (0, 0)


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
    settle: timedelta = SETTLE,
) -> IngestCounts:
    """Ingest one file (or what was appended to it) in one transaction; a bad file is quarantined."""
    path = str(Path(path).resolve())
    identity = _identity(path)
    with store.engine.begin() as conn:
        known = _known(conn, model.name, kind, path)
        try:
            resolved = file_format(path, fmt)
        except UnreadableFileError:
            resolved = "unknown"
        # a compressed file's size is not its text's: it is read whole again when it changes
        text = resolved in TEXT_FORMATS and not path.lower().endswith(".gz")
        read_all = not text or known is None or known[1] is None or known[1][0] >= identity[0]
        if not force and known is not None and known[0] == identity and read_all:
            return IngestCounts(skipped_files=1)
        counts = IngestCounts(files=1)
        start, start_line = _resume_at(path, identity[0], known[1] if known and not force else None)
        complete = time.time() - identity[1] / 1e9 >= settle.total_seconds()
        reader = (
            LineReader(
                path, resolved, model, chunk_rows, start=start, start_line=start_line, complete=complete
            )
            if text
            else None
        )
        try:
            file_format(path, fmt)  # an unknown extension: quarantined below with the reason
            chunks = read_pieces(path, resolved, model, chunk_rows, reader)
            _pipeline(conn, store, model, kind, chunks, counts, path=path, now=now, progress=progress)
        except UnreadableFileError as exc:
            log.warning("%s", exc)
            reject = Rejected(positions=[0], reasons=[str(exc)], rows=[{"file": path}], timestamps=[None])
            counts.quarantined += write_quarantine(
                conn, reject, model=model.name, kind=kind, source=path, row_offset=exc.after_rows, now=now
            )
            counts.bad_files += 1
            counts.warnings.append(str(exc))
        if reader is not None and reader.held_back:
            counts.warnings.append(
                f"{path}: the last line has no newline yet ({reader.held_back:,} bytes); it is read once "
                f"complete, or when the file has not changed for {format_duration(settle)}"
            )
        offset = (reader.end, reader.lines) if reader is not None else None
        _record_file(conn, model.name, kind, path, identity, counts, now, offset)
    log.info('Ingested %s file %s for model "%s": %s', kind, path, model.name, counts.summary())
    return counts


def _locate(rejected: Rejected, lines: np.ndarray) -> None:
    """Name rejected rows by their line in the file."""
    covers = rejected.covers or [1] * len(rejected)
    rejected.locations = [
        f"line {lines[p]}" if n == 1 else f"lines {lines[p]}-{lines[p + n - 1]}"
        for p, n in zip(rejected.positions, covers, strict=True)
    ]


def _validated(
    chunk: Chunk, model: ModelConfig, kind: str, now: datetime
) -> tuple[Validated, Validated | None, int]:
    """Validate a chunk (and the labels it carries); lines that did not parse join its rejected rows."""
    validated = validate_safely(chunk.frame, model, kind, now=now)
    labels = carried_labels(chunk.frame, model, now=now) if kind == "predictions" else None
    if chunk.lines is not None:
        _locate(validated.rejected, chunk.lines)
        if labels is not None:
            _locate(labels.rejected, chunk.lines)
    if len(chunk.bad):
        validated.rejected = Rejected(**vars(chunk.bad)).extend(validated.rejected, len(chunk.bad))
    return validated, labels, len(chunk.frame) + len(chunk.bad)


def _pipeline(
    conn: Connection,
    store: Store,
    model: ModelConfig,
    kind: str,
    chunks: Iterator[Chunk],
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
    write = partial(write_validated, conn, store, model, kind, source=path, now=now)
    offset = 0
    if conn.dialect.name != "postgresql":
        for chunk in chunks:
            validated, labels, rows = _validated(chunk, model, kind, now)
            counts.add(write(validated, rows=rows, row_offset=offset, labels=labels))
            offset += rows
            if progress:
                progress(path, offset)
        return offset
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dw-ingest-writer") as writer:
        pending: Future[IngestCounts] | None = None
        try:
            for chunk in chunks:
                validated, labels, rows = _validated(chunk, model, kind, now)
                if pending is not None:
                    counts.add(pending.result())
                    if progress:
                        progress(path, offset)
                pending = writer.submit(write, validated, rows=rows, row_offset=offset, labels=labels)
                offset += rows
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
    settle: timedelta = SETTLE,
) -> IngestCounts:
    """Ingest several files; one bad file does not stop the others."""
    refuse_in_place(model)
    total = IngestCounts()
    for path in paths:
        try:
            total.add(
                ingest_file(
                    store,
                    model,
                    kind,
                    path,
                    now=now,
                    fmt=fmt,
                    chunk_rows=chunk_rows,
                    progress=progress,
                    settle=settle,
                )
            )
        except OSError as exc:
            message = f"{path}: cannot read file: {exc.strerror or exc}"
            log.warning("%s", message)
            total.warnings.append(message)
    return total
