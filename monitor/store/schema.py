"""Tables of the store (SQLAlchemy Core).

Shared tables carry a ``dw_`` prefix. Each configured model gets two typed tables:
``dw_events_<model>`` (one row per prediction, features in their own typed columns
``f_<feature>``) and ``dw_outcomes_<model>`` (labels, joined by ``event_id`` at read time,
so an outcome that arrives before its prediction simply waits in its table).

All timestamps are stored as naive UTC (``DateTime`` without zone) on both SQLite and
PostgreSQL; the store converts at its edges.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from monitor.config import ModelConfig

#: Bump with a migration in :mod:`monitor.store.migrations` whenever the shared tables change.
SCHEMA_VERSION = 1

metadata = MetaData()

ID_LENGTH = 200
CATEGORY_LENGTH = 200

meta = Table(
    "dw_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

watermarks = Table(
    "dw_watermarks",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("source", String(128), primary_key=True),
    Column("ts", DateTime, nullable=True),
    Column("event_id", String(ID_LENGTH), nullable=True),
    Column("rows", BigInteger, nullable=False, default=0),
    Column("updated_at", DateTime, nullable=False),
)

ingested_files = Table(
    "dw_ingested_files",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("stored", BigInteger, nullable=False),
    Column("quarantined", BigInteger, nullable=False),
    Column("ingested_at", DateTime, nullable=False),
)

#: How far a CSV/JSON Lines file was read: the byte offset after its last complete line and
#: the lines up to there. A file that grew is read on from here (see monitor.ingest.lines).
file_offsets = Table(
    "dw_file_offsets",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("offset", BigInteger, nullable=False),
    Column("lines", BigInteger, nullable=False),
    # SHA-256 of the (up to) 4 KiB before the offset: a rewritten file is read from the start
    Column("tail", String(64), nullable=False),
)

#: A snapshot of each fixed reference period (Parquet bytes of the rows the checks read), so a
#: model keeps its reference even where the raw events are gone. See monitor.store.reference_cache.
reference_cache = Table(
    "dw_reference_cache",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("rows", BigInteger, nullable=False),
    Column("labelled", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

#: Drift summaries of a reference span computed where the data lives (an in-place engine or the
#: PostgreSQL push-down): its bin edges and :class:`checks.drift.window_summary.WindowSummary`
#: as JSON, valid for ``key`` (the data's version and the summary's configuration). See
#: monitor.store.summary_cache.
summary_cache = Table(
    "dw_summary_cache",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("span", String(80), primary_key=True),
    Column("key", String(64), nullable=False),
    Column("summary", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

quarantine = Table(
    "dw_quarantine",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source", String(1024), nullable=False),
    Column("location", String(256), nullable=False),
    Column("event_ts", DateTime, nullable=True),
    Column("reason", Text, nullable=False),
    Column("row", JSON, nullable=True),
    Column("quarantined_at", DateTime, nullable=False),
    # Hash of (model, kind, source, location, row): the same rejected row is kept once.
    Column("fingerprint", String(64), nullable=False, unique=True),
    Index("ix_dw_quarantine_model_at", "model", "quarantined_at"),
)

runs = Table(
    "dw_runs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("window_start", DateTime, nullable=False),
    Column("window_end", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("state", String(16), nullable=False),  # running | done | failed
    Column("label_coverage", Float, nullable=True),
    Column("labels_final", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("result", JSON, nullable=True),
    Column("report_path", String(1024), nullable=True),
    Column("error", Text, nullable=True),
    Column("owner", String(128), nullable=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    UniqueConstraint("model", "window_end", name="uq_dw_runs_model_window"),
)

findings = Table(
    "dw_findings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("dw_runs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("model", String(64), nullable=False),
    Column("check_name", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("method", String(64), nullable=False),
    Column("statistic", Float, nullable=True),
    Column("p_value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("effect_size", Float, nullable=True),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
)

#: The tables every store has once, whatever its models (the alert tables are in :mod:`.alerts`).
SHARED_TABLES = (
    meta,
    watermarks,
    ingested_files,
    file_offsets,
    reference_cache,
    summary_cache,
    quarantine,
    runs,
    findings,
)


def event_table_name(model: str) -> str:
    return f"dw_events_{model}"


def outcome_table_name(model: str) -> str:
    return f"dw_outcomes_{model}"


def feature_column(name: str) -> str:
    """The store column of a feature (a prefix keeps feature names clear of fixed columns)."""
    return f"f_{name}"


def score_columns(model: ModelConfig) -> list[str]:
    """Store columns holding scores: ``score`` (binary/regression) or ``p_<i>`` per class."""
    if model.task == "multiclass" and model.score_column and model.classes:
        return [f"p_{i}" for i in range(len(model.classes))]
    return ["score"] if model.score_column else []


def _label_type(model: ModelConfig) -> String | Float:
    return String(CATEGORY_LENGTH) if model.task == "multiclass" else Float()


def event_table(md: MetaData, model: ModelConfig) -> Table:
    """The typed prediction-event table of ``model`` (created on first use)."""
    name = event_table_name(model.name)
    if name in md.tables:
        return md.tables[name]
    columns = [
        Column("event_id", String(ID_LENGTH), primary_key=True),
        Column("ts", DateTime, nullable=False, index=True),
        Column("model_version", String(64), nullable=True),
        Column("prediction", _label_type(model), nullable=True),
        *[Column(c, Float, nullable=True) for c in score_columns(model)],
        Column("latency_ms", Float, nullable=True),
        Column("error", Boolean, nullable=True),
        Column("ingested_at", DateTime, nullable=False),
        *[Column(feature_column(c), Float, nullable=True) for c in model.features.numeric],
        *[
            Column(feature_column(c), String(CATEGORY_LENGTH), nullable=True)
            for c in model.features.categorical
        ],
    ]
    return Table(name, md, *columns)


def outcome_table(md: MetaData, model: ModelConfig) -> Table:
    """The outcome (label) table of ``model``, keyed by the prediction's ``event_id``."""
    name = outcome_table_name(model.name)
    if name in md.tables:
        return md.tables[name]
    return Table(
        name,
        md,
        Column("event_id", String(ID_LENGTH), primary_key=True),
        Column("ts", DateTime, nullable=False, index=True),
        Column("label", _label_type(model), nullable=False),
        Column("ingested_at", DateTime, nullable=False),
    )
