"""Validate and store one batch of rows (the unit shared by every source)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table

from monitor.config import ModelConfig
from monitor.ingest.conflicts import conflict_rejects, describe, find_conflicts, replace_rows
from monitor.ingest.validate import Rejected, Validated, raw_rows, validate_batch
from monitor.ingest.writer import add_ingested_at, insert_rows, write_quarantine
from monitor.store import Store

log = logging.getLogger("driftwatch.ingest")

KINDS = ("predictions", "outcomes")


class InPlaceModelError(ValueError):
    """Rows sent for a model checked in place (``[models.data]``), whose checks never read them."""


def refuse_in_place(model: ModelConfig) -> None:
    """Raise :class:`InPlaceModelError` when ``model`` is checked where its data lives."""
    if model.data is not None:
        raise InPlaceModelError(
            f'model "{model.name}" is checked in place ([models.data] engine = "{model.data.engine}"): '
            f"its checks read {model.data.predictions!r}, not the store, so nothing is ingested for it; "
            "write the rows there instead"
        )


@dataclass
class IngestCounts:
    """What happened to the rows of one or more batches."""

    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    files: int = 0
    skipped_files: int = 0
    bad_files: int = 0
    labels: int = 0
    conflicts: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, other: IngestCounts) -> IngestCounts:
        self.rows += other.rows
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.files += other.files
        self.skipped_files += other.skipped_files
        self.bad_files += other.bad_files
        self.labels += other.labels
        self.conflicts += other.conflicts
        self.warnings.extend(w for w in other.warnings if w not in self.warnings)
        return self

    def summary(self) -> str:
        text = (
            f"{self.rows:,} rows: {self.stored:,} stored, {self.duplicates:,} already stored, "
            f"{self.quarantined:,} quarantined"
        )
        if self.conflicts:
            text += f"; {self.conflicts:,} conflict(s): id stored with other values"
        if self.labels:
            text += f"; {self.labels:,} label(s) stored as outcomes"
        if self.files or self.skipped_files:
            text += f" ({self.files} file(s) read, {self.skipped_files} unchanged file(s) skipped)"
        return text


def store_batch(
    conn: Connection,
    store: Store,
    model: ModelConfig,
    kind: str,
    frame: pd.DataFrame,
    *,
    source: str,
    now: datetime,
    row_offset: int = 0,
) -> IngestCounts:
    """Validate ``frame`` and write it within ``conn``'s transaction (the caller commits)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    validated = validate_safely(frame, model, kind, now=now)
    if kind == "predictions" and model.label_column in frame.columns:
        validated.warnings.append(
            f"column {model.label_column!r} is not stored with predictions sent this way; "
            "send labels as outcomes (files store them as outcomes)"
        )
    return write_validated(
        conn, store, model, kind, validated, rows=len(frame), source=source, now=now, row_offset=row_offset
    )


def carried_labels(frame: pd.DataFrame, model: ModelConfig, *, now: datetime) -> Validated | None:
    """The labels a predictions batch carries, validated as outcomes (rows without one left out).

    The outcome's time is the prediction's; rejected positions refer to ``frame``'s rows.
    """
    column = model.label_column
    if column not in frame.columns or column == model.prediction_column:
        return None
    values = frame[column]
    present = (values.notna() & (values.astype(str).str.strip() != "")).to_numpy(dtype=bool)
    if not present.any():
        return None
    positions = np.flatnonzero(present)
    columns = [c for c in (model.id_column, model.timestamp_column, column) if c in frame.columns]
    subset = frame.iloc[positions][columns].reset_index(drop=True)
    validated = validate_safely(subset, model, "outcomes", now=now)
    validated.rejected.positions = [int(positions[p]) for p in validated.rejected.positions]
    return validated


def validate_safely(frame: pd.DataFrame, model: ModelConfig, kind: str, *, now: datetime) -> Validated:
    """:func:`validate_batch`, except that a row the validator fails on is rejected, not fatal.

    A batch whose validation raises is validated in halves until the rows that raise are
    found; each of those is rejected with the error (a good row never goes with them).
    """
    try:
        return validate_batch(frame, model, kind, now=now)
    except Exception as exc:
        if len(frame) <= 1:
            detail = str(exc).splitlines()[0] if str(exc) else ""
            reason = f"could not be validated: {type(exc).__name__}: {detail[:200]}"
            rejected = Rejected(
                positions=list(range(len(frame))),
                reasons=[reason] * len(frame),
                rows=raw_rows(frame, np.arange(len(frame))),
                timestamps=[None] * len(frame),
            )
            return Validated(frame=pd.DataFrame(), rejected=rejected)
    mid = len(frame) // 2
    left = validate_safely(frame.iloc[:mid], model, kind, now=now)
    right = validate_safely(frame.iloc[mid:], model, kind, now=now)
    merged = left.rejected.extend(right.rejected, mid)
    frames = [f for f in (left.frame, right.frame) if not f.empty]
    return Validated(
        frame=pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
        rejected=merged,
        duplicates=left.duplicates + right.duplicates,
        conflicts=left.conflicts + right.conflicts,
        warnings=list(dict.fromkeys(left.warnings + right.warnings)),
    )


def write_validated(
    conn: Connection,
    store: Store,
    model: ModelConfig,
    kind: str,
    validated: Validated,
    *,
    rows: int,
    source: str,
    now: datetime,
    row_offset: int = 0,
    labels: Validated | None = None,
) -> IngestCounts:
    """Write an already validated batch: good rows idempotently, rejected ones to quarantine.

    ``labels`` (from :func:`carried_labels`) are written to the outcomes; bad ones are
    quarantined as outcomes and named in a warning.
    """
    table = store.events(model.name) if kind == "predictions" else store.outcomes(model.name)
    naive_now = now.replace(tzinfo=None)
    stored = conflicts = 0
    if not validated.frame.empty:
        frame = add_ingested_at(validated.frame, naive_now)
        stored = insert_rows(conn, table, frame)
        if stored < len(frame):
            conflicts = _conflicts(conn, table, model, kind, frame, source=source, now=naive_now)
    quarantined = write_quarantine(
        conn,
        validated.rejected,
        model=model.name,
        kind=kind,
        source=source,
        row_offset=row_offset,
        now=naive_now,
    )
    valid = len(validated.frame)
    moved = conflicts if model.on_conflict == "quarantine" else 0  # counted as quarantined
    counts = IngestCounts(
        rows=rows,
        stored=stored,
        duplicates=validated.duplicates + (valid - stored) - moved,
        quarantined=quarantined + moved,
        conflicts=conflicts + validated.conflicts,
        warnings=[f"{source}: {w}" for w in validated.warnings],
    )
    if conflicts:
        what = "quarantined" if model.on_conflict == "quarantine" else "replaced the stored rows"
        counts.warnings.append(f"{source}: {conflicts:,} id(s) arrived again with other values ({what})")
    if labels is not None:
        if not labels.frame.empty:
            outcomes = add_ingested_at(labels.frame, naive_now)
            counts.labels = insert_rows(conn, store.outcomes(model.name), outcomes)
        bad = write_quarantine(
            conn,
            labels.rejected,
            model=model.name,
            kind="outcomes",
            source=source,
            row_offset=row_offset,
            now=naive_now,
        )
        if bad:
            counts.warnings.append(
                f"{source}: {bad:,} label(s) in column {model.label_column!r} not stored "
                "(quarantined as outcomes)"
            )
    return counts


def _conflicts(
    conn: Connection,
    table: Table,
    model: ModelConfig,
    kind: str,
    frame: pd.DataFrame,
    *,
    source: str,
    now: datetime,
) -> int:
    """Compare rows that were not new with the stored ones; quarantine or replace the conflicts."""
    skip = {"event_id", "ingested_at"}
    compare = ["label"] if kind == "outcomes" else [c for c in frame.columns if c not in skip]
    found = find_conflicts(conn, table, frame, compare=compare)
    if not found:
        return 0
    if model.on_conflict == "replace":
        replace_rows(conn, table, frame, [position for position, _ in found])
    else:
        write_quarantine(
            conn,
            conflict_rejects(frame, found),
            model=model.name,
            kind=kind,
            source=source,
            row_offset=0,
            now=now,
        )
    log.warning(
        'Model "%s": %d %s row(s) from %s conflict with stored ones (on_conflict = %s); first: %s',
        model.name,
        len(found),
        kind,
        source,
        model.on_conflict,
        describe(found[0][1]),
    )
    return len(found)


def ingest_frame(
    store: Store, model: ModelConfig, kind: str, frame: pd.DataFrame, *, source: str, now: datetime
) -> IngestCounts:
    """Store one in-memory batch in its own transaction (the Python API's path)."""
    refuse_in_place(model)
    with store.engine.begin() as conn:
        counts = store_batch(conn, store, model, kind, frame, source=source, now=now)
    log.info('Ingested %s for model "%s" from %s: %s', kind, model.name, source, counts.summary())
    return counts
