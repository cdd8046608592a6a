"""Spark over tables or Parquet/CSV paths: local (``master``) or a cluster (``remote``, Spark Connect).

Summaries come back as one row (numeric) and a few hundred rows (categories); only the
hash sample is converted to pandas. The session is created once per process and kept:
starting a JVM (or a Connect channel) per window would cost more than the check.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from monitor.config import DataConfig, ModelConfig, is_spark_table
from monitor.engines import sql
from monitor.engines.base import InPlaceEngine, InPlaceError
from monitor.engines.duckdb_engine import dataset_format

if TYPE_CHECKING:
    import pandas as pd

_SESSIONS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def spark_session(data: DataConfig) -> Any:
    """The process's Spark session for ``master`` or ``remote`` (UTC, no UI)."""
    from pyspark.sql import SparkSession

    key = ("remote", data.remote) if data.remote else ("master", data.master or "local[*]")
    with _LOCK:
        if key not in _SESSIONS:
            builder = SparkSession.builder.appName("driftwatch")
            builder = builder.remote(key[1]) if key[0] == "remote" else builder.master(key[1])
            for option, value in {
                "spark.sql.session.timeZone": "UTC",
                "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": "8",
                "spark.sql.execution.arrow.pyspark.enabled": "true",
            }.items():
                builder = builder.config(option, value)
            session = builder.getOrCreate()
            if key[0] == "master":
                session.sparkContext.setLogLevel("ERROR")
            _SESSIONS[key] = session
        return _SESSIONS[key]


class SparkEngine(InPlaceEngine):
    dialect = sql.SPARK

    def __init__(self, model: ModelConfig, data: DataConfig) -> None:
        super().__init__(model, data)
        self._spark = spark_session(data)
        self._views: dict[str, str] = {}

    def source(self, kind: str) -> str:
        if kind not in self._views:
            path = self.data.predictions if kind == "predictions" else self.data.outcomes
            assert path is not None
            try:
                if is_spark_table(path):
                    frame = self._spark.table(path)
                elif dataset_format(path, self.data.format) == "csv":
                    frame = self._spark.read.csv(path, header=True, inferSchema=True)
                else:
                    frame = self._spark.read.parquet(path)
            except Exception as exc:
                raise InPlaceError(self.model.name, f"{kind} with Spark", exc) from exc
            name = f"dw_{self.model.name}_{kind}"
            frame.createOrReplaceTempView(name)
            self._views[kind] = sql.SPARK.quote(name)
        return self._views[kind]

    def _run(self, query: str) -> Any:
        try:
            return self._spark.sql(query)
        except Exception as exc:
            raise InPlaceError(self.model.name, "data with Spark", exc) from exc

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._run(query).collect()]

    def frame(self, query: str) -> pd.DataFrame:
        return self._run(query).toPandas()

    def close(self) -> None:
        """The session stays for the next window; the views are dropped."""
        for kind in self._views:
            self._spark.catalog.dropTempView(f"dw_{self.model.name}_{kind}")
        self._views.clear()
