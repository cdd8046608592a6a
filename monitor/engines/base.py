"""An engine over a model's own datasets: counts, summaries and hash samples of a window.

Subclasses say how to run a query (:meth:`InPlaceEngine.rows`, :meth:`InPlaceEngine.frame`)
and where the predictions and outcomes are (:meth:`InPlaceEngine.source`); the queries
themselves are the shared text of :mod:`monitor.engines.sql`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from checks.drift.window_summary import WindowSummary
from monitor.config import DataConfig, ModelConfig
from monitor.engines import sql
from monitor.store.windows import WindowCounts
from monitor.windows import aware_utc, naive_utc

if TYPE_CHECKING:
    import pandas as pd


class InPlaceError(ValueError):
    """A model's in-place data cannot be read (missing files, unknown columns)."""

    def __init__(self, model: str, what: str, exc: BaseException) -> None:
        super().__init__(f'model "{model}": cannot read its {what} in place: {exc}')


class InPlaceEngine(ABC):
    """Windows of one model's predictions (and outcomes) computed where they live."""

    dialect: sql.Dialect

    def __init__(self, model: ModelConfig, data: DataConfig) -> None:
        self.model = model
        self.data = data

    # -- what a subclass provides ----------------------------------------------------------

    @abstractmethod
    def source(self, kind: str) -> str:
        """A FROM item for ``"predictions"`` or ``"outcomes"``."""

    @abstractmethod
    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """Run ``query``; its (small) result as tuples."""

    @abstractmethod
    def frame(self, query: str) -> pd.DataFrame:
        """Run ``query``; its (sampled) result as a DataFrame."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""

    def __enter__(self) -> InPlaceEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the window's numbers ---------------------------------------------------------------

    def _where(self, start: datetime, end: datetime) -> str:
        return sql.between(self.dialect, self.model.timestamp_column, naive_utc(start), naive_utc(end))

    def _q(self, name: str) -> str:
        return self.dialect.quote(name)

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """First and last prediction timestamps (aware UTC), ``None`` without rows."""
        ts = self._q(self.model.timestamp_column)
        first, last = self.rows(f"SELECT min({ts}), max({ts}) FROM {self.source('predictions')}")[0]
        return _moment(first), _moment(last)

    def counts(self, start: datetime, end: datetime) -> WindowCounts:
        """Predictions and labelled predictions of a window (nothing is quarantined in place)."""
        where = self._where(start, end)
        if self.data.outcomes is None:
            (total,) = self.rows(f"SELECT count(*) FROM {self.source('predictions')} WHERE {where}")[0]
            return WindowCounts(predictions=int(total), labelled=0, quarantined=0)
        pid, oid = (f"{t}.{self._q(self.model.id_column)}" for t in ("p", "o"))
        window = f"SELECT * FROM {self.source('predictions')} WHERE {where}"
        query = (
            f"SELECT count(*), count({oid}) FROM ({window}) p "
            f"LEFT JOIN (SELECT DISTINCT {self._q(self.model.id_column)} FROM {self.source('outcomes')}) o "
            f"ON {pid} = {oid}"
        )
        total, labelled = self.rows(query)[0]
        return WindowCounts(predictions=int(total), labelled=int(labelled), quarantined=0)

    def summarise(
        self,
        start: datetime,
        end: datetime,
        numeric: Mapping[str, str],
        categorical: Mapping[str, str],
        edges: Mapping[str, np.ndarray],
    ) -> WindowSummary:
        """The :class:`WindowSummary` of a window; ``numeric``/``categorical`` map names to source columns."""
        where, source = self._where(start, end), self.source("predictions")
        numeric_row = self.rows(sql.numeric_query(self.dialect, source, where, numeric, edges))[0]
        query = sql.category_query(self.dialect, source, where, categorical)
        category_rows = self.rows(query) if query else []
        return sql.window_summary(numeric_row, category_rows, list(numeric), list(categorical), edges)

    def version(self, start: datetime, end: datetime, column: str | None) -> tuple[Any, ...]:
        """What changes when the window's rows do, in one light scan: rows, time range, sum of ``column``."""
        ts = self._q(self.model.timestamp_column)
        total = f", sum({self.dialect.number(self._q(column))})" if column else ""
        query = f"SELECT count(*), min({ts}), max({ts}){total} FROM {self.source('predictions')}"
        row = self.rows(f"{query} WHERE {self._where(start, end)}")[0]
        # the sum rounded: an engine may add in another order from one scan to the next
        return tuple(float(f"{v:.12g}") if isinstance(v, float) else str(v) for v in row)

    def latency(self, start: datetime, end: datetime) -> dict[str, float | None]:
        """The window's latency quantiles where it lives (:func:`monitor.engines.sql.latency_query`)."""
        assert self.model.latency_column is not None
        query = sql.latency_query(
            self.dialect, self.source("predictions"), self._where(start, end), self.model.latency_column
        )
        return sql.window_latency(self.dialect, self.rows(query)[0])

    def column_sample(
        self, start: datetime, end: datetime, columns: Mapping[str, str], fraction: float
    ) -> dict[str, np.ndarray]:
        """Non-missing values of numeric columns on the hash sample of ``fraction``."""
        if not columns:
            return {}
        where = (
            f"{self._where(start, end)} AND {self.dialect.in_sample(self._q(self.model.id_column), fraction)}"
        )
        cols = ", ".join(
            f"{self.dialect.number(self._q(src))} AS v{i}" for i, src in enumerate(columns.values())
        )
        frame = self.frame(f"SELECT {cols} FROM {self.source('predictions')} WHERE {where}")
        out = {}
        for i, name in enumerate(columns):
            values = frame[f"v{i}"].to_numpy(dtype=np.float64, na_value=np.nan)
            out[name] = values[~np.isnan(values)]
        return out

    def sample(self, start: datetime, end: datetime, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The hash sample of a window: raw predictions, and the outcomes of their ids."""
        m = self.model
        where = f"{self._where(start, end)} AND {self.dialect.in_sample(self._q(m.id_column), fraction)}"
        predictions = self.frame(f"SELECT * FROM {self.source('predictions')} WHERE {where}")
        if self.data.outcomes is None:
            return predictions, predictions.iloc[0:0][[]]
        id_, ts, label = self._q(m.id_column), self._q(m.timestamp_column), self._q(m.label_column)
        query = (
            f"SELECT o.{id_}, o.{ts}, o.{label} FROM {self.source('outcomes')} o "
            f"JOIN (SELECT {id_} FROM {self.source('predictions')} WHERE {where}) p ON o.{id_} = p.{id_}"
        )
        return predictions, self.frame(query)


def column_names(model: ModelConfig) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Numeric and categorical columns of the drift check, name -> source column, and roles.

    The prediction is the score of a binary model, the prediction otherwise (as in memory).
    """
    numeric = {c: c for c in model.features.numeric}
    categorical = {c: c for c in model.features.categorical}
    roles = dict.fromkeys([*numeric, *categorical], "feature")
    if model.task == "binary" and model.score_column:
        numeric["score"] = model.score_column
        roles["score"] = "prediction"
    elif model.task == "regression":
        numeric["prediction"] = model.prediction_column
        roles["prediction"] = "prediction"
    else:
        categorical["prediction"] = model.prediction_column
        roles["prediction"] = "prediction"
    return numeric, categorical, roles


def _moment(value: Any) -> datetime | None:
    """An engine's timestamp (a datetime or an ISO string; naive is UTC) as an aware UTC datetime.

    >>> _moment("2026-01-01T01:00:00+01:00")
    datetime.datetime(2026, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> _moment("2026-01-01 00:00:00") == _moment("2026-01-01T01:00:00+01:00")
    True
    """
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return aware_utc(moment).astimezone(UTC)
