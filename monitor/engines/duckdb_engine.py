"""DuckDB over Parquet or CSV datasets (a glob or a hive-partitioned folder), embedded.

Each check opens an in-memory DuckDB database that reads the files where they are; its
aggregates stream over the row groups and spill to a temporary directory past its memory
limit, so memory stays flat as a window grows.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from monitor.config import DataConfig, ModelConfig
from monitor.engines import sql
from monitor.engines.base import InPlaceEngine, InPlaceError

if TYPE_CHECKING:
    import pandas as pd


def dataset_pattern(path: str, fmt: str) -> str:
    """The glob DuckDB reads: a folder stands for every file of its format below it."""
    if os.path.isdir(path):
        return os.path.join(path, "**", f"*.{fmt}")
    return path


def dataset_format(path: str, declared: str) -> str:
    """``parquet`` or ``csv``: declared, else from the path's suffix (Parquet by default)."""
    if declared != "auto":
        return declared
    return "csv" if path.rstrip("/*").lower().endswith((".csv", ".csv.gz")) else "parquet"


class DuckDBEngine(InPlaceEngine):
    dialect = sql.DUCKDB

    def __init__(self, model: ModelConfig, data: DataConfig) -> None:
        import duckdb

        super().__init__(model, data)
        self._error = duckdb.Error
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET TimeZone = 'UTC'")
        self._sources = {
            kind: self._reader(path)
            for kind, path in (("predictions", data.predictions), ("outcomes", data.outcomes))
            if path is not None
        }

    def _reader(self, path: str) -> str:
        fmt = dataset_format(path, self.data.format)
        pattern = sql.string(dataset_pattern(path, fmt))
        if fmt == "csv":
            return f"read_csv({pattern}, header = true, union_by_name = true)"
        return f"read_parquet({pattern}, hive_partitioning = true, union_by_name = true)"

    def source(self, kind: str) -> str:
        return self._sources[kind]

    def _run(self, query: str) -> Any:
        try:
            return self._con.execute(query)
        except self._error as exc:
            raise InPlaceError(self.model.name, "data with DuckDB", exc) from exc

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return self._run(query).fetchall()

    def frame(self, query: str) -> pd.DataFrame:
        return self._run(query).df()

    def close(self) -> None:
        self._con.close()
