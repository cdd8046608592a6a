"""Load and validate ``config.toml`` once, at start-up.

Every error names the file and the key path, e.g.
``config.toml: models[0].segments[1]: unknown column 'regoin' (declare it under features)``;
the CLI turns :class:`ConfigError` into exit code 2. Unknown keys are rejected. Secrets are
never read from the file: keys ending in ``_env`` name the environment variable that holds
them.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url

from alerts.config import AlertsConfig
from alerts.durations import PositiveDuration as Duration
from alerts.durations import format_duration, parse_duration
from checks.vocabulary import (
    DRIFT_METHOD_ALIASES,
    DRIFT_METHODS,
    METRICS,
    TARGET_OBJECTIVES,
    THRESHOLD_OBJECTIVES,
    resolve,
)
from monitor.redact import PASSWORD_KEYS
from monitor.windows import Window, WindowError, aware_utc

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Column names from config are quoted by SQLAlchemy; this only rejects the unprintable.
COLUMN_PATTERN = re.compile(r"^[^\x00-\x1f\x7f\"`]{1,60}$")


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` lists ``(key path, message)`` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems]
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Strict):
    url: str = "sqlite:///driftwatch.db"
    url_env: str | None = Field(
        default=None, description="Environment variable holding the store URL (takes precedence over url)."
    )
    pool_size: int = Field(default=5, ge=1, le=100)
    pushdown_rows: int = Field(
        default=2_000_000,
        ge=1000,
        description="PostgreSQL: windows above this many rows are aggregated in SQL.",
    )
    sample_rows: int = Field(
        default=500_000, ge=1000, description="Sample size of the checks of such windows."
    )
    connect_timeout: Duration = Field(
        default=timedelta(seconds=10), description="PostgreSQL: longest wait for a connection."
    )
    statement_timeout: Duration = Field(
        default=timedelta(minutes=10), description="PostgreSQL: longest a statement may run."
    )
    busy_timeout: Duration = Field(
        default=timedelta(seconds=30), description="SQLite: longest wait for another process's write lock."
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite: FULL makes every commit survive a power loss (NORMAL may lose the last).",
    )

    @field_validator("url")
    @classmethod
    def _no_password_in_file(cls, value: str) -> str:
        try:
            url = make_url(value)
        except Exception as exc:
            raise ValueError(f"not a valid database URL ({type(exc).__name__})") from None
        if url.password or any(key.lower() in PASSWORD_KEYS for key in url.query):
            raise ValueError("contains a password; put the URL in an environment variable and set url_env")
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(f"unsupported database {url.get_backend_name()!r} (use sqlite or postgresql)")
        return value

    def resolved_url(self) -> str:
        """The URL to connect to: from ``url_env`` when that variable is set, else ``url``."""
        if self.url_env and os.environ.get(self.url_env):
            return os.environ[self.url_env]
        return self.url


class ReportsConfig(_Strict):
    dir: Path = Path("reports")
    retention_days: int = Field(default=90, ge=1)
    base_url: str = Field(
        default="http://127.0.0.1:8787",
        description="Prefix of report links in alerts (the viewer's address).",
    )
    evidently: bool = Field(
        default=False, description="Also write Evidently's own data-drift report per run."
    )


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    ingest_token_env: str | None = Field(
        default=None, description="Environment variable holding the bearer token of POST /v1/log."
    )
    max_body_bytes: int = Field(default=10_000_000, ge=1024)
    request_timeout: Duration = Field(
        default=timedelta(seconds=10), description="Longest wait for a client's next bytes."
    )
    max_connections: int = Field(default=64, ge=1, le=10_000)


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, e.g. a container's limit), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class DaemonConfig(_Strict):
    timezone: str = "UTC"
    misfire_grace_time: Duration = timedelta(hours=1)
    max_catchup_windows: int = Field(default=30, ge=0)
    shutdown_grace: Duration = timedelta(seconds=30)
    store_retry_interval: Duration = timedelta(seconds=10)
    dispatch_interval: Duration = timedelta(seconds=30)
    retention_interval: Duration = timedelta(hours=6)
    event_retention_days: int = Field(default=90, ge=1)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    liveness_timeout: Duration = Field(
        default=timedelta(minutes=10),
        description="/healthz fails when no scheduled job has finished for this long.",
    )
    check_workers: int = Field(
        default_factory=_usable_cpus,
        ge=1,
        description="Check jobs run at once (CPU-bound): by default the CPUs this process may use.",
    )

    @model_validator(mode="after")
    def _liveness_after_dispatch(self) -> DaemonConfig:
        if self.liveness_timeout <= self.dispatch_interval:
            raise ValueError(
                f"liveness_timeout ({self.liveness_timeout}) must be longer than dispatch_interval "
                f"({self.dispatch_interval}): the dispatch job is the daemon's heartbeat"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"{value!r} is not a known time zone (e.g. 'UTC', 'Europe/Berlin')") from None
        return value


class FeaturesConfig(_Strict):
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    categories: dict[str, list[str]] = Field(
        default_factory=dict, description="Known values per categorical column (for unknown_category)."
    )

    @field_validator("numeric", "categorical")
    @classmethod
    def _column_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not COLUMN_PATTERN.match(name):
                raise ValueError(
                    f"{name!r} is not a usable column name (1-60 printable characters, no quotes)"
                )
        return names

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def _to_window(value: Any, info: ValidationInfo) -> Window:
    if isinstance(value, Window):
        return value
    try:
        return Window.parse(value, anchor=info.data.get("window_anchor"))
    except WindowError as exc:
        raise ValueError(str(exc)) from None


#: A window length in config: ``"1h"``, ``"1d"``, ``"1w"``, ``"1mo"``, ``"1q"``, ``"1y"``.
WindowLength = Annotated[Window, BeforeValidator(_to_window), PlainSerializer(str, return_type=str)]


def _to_trailing(value: Any) -> timedelta | Window:
    if isinstance(value, timedelta | Window):
        return value
    try:
        window = Window.parse(value)
    except WindowError:
        window = None
    if window is not None and window.calendar:
        return window
    try:
        delta = parse_duration(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a trailing length (expected e.g. '7d', '36h', '1mo', '1q')"
        ) from None
    if delta <= timedelta(0):
        raise ValueError(f"{value!r} must be a positive duration")
    return delta


#: A trailing reference: any positive duration, or calendar months (``"1mo"``, ``"1q"``, ``"1y"``).
TrailingLength = Annotated[
    timedelta | Window,
    BeforeValidator(_to_trailing),
    PlainSerializer(lambda v: str(v) if isinstance(v, Window) else format_duration(v), return_type=str),
]


class ReferenceConfig(_Strict):
    """Exactly one of: a fixed period (``start``/``end``), a ``file``, or a ``trailing`` window."""

    start: datetime | None = None
    end: datetime | None = None
    file: Path | None = None
    trailing: TrailingLength | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ReferenceConfig:
        kinds = [
            self.start is not None or self.end is not None,
            self.file is not None,
            self.trailing is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError("set exactly one of: start and end (fixed period), file, or trailing")
        if kinds[0]:
            if self.start is None or self.end is None:
                raise ValueError("a fixed reference period needs both start and end")
            if aware_utc(self.end) <= aware_utc(self.start):
                raise ValueError("end must be after start")
        return self

    @property
    def kind(self) -> Literal["period", "file", "trailing"]:
        if self.file is not None:
            return "file"
        if self.trailing is not None:
            return "trailing"
        return "period"


def _drift_method(name: str) -> str:
    resolve(name, DRIFT_METHODS, "drift method", aliases=DRIFT_METHOD_ALIASES)
    return name


#: A drift method of :data:`checks.vocabulary.DRIFT_METHODS` or one of its aliases.
DriftMethod = Annotated[str, AfterValidator(_drift_method)]


class ColumnDriftConfig(_Strict):
    method: DriftMethod | None = None
    threshold: float | None = Field(default=None, gt=0)


class DriftConfig(_Strict):
    enabled: bool = True
    method: DriftMethod | None = Field(
        default=None, description="Method for every column; None picks per column."
    )
    threshold: float | None = Field(default=None, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    fdr: float = Field(default=0.05, gt=0, lt=1)
    columns: dict[str, ColumnDriftConfig] = Field(default_factory=dict)


class QualityConfig(_Strict):
    enabled: bool = True
    max_quarantine_share: float = Field(default=0.01, ge=0, le=1)
    min_missing_increase: float = Field(default=0.05, ge=0, le=1)
    new_category_share: float = Field(default=0.01, ge=0, le=1)
    out_of_range_share: float = Field(default=0.01, ge=0, le=1)
    vanished_category_share: float = Field(
        default=0.01, gt=0, le=1, description="Reference share from which an absent category is a finding."
    )
    vanished_category_alpha: float = Field(default=0.01, gt=0, lt=1)
    min_traffic_share: float = Field(
        default=0.5, ge=0, le=1, description="A window below this share of the expected rows is a finding."
    )
    traffic_alpha: float = Field(default=0.01, gt=0, lt=1)


class LatencyConfig(_Strict):
    enabled: bool = True
    slo_p50_ms: float | None = Field(default=None, gt=0)
    slo_p95_ms: float | None = Field(default=None, gt=0)
    slo_p99_ms: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    min_relative_increase: float = Field(default=0.2, gt=0)


class LabelsConfig(_Strict):
    min_coverage: float = Field(default=0.5, ge=0, le=1)
    min_count: int = Field(default=200, ge=1)
    max_delay: Duration = Field(
        default=timedelta(days=14), description="How long after a window late labels re-evaluate it."
    )


class PerformanceConfig(_Strict):
    enabled: bool = True
    min_delta: dict[str, float] = Field(default_factory=dict)
    min_relative: float = Field(
        default=0.25,
        gt=0,
        description="Bounded metrics: a rise of the error 1 - metric by this share is material too.",
    )
    n_resamples: int = Field(default=500, ge=50)
    alpha: float = Field(default=0.05, gt=0, lt=1)

    @model_validator(mode="after")
    def _resamples_can_reach_alpha(self) -> PerformanceConfig:
        # Holm multiplies the smallest bootstrap p-value, 1 / (n_resamples + 1), by the number
        # of metrics (up to 8): fewer resamples could never show a significant change.
        needed = math.floor(8 / self.alpha)
        if self.n_resamples < needed:
            raise ValueError(
                f"n_resamples = {self.n_resamples} cannot show a change significant at alpha = "
                f"{self.alpha} over 8 metrics; use at least {needed}"
            )
        return self


class CalibrationConfig(_Strict):
    enabled: bool = True
    n_bins: int = Field(default=10, ge=2, le=100)
    ece_threshold: float = Field(default=0.1, gt=0, lt=1)
    min_delta: float = Field(default=0.02, ge=0, lt=1)


class SegmentsConfig(_Strict):
    enabled: bool = True
    min_support: int = Field(default=50, ge=1)
    fdr: float = Field(default=0.05, gt=0, lt=1)
    top_k: int = Field(default=20, ge=1)
    numeric_bins: int = Field(default=4, ge=2, le=20)
    alert_min_rows: int = Field(
        default=300, ge=1, description="A flagged segment with fewer labelled rows is a warning only."
    )
    alert_min_share: float = Field(
        default=0.01, ge=0, le=1, description="Likewise below this share of the window's labelled rows."
    )
    min_ratio: float = Field(
        default=1.5,
        ge=1,
        description="Alert only when the segment's error is this many times its comparison.",
    )
    alert_fdr: float = Field(default=0.01, gt=0, le=1, description="Alert only at this BH-adjusted p-value.")


class ThresholdConfig(_Strict):
    enabled: bool = True
    objective: Annotated[
        str, AfterValidator(lambda v: resolve(v, THRESHOLD_OBJECTIVES, "threshold objective"))
    ] = "f1"
    fp_cost: float = Field(default=1.0, ge=0)
    fn_cost: float = Field(default=1.0, ge=0)
    target: float | None = Field(default=None, gt=0, lt=1)
    min_gain: float = Field(default=0.01, ge=0)

    @model_validator(mode="after")
    def _target_needed(self) -> ThresholdConfig:
        if self.objective in TARGET_OBJECTIVES and self.target is None:
            raise ValueError(f"objective {self.objective!r} needs a target in (0, 1)")
        return self


class SourceConfig(_Strict):
    name: str | None = None
    kind: Literal["predictions", "outcomes"] = "predictions"
    type: Literal["files", "sql"] = "files"
    path: str | None = Field(default=None, description="Glob of files (type = files).")
    format: Literal["auto", "csv", "parquet", "jsonl"] = "auto"
    url_env: str | None = Field(default=None, description="Environment variable with the source DB URL.")
    table: str | None = None
    query: str | None = None
    interval: Duration = timedelta(minutes=5)
    batch_size: int = Field(default=50_000, ge=1)
    settle: Duration = Field(
        default=timedelta(seconds=60),
        description="Files: a last line without newline is read once the file is unchanged this long.",
    )

    @model_validator(mode="after")
    def _shape(self) -> SourceConfig:
        if self.type == "files" and not self.path:
            raise ValueError("a files source needs path (a glob)")
        if self.type == "sql":
            if not self.url_env:
                raise ValueError("a sql source needs url_env (the environment variable with its URL)")
            if bool(self.table) == bool(self.query):
                raise ValueError("a sql source needs exactly one of table or query")
        return self


class DataConfig(_Strict):
    """Data checked where it lives (``[models.data]``): nothing is copied into the store."""

    engine: Literal["duckdb", "spark"]
    predictions: str = Field(description="Glob, hive-partitioned folder or (Spark) table of predictions.")
    outcomes: str | None = Field(default=None, description="The same for outcomes, joined on the id.")
    format: Literal["auto", "parquet", "csv"] = "auto"
    master: str | None = Field(default=None, description='Spark master, e.g. "local[*]".')
    remote: str | None = Field(default=None, description='Spark Connect URL, e.g. "sc://host:15002".')
    edge_sample_rows: int = Field(default=50_000, ge=100)

    @model_validator(mode="after")
    def _shape(self) -> DataConfig:
        if self.engine == "duckdb" and (self.master or self.remote):
            raise ValueError("master and remote are Spark settings; the duckdb engine is embedded")
        if self.engine == "spark" and bool(self.master) == bool(self.remote):
            raise ValueError(
                'the spark engine needs exactly one of master ("local[*]") or remote ("sc://...")'
            )
        return self


class ModelConfig(_Strict):
    name: str
    task: Literal["binary", "multiclass", "regression"] = "binary"
    id_column: str = "id"
    timestamp_column: str = "timestamp"
    prediction_column: str = "prediction"
    score_column: str | None = "score"
    label_column: str = "label"
    latency_column: str | None = "latency_ms"
    error_column: str | None = None
    version_column: str | None = None
    classes: list[str] | None = None
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    segments: list[str] = Field(default_factory=list)
    importance: dict[str, float] = Field(default_factory=dict)
    unknown_category: Literal["keep", "quarantine"] = "keep"
    on_conflict: Literal["quarantine", "replace"] = Field(
        default="quarantine",
        description="An id stored again with other values: quarantine the new version, or replace.",
    )
    threshold: float = Field(default=0.5, gt=0, lt=1)
    reference: ReferenceConfig = Field(default_factory=lambda: ReferenceConfig(trailing=timedelta(days=7)))
    window_anchor: datetime | None = Field(
        default=None, description="Local date-time fixed-length windows are aligned to."
    )
    window: WindowLength = Window()
    schedule: str = "5 0 * * *"
    drift: DriftConfig = Field(default_factory=DriftConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    segments_check: SegmentsConfig = Field(default_factory=SegmentsConfig)
    threshold_check: ThresholdConfig = Field(default_factory=ThresholdConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    data: DataConfig | None = None

    @field_validator("name")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a valid model name (lower case letters, digits, _; max 40)")
        return value

    @field_validator("window_anchor")
    @classmethod
    def _local_anchor(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError(
                "must be a local date-time, without a UTC offset (windows align in [daemon] timezone)"
            )
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone=UTC)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid cron expression ({exc})") from None
        return value

    @property
    def feature_columns(self) -> list[str]:
        return self.features.all

    def drift_settings(self) -> tuple[dict[str, str], dict[str, float]]:
        """Per-column drift ``(methods, thresholds)``: column overrides, else ``[models.drift]``'s."""
        cfg = self.drift
        methods = {c: col.method for c, col in cfg.columns.items() if col.method}
        thresholds = {c: col.threshold for c, col in cfg.columns.items() if col.threshold is not None}
        if cfg.method:
            methods = {c: methods.get(c, cfg.method) for c in self.feature_columns}
        if cfg.threshold is not None:
            thresholds = {c: thresholds.get(c, cfg.threshold) for c in self.feature_columns}
        return methods, thresholds

    def cron_trigger(self, timezone: str = "UTC") -> CronTrigger:
        return CronTrigger.from_crontab(self.schedule, timezone=timezone)


class Config(_Strict):
    store: StoreConfig = Field(default_factory=StoreConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    models: list[ModelConfig] = Field(default_factory=list)

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        raise UnknownModelError(name, [m.name for m in self.models])


class UnknownModelError(KeyError):
    """A command named a model that is not configured."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"No model named {name!r} is configured (known: {', '.join(known) or 'none'})")


def _loc_to_path(loc: tuple[Any, ...], data: Any = None) -> str:
    """``models[0].features.numeric`` from a pydantic error location.

    Parts that are not keys of the input are pydantic's own (a tagged union's tag such as
    ``slack``, a union member such as ``str``): walking ``data`` alongside drops them.
    """
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            continue
        if str(part).startswith("function-") or part in {"literal_error"}:
            continue
        if (
            data is not None
            and not (isinstance(node, dict) and part in node)
            and (not isinstance(node, dict) or node.get("type") == part)
        ):
            continue
        out += f".{part}" if out else str(part)
        node = node.get(part) if isinstance(node, dict) else None
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config tables an annotation holds (through ``list``, ``dict``, ``| None``, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """``unknown key``, with the closest key of the same table when one is near (``windwo``)."""
    tables: list[type[BaseModel]] = [Config]
    for part in loc[:-1]:
        fields = [t.model_fields[part] for t in tables if part in t.model_fields]
        if fields:
            tables = [m for f in fields for m in _models_in(f.annotation)]
        elif isinstance(part, str):  # a tagged union's tag: keep the member whose ``type`` it names
            tables = [t for t in tables if repr(part) in repr(t.model_fields.get("type"))] or tables
    known = sorted({f.alias or name for t in tables for name, f in t.model_fields.items()})
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"


def _cross_checks(config: Config) -> list[tuple[str, str]]:
    """Checks that span several keys: column references, unique names."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, model in enumerate(config.models):
        where = f"models[{i}]"
        if model.name in seen:
            problems.append((f"{where}.name", f"duplicate model name {model.name!r}"))
        seen.add(model.name)
        declared = model.feature_columns
        for kind in ("numeric", "categorical"):
            for j, col in enumerate(getattr(model.features, kind)):
                if declared.count(col) > 1:
                    problems.append((f"{where}.features.{kind}[{j}]", f"column {col!r} is declared twice"))
        for j, seg in enumerate(model.segments):
            if seg not in declared:
                problems.append(
                    (f"{where}.segments[{j}]", f"unknown column {seg!r} (declare it under features)")
                )
        for col in model.features.categories:
            if col not in model.features.categorical:
                problems.append(
                    (f"{where}.features.categories.{col}", f"{col!r} is not a categorical feature")
                )
        if model.unknown_category == "quarantine" and not model.features.categories:
            problems.append(
                (f"{where}.unknown_category", "'quarantine' needs the known values in features.categories")
            )
        for col in model.drift.columns:
            if col not in declared:
                problems.append((f"{where}.drift.columns.{col}", f"unknown column {col!r}"))
        for metric in model.performance.min_delta:
            try:
                resolve(metric, METRICS, "metric")
            except ValueError as exc:
                problems.append((f"{where}.performance.min_delta.{metric}", str(exc)))
        for col in model.importance:
            if col not in declared:
                problems.append((f"{where}.importance.{col}", f"unknown column {col!r}"))
        if model.task == "multiclass" and not model.classes:
            problems.append((f"{where}.classes", "a multiclass model needs its list of classes"))
        if model.task == "binary" and not model.score_column:
            problems.append((f"{where}.score_column", "a binary model needs a score column (probability)"))
        if not declared:
            problems.append((f"{where}.features", "declare at least one numeric or categorical feature"))
        if model.data is not None and model.sources:
            problems.append((f"{where}.data", "a model checked in place ([models.data]) has no sources"))
        names = [s.name or f"{s.kind}-{k}" for k, s in enumerate(model.sources)]
        for k, name in enumerate(names):
            if names.count(name) > 1:
                problems.append((f"{where}.sources[{k}].name", f"duplicate source name {name!r}"))
    return problems


def parse_config(data: dict[str, Any], source: str = "<config>", *, base_dir: Path | None = None) -> Config:
    """Validate a config mapping; relative paths are resolved against ``base_dir``.

    :raises ConfigError: with every problem found, each with its key path.
    """
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            path = _loc_to_path(err["loc"], data)
            if err["type"] == "extra_forbidden":
                msg = _unknown_key(err["loc"])
            elif err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
                path += "." + str(err.get("ctx", {}).get("discriminator", "type")).strip("'")
            problems.append((path, msg))
        raise ConfigError(source, problems) from None
    problems = _cross_checks(config)
    if problems:
        raise ConfigError(source, problems)
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return config


def _resolve_paths(config: Config, base: Path) -> Config:
    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    models = []
    for model in config.models:
        sources = [
            s.model_copy(update={"path": str(absolute(Path(s.path)))}) if s.path else s for s in model.sources
        ]
        ref = model.reference
        if ref.file is not None:
            ref = ref.model_copy(update={"file": absolute(ref.file)})
        data = model.data
        if data is not None:
            data = data.model_copy(update=_local_paths(data, absolute))
        models.append(model.model_copy(update={"sources": sources, "reference": ref, "data": data}))
    store = config.store
    url = make_url(store.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        if not db.is_absolute():
            store = store.model_copy(update={"url": str(url.set(database=str(base / db)))})
    reports = config.reports.model_copy(update={"dir": absolute(config.reports.dir)})
    return config.model_copy(update={"models": models, "store": store, "reports": reports})


def is_spark_table(value: str) -> bool:
    """A Spark table name (``db.table``) rather than a path or glob."""
    return not any(ch in value for ch in "/\\*?") and not value.endswith((".parquet", ".csv"))


def _local_paths(data: DataConfig, absolute: Any) -> dict[str, str]:
    """Relative local paths of ``[models.data]`` made absolute (URLs and Spark tables kept)."""
    out = {}
    for key in ("predictions", "outcomes"):
        value = getattr(data, key)
        if value and "://" not in value and not (data.engine == "spark" and is_spark_table(value)):
            out[key] = str(absolute(Path(value)))
    return out


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML config file.

    :raises ConfigError: the file is missing, not TOML, or invalid (message names file and key).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [("", "file not found (create one with `driftwatch init`)")]) from None
    except OSError as exc:
        raise ConfigError(str(path), [("", f"cannot read file: {exc.strerror}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [("", f"not valid TOML: {exc}")]) from None
    return parse_config(data, str(path), base_dir=path.resolve().parent)
