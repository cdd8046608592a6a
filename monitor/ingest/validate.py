"""Validate a batch of logged rows against a model's declared schema, vectorised.

A row that breaks the schema is rejected with every reason that applies (``"column
'income': not a number: 'abc'"``); the rest of the batch goes on. The output frame has the
store's column names and types, ready for :mod:`monitor.ingest.writer`.

Conventions (documented in the README):

- timestamps: ISO 8601 strings, datetimes or Unix epoch seconds; a timestamp without a
  zone is taken as UTC; one more than ``future_tolerance`` ahead of ``now`` is rejected;
- numeric features: NaN/None mean *missing* (kept, counted by the data-quality check);
  ±inf and non-numbers are rejected;
- categorical features: values are stored as text; an empty string means missing; with
  ``unknown_category = "quarantine"`` values outside ``features.categories`` are rejected;
- the same id twice in one batch is stored once (the first occurrence).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from checks.multiclass_performance import SUM_TOLERANCE
from monitor.config import ModelConfig
from monitor.store.schema import CATEGORY_LENGTH, ID_LENGTH, feature_column, score_columns

MAX_RAW_CHARS = 500
TRUE_STRINGS = {"true", "1", "yes", "t", "y"}
FALSE_STRINGS = {"false", "0", "no", "f", "n", ""}


@dataclass
class Rejected:
    """Rows of a batch that were rejected: their position, raw values and reasons."""

    positions: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    timestamps: list[datetime | None] = field(default_factory=list)
    #: Where each row was, e.g. ``"line 12"`` (default: ``"row N"`` from its position).
    locations: list[str] = field(default_factory=list)
    #: Rows of the batch one entry stands for (a batch missing a column is one entry).
    covers: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def rows_rejected(self) -> int:
        """How many rows of the batch these entries reject."""
        return sum(self.covers) if self.covers else len(self.positions)

    def extend(self, other: Rejected, shift: int) -> Rejected:
        """Append ``other``'s entries, their positions moved by ``shift``."""
        if self.covers or other.covers:
            self.covers = (self.covers or [1] * len(self)) + (other.covers or [1] * len(other))
        if self.locations or other.locations:
            assert len(self.locations) == len(self) and len(other.locations) == len(other)
            self.locations += other.locations
        self.positions += [shift + p for p in other.positions]
        self.reasons += other.reasons
        self.rows += other.rows
        self.timestamps += other.timestamps
        return self


@dataclass
class Validated:
    """The outcome of validating one batch."""

    frame: pd.DataFrame
    rejected: Rejected
    duplicates: int = 0
    #: Repeated ids with other values than their first row (rejected, and counted here too).
    conflicts: int = 0
    warnings: list[str] = field(default_factory=list)


class _Reasons:
    """Accumulates rejection reasons per row without a Python loop over rows."""

    def __init__(self, n: int) -> None:
        self.text = np.full(n, "", dtype=object)

    def add(self, mask: np.ndarray | pd.Series, reason: str | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        values = np.asarray(reason, dtype=object)[mask] if isinstance(reason, pd.Series) else reason
        current = self.text[mask]
        sep = np.where(current == "", "", "; ")
        self.text[mask] = current + sep + values

    @property
    def bad(self) -> np.ndarray:
        return self.text != ""


def _utf8(text: str) -> str:
    """``text`` with lone surrogates escaped (``\\ud800``), so it can be stored as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable(value: Any) -> bool:
    return not isinstance(value, str) or _utf8(value) == value


def _short(value: Any) -> str:
    text = _utf8(str(value))
    return text if len(text) <= 40 else text[:37] + "..."


def _raw_json(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else str(value)
    text = _utf8(str(value))
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "..."


def raw_rows(frame: pd.DataFrame, positions: np.ndarray) -> list[dict[str, Any]]:
    """JSON-safe copies of rejected rows (long values truncated) for the quarantine table."""
    subset = frame.iloc[positions]
    if not len(subset.columns):
        return [{} for _ in range(len(subset))]
    rows = []
    for record in subset.to_dict(orient="records"):
        row = {str(k): _raw_json(v) for k, v in record.items()}
        json.dumps(row)  # guaranteed serialisable by _raw_json
        rows.append(row)
    return rows


def _numbers(values: pd.Series, column: str, reasons: _Reasons, *, allow_missing: bool) -> pd.Series:
    if values.dtype == bool:
        values = values.astype(float)
    present = values.notna().to_numpy()
    numeric = pd.to_numeric(values, errors="coerce").astype("float64")
    not_number = present & numeric.isna().to_numpy()
    if not_number.any():
        reasons.add(not_number, values.map(lambda v: f"column {column!r}: not a number: {_short(v)!r}"))
    infinite = np.isinf(numeric.to_numpy())
    reasons.add(infinite, f"column {column!r}: infinite value")
    if not allow_missing:
        reasons.add(~present, f"column {column!r}: missing value")
    return numeric.where(~np.isinf(numeric))


def _texts(values: pd.Series, column: str, reasons: _Reasons, *, limit: int) -> pd.Series:
    try:
        text = values.astype("string[pyarrow]")
    except UnicodeEncodeError:  # a lone surrogate somewhere: find it (slow path, rare)
        invalid = ~values.map(_encodable).to_numpy(dtype=bool)
        reasons.add(invalid, f"column {column!r}: not valid unicode (lone surrogate)")
        values = values.where(~invalid, None)
        text = values.astype("string[pyarrow]")
    present = values.notna().to_numpy()
    text = text.where(present)
    lengths = text.str.len().fillna(0).to_numpy()
    reasons.add(lengths > limit, f"column {column!r}: value longer than {limit} characters")
    has_nul = text.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
    reasons.add(has_nul, f"column {column!r}: contains a NUL character")
    text = text.where(text.str.strip() != "")
    return text.astype(object).where(text.notna(), None)


def _timestamps(
    values: pd.Series, column: str, reasons: _Reasons, now: datetime, tolerance: timedelta
) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values if values.dt.tz is not None else values.dt.tz_localize("UTC")
        parsed = parsed.dt.tz_convert("UTC")
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numeric = values.astype("float64")
        ok = np.isfinite(numeric) & (numeric.abs() < 1e11)
        parsed = pd.to_datetime(numeric.where(ok), unit="s", utc=True, errors="coerce")
    else:
        text = values.astype("string")
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    missing = values.isna().to_numpy()
    reasons.add(missing, f"column {column!r}: missing timestamp")
    unparseable = parsed.isna().to_numpy() & ~missing
    if unparseable.any():
        reasons.add(unparseable, values.map(lambda v: f"column {column!r}: not a timestamp: {_short(v)!r}"))
    limit = pd.Timestamp(now).tz_convert("UTC") + tolerance if pd.Timestamp(now).tzinfo else None
    if limit is None:
        limit = pd.Timestamp(now, tz="UTC") + tolerance
    future = (parsed > limit).fillna(False).to_numpy(dtype=bool)
    reasons.add(future, f"column {column!r}: timestamp in the future")
    return parsed.dt.tz_localize(None)


def _flags(values: pd.Series, column: str, reasons: _Reasons) -> pd.Series:
    def to_bool(v: Any) -> Any:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, bool | np.bool_):
            return bool(v)
        text = str(v).strip().lower()
        if text in TRUE_STRINGS:
            return True
        if text in FALSE_STRINGS:
            return False
        return "?"

    flags = values.map(to_bool)
    bad = (flags == "?").to_numpy(dtype=bool)
    reasons.add(bad, f"column {column!r}: not a true/false flag")
    return flags.where(~bad, None)


def _ids(values: pd.Series, column: str, reasons: _Reasons) -> pd.Series:
    if pd.api.types.is_float_dtype(values):
        whole = values.notna() & (values % 1 == 0)
        values = values.astype(object).where(~whole, values[whole].astype("int64").astype(str))
    ids = _texts(values, column, reasons, limit=ID_LENGTH)
    reasons.add(pd.isna(ids).to_numpy(dtype=bool), f"column {column!r}: missing id")
    return ids


def _missing_required(frame: pd.DataFrame, required: list[str]) -> list[str]:
    return [c for c in required if c not in frame.columns]


def validate_batch(
    frame: pd.DataFrame,
    model: ModelConfig,
    kind: str,
    *,
    now: datetime,
    future_tolerance: timedelta = timedelta(minutes=5),
    categories: dict[str, list[str]] | None = None,
) -> Validated:
    """Validate ``frame`` as prediction events (``kind="predictions"``) or outcomes.

    Returns the store-shaped valid rows and the rejected ones with their reasons. A batch
    missing a required column is rejected as one entry (``covers`` its rows). Outcomes
    without a timestamp column are stamped with ``now`` (their arrival).
    """
    n = len(frame)
    reasons = _Reasons(n)
    warnings: list[str] = []
    out: dict[str, Any] = {}
    categories = model.features.categories if categories is None else categories
    frame = frame.reset_index(drop=True)

    if kind == "predictions":
        required = [model.id_column, model.timestamp_column, model.prediction_column]
        if model.task == "binary" and model.score_column:
            required.append(model.score_column)
        if model.task == "multiclass" and model.score_column and model.classes:
            required += [f"{model.score_column}_{c}" for c in model.classes]
    else:
        required = [model.id_column, model.label_column]
    missing = _missing_required(frame, required)
    if missing:
        return _missing_columns(frame, missing, warnings)

    out["event_id"] = _ids(frame[model.id_column], model.id_column, reasons)
    if kind == "outcomes" and model.timestamp_column not in frame.columns:
        warnings.append(f"no {model.timestamp_column!r} column: outcomes stamped with their arrival time")
        arrival = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now)
        out["ts"] = pd.Series(arrival.tz_localize(None), index=frame.index).astype("datetime64[us]")
    else:
        out["ts"] = _timestamps(
            frame[model.timestamp_column], model.timestamp_column, reasons, now, future_tolerance
        )

    if kind == "outcomes":
        out["label"] = _target(frame[model.label_column], model, model.label_column, reasons)
    else:
        out["prediction"] = _target(frame[model.prediction_column], model, model.prediction_column, reasons)
        out.update(_scores(frame, model, reasons))
        if model.latency_column and model.latency_column in frame.columns:
            latency = _numbers(frame[model.latency_column], model.latency_column, reasons, allow_missing=True)
            reasons.add((latency < 0).to_numpy(), f"column {model.latency_column!r}: negative latency")
            out["latency_ms"] = latency
        else:
            out["latency_ms"] = np.full(n, np.nan)
        if model.error_column and model.error_column in frame.columns:
            out["error"] = _flags(frame[model.error_column], model.error_column, reasons)
        else:
            out["error"] = pd.Series([None] * n, dtype=object)
        if model.version_column and model.version_column in frame.columns:
            out["model_version"] = _texts(
                frame[model.version_column], model.version_column, reasons, limit=64
            )
        else:
            out["model_version"] = pd.Series([None] * n, dtype=object)
        absent = [c for c in model.feature_columns if c not in frame.columns]
        if absent:
            warnings.append(f"feature column(s) {', '.join(map(repr, absent))} absent; stored as missing")
        for col in model.features.numeric:
            values = frame[col] if col in frame.columns else pd.Series(np.nan, index=frame.index)
            out[feature_column(col)] = _numbers(values, col, reasons, allow_missing=True)
        for col in model.features.categorical:
            values = frame[col] if col in frame.columns else pd.Series([None] * n, dtype=object)
            text = _texts(values, col, reasons, limit=CATEGORY_LENGTH)
            if model.unknown_category == "quarantine" and categories and col in categories:
                unknown = (text.notna() & ~text.isin(categories[col])).to_numpy(dtype=bool)
                if unknown.any():
                    reasons.add(
                        unknown, text.map(lambda v, c=col: f"column {c!r}: unknown category {_short(v)!r}")
                    )
            out[feature_column(col)] = text

    valid = pd.DataFrame(out)
    good_ids = valid["event_id"].where(~reasons.bad)
    duplicated = good_ids.duplicated(keep="first").to_numpy() & ~reasons.bad
    conflicting = _in_batch_conflicts(valid, duplicated, reasons.bad)
    if conflicting.any():
        ids = valid["event_id"].map(_short)
        reasons.add(
            conflicting, "conflict: id " + ids.map(repr) + " comes earlier in the batch with other values"
        )
        duplicated &= ~conflicting
    result = _finish(frame, valid, reasons, warnings, int(duplicated.sum()), duplicated)
    result.conflicts = int(conflicting.sum())
    return result


def _in_batch_conflicts(valid: pd.DataFrame, duplicated: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Which repeated ids of a batch differ from the id's first (kept) row."""
    out = np.zeros(len(valid), dtype=bool)
    if not duplicated.any():
        return out
    firsts = valid[~bad & ~duplicated].drop_duplicates("event_id").set_index("event_id")
    later = valid[duplicated].reset_index(drop=True)
    base = firsts.loc[later["event_id"]].reset_index(drop=True)
    columns = [c for c in valid.columns if c != "event_id"]
    a, b = later[columns], base[columns]
    same = (a.eq(b) | (a.isna() & b.isna())).all(axis=1).to_numpy(dtype=bool)
    out[np.flatnonzero(duplicated)[~same]] = True
    return out


def _target(values: pd.Series, model: ModelConfig, column: str, reasons: _Reasons) -> pd.Series:
    if model.task == "multiclass":
        text = _texts(values, column, reasons, limit=CATEGORY_LENGTH)
        allowed = set(model.classes or [])
        unknown = (text.notna() & ~text.isin(allowed)).to_numpy(dtype=bool)
        reasons.add(unknown, text.map(lambda v: f"column {column!r}: unknown class {_short(v)!r}"))
        reasons.add(text.isna().to_numpy(dtype=bool), f"column {column!r}: missing value")
        return text
    numbers = _numbers(values, column, reasons, allow_missing=False)
    if model.task == "binary":
        not_binary = (numbers.notna() & ~numbers.isin([0.0, 1.0])).to_numpy()
        reasons.add(not_binary, f"column {column!r}: a binary model's value must be 0 or 1")
    return numbers


def _scores(frame: pd.DataFrame, model: ModelConfig, reasons: _Reasons) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    if not model.score_column:
        return out
    if model.task == "multiclass" and model.classes:
        sources = [f"{model.score_column}_{c}" for c in model.classes]
    else:
        sources = [model.score_column]
    for store_col, src in zip(score_columns(model), sources, strict=True):
        if src not in frame.columns:
            out[store_col] = pd.Series(np.nan, index=frame.index)
            continue
        numbers = _numbers(frame[src], src, reasons, allow_missing=model.task == "regression")
        if model.task != "regression":
            outside = ((numbers < 0) | (numbers > 1)).to_numpy()
            reasons.add(outside, f"column {src!r}: a probability must be within [0, 1]")
        out[store_col] = numbers
    if model.task == "multiclass" and all(src in frame.columns for src in sources):
        total = sum(out.values(), pd.Series(0.0, index=frame.index))
        off = ((total - 1).abs() > SUM_TOLERANCE + 1e-9).to_numpy()
        reasons.add(
            off, total.map(lambda t: f"columns {model.score_column}_*: probabilities sum to {t:.4g}, not 1")
        )
    return out


def _missing_columns(frame: pd.DataFrame, missing: list[str], warnings: list[str]) -> Validated:
    """A batch without a required column: one quarantine entry for all its rows."""
    n = len(frame)
    names = ", ".join(repr(c) for c in missing)
    rejected = Rejected(
        positions=[0] if n else [],
        reasons=[f"missing column {names}: the batch's {n:,} row(s) are not stored"] if n else [],
        rows=raw_rows(frame, np.arange(min(n, 1))),
        timestamps=[None] if n else [],
        covers=[n] if n else [],
    )
    return Validated(frame=pd.DataFrame(), rejected=rejected, warnings=warnings)


def _finish(
    frame: pd.DataFrame,
    valid: pd.DataFrame,
    reasons: _Reasons,
    warnings: list[str],
    duplicates: int,
    duplicated: np.ndarray | None = None,
) -> Validated:
    bad = reasons.bad
    positions = np.flatnonzero(bad)
    rejected = Rejected(
        positions=positions.tolist(),
        reasons=reasons.text[bad].tolist(),
        rows=raw_rows(frame, positions),
    )
    if "ts" in valid.columns:
        ts = valid["ts"].iloc[positions].dt.floor("us")  # the store keeps microseconds
        rejected.timestamps = [None if pd.isna(t) else t.to_pydatetime() for t in ts]
    else:
        rejected.timestamps = [None] * len(positions)
    if valid.empty:
        return Validated(frame=valid, rejected=rejected, duplicates=0, warnings=warnings)
    keep = ~bad if duplicated is None else ~bad & ~duplicated
    return Validated(
        frame=valid[keep].reset_index(drop=True), rejected=rejected, duplicates=duplicates, warnings=warnings
    )
