"""Spark over tables or Parquet/CSV paths: local (``master``) or a cluster (``remote``, Spark Connect).

Summaries come back as one row (numeric) and a few hundred rows (categories); only the
hash sample is converted to pandas. The session is created once per process and kept:
starting a JVM (or a Connect channel) per window would cost more than the check.

A window's numeric summary is one aggregation of a few hundred columns (count, sum, sum of
squares, min, max and one ``count_if`` per edge of every numeric column). Spark compiles
an aggregation to Java only up to ``spark.sql.codegen.maxFields`` (100) fields, and the JVM
does not JIT-compile a method above 8,000 bytes of byte code; past either limit the scan
runs interpreted, 3-4x more CPU per row (measured with ``explain()`` and the JVM's CPU time:
bench/engines.py, docs/BENCHMARKS.md). A local session therefore raises ``maxFields`` and
starts its JVM with ``-XX:-DontCompileHugeMethods``; on a cluster (``remote``) set both in
the cluster's configuration (``spark.sql.codegen.maxFields``,
``spark.driver/executor.extraJavaOptions``).
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
#: How long a thread waits for another one starting the session (a JVM under load, or a
#: Connect channel) before its check fails instead of hanging.
SESSION_WAIT_SECONDS = 300.0
#: A local JVM compiles the wide summary aggregation (see the module docstring).
_LOCAL_OPTIONS = {
    "spark.sql.codegen.maxFields": "4096",
    "spark.driver.extraJavaOptions": "-XX:-DontCompileHugeMethods",
}


class SessionTimeout(RuntimeError):
    """Another thread held the session lock for longer than the bounded wait."""


def spark_session(data: DataConfig, *, wait: float | None = None) -> Any:
    """The process's Spark session for ``master`` or ``remote`` (UTC, no UI).

    Raises :class:`SessionTimeout` when another thread is still starting a session after
    ``wait`` seconds (default :data:`SESSION_WAIT_SECONDS`).
    """
    from pyspark.sql import SparkSession

    key = ("remote", data.remote) if data.remote else ("master", data.master or "local[*]")
    wait = SESSION_WAIT_SECONDS if wait is None else wait
    if not _LOCK.acquire(timeout=wait):
        # a Connect address may carry a token: name only the local master
        where = "Spark Connect" if key[0] == "remote" else f"Spark master {key[1]}"
        raise SessionTimeout(
            f"no Spark session after {wait:g} s: another check is still starting one ({where})"
        )
    try:
        if key not in _SESSIONS:
            builder = SparkSession.builder.appName("driftwatch")
            builder = builder.remote(key[1]) if key[0] == "remote" else builder.master(key[1])
            options = _LOCAL_OPTIONS if key[0] == "master" else {}
            for option, value in {
                "spark.sql.session.timeZone": "UTC",
                "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": "8",
                "spark.sql.execution.arrow.pyspark.enabled": "true",
                **options,
            }.items():
                builder = builder.config(option, value)
            session = builder.getOrCreate()
            if key[0] == "master":
                session.sparkContext.setLogLevel("ERROR")
            _SESSIONS[key] = session
        return _SESSIONS[key]
    finally:
        _LOCK.release()


class SparkEngine(InPlaceEngine):
    dialect = sql.SPARK

    def __init__(self, model: ModelConfig, data: DataConfig) -> None:
        super().__init__(model, data)
        try:
            self._spark = spark_session(data)
        except SessionTimeout as exc:
            raise InPlaceError(model.name, "data with Spark", exc) from exc
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
