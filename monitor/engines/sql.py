"""The summary contract in SQL: one text for DuckDB, Spark SQL and PostgreSQL.

Every query follows :mod:`checks.drift.window_summary`: ``NaN`` becomes ``NULL`` (``NULLIF``
with ``NaN``, which equals itself in all three engines), a bin is counted as "rows with
``x >= edge``" with the edge written as text cast to a double (the shortest repr of a float
round-trips exactly, where a numeric literal may be a decimal), categories are cast to
text, and the hash sample keeps the rows whose ``substr(md5(id), 1, 8)`` is below
:func:`checks.drift.window_summary.hash_cutoff`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from checks.drift.window_summary import (
    HASH_DIGITS,
    CategoricalSummary,
    NumericSummary,
    WindowSummary,
    counts_from_at_or_above,
    hash_cutoff,
)


@dataclass(frozen=True)
class Dialect:
    """How an engine spells the few things that differ."""

    double: str
    text: str
    quote_char: str = '"'
    #: Rows meeting a condition (``count_if`` is 5x faster in DuckDB than ``sum(CASE ...)``).
    count_if: str = "count_if({})"
    #: The p50, p95 and p99 of a column as one array, linear interpolation (``numpy.percentile``).
    quantiles: str = "quantile_cont({}, [0.5, 0.95, 0.99])"
    #: Rank error of :attr:`quantiles` as a share of the rows (0: exact).
    quantile_rank_error: float = 0.0

    def quote(self, name: str) -> str:
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    def number(self, column: str) -> str:
        """A numeric column as a double, ``NaN`` as ``NULL``."""
        return f"NULLIF(CAST({column} AS {self.double}), CAST('NaN' AS {self.double}))"

    def literal(self, value: float) -> str:
        return f"CAST('{float(value)!r}' AS {self.double})"

    def as_text(self, column: str) -> str:
        return f"CAST({column} AS {self.text})"

    def in_sample(self, id_column: str, fraction: float) -> str:
        """The hash-sample condition (always true for a fraction of 1)."""
        cutoff = hash_cutoff(fraction)
        if cutoff is None:
            return "TRUE"
        return f"substr(md5({self.as_text(id_column)}), 1, {HASH_DIGITS}) < '{cutoff}'"


#: Accuracy of Spark's ``percentile_approx`` (its rank error is ``1 / accuracy`` of the rows).
SPARK_QUANTILE_ACCURACY = 10_000

DUCKDB = Dialect(double="DOUBLE", text="VARCHAR")
SPARK = Dialect(
    double="DOUBLE",
    text="STRING",
    quote_char="`",
    quantiles=f"percentile_approx({{}}, array(0.5, 0.95, 0.99), {SPARK_QUANTILE_ACCURACY})",
    quantile_rank_error=1 / SPARK_QUANTILE_ACCURACY,
)
POSTGRESQL = Dialect(
    double="float8",
    text="text",
    count_if="count(*) FILTER (WHERE {})",
    quantiles="percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY {})",
)


def string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def between(dialect: Dialect, ts: str, start: datetime, end: datetime) -> str:
    """``start <= ts < end`` on naive UTC timestamps."""

    def stamp(moment: datetime) -> str:
        return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S.%f')}'"

    return f"{dialect.quote(ts)} >= {stamp(start)} AND {dialect.quote(ts)} < {stamp(end)}"


def numeric_query(
    dialect: Dialect, source: str, where: str, columns: Mapping[str, str], edges: Mapping[str, np.ndarray]
) -> str:
    """One row: the window's row count, then per column its count, sum, sum of squares, min,
    max and the rows at or above each edge. ``columns`` maps a name to its source column."""
    inner = (
        ", ".join(f"{dialect.number(dialect.quote(src))} AS v{i}" for i, src in enumerate(columns.values()))
        or "1 AS v"
    )
    parts = ["count(*)"]
    for i, name in enumerate(columns):
        v = f"v{i}"
        parts += [f"count({v})", f"sum({v})", f"sum({v} * {v})", f"min({v})", f"max({v})"]
        parts += [dialect.count_if.format(f"{v} >= {dialect.literal(e)}") for e in edges[name]]
    return f"SELECT {', '.join(parts)} FROM (SELECT {inner} FROM {source} WHERE {where}) w"


def numeric_summaries(
    row: Sequence[object], columns: Sequence[str], edges: Mapping[str, np.ndarray]
) -> tuple[int, dict[str, NumericSummary]]:
    """The window's row count and :class:`NumericSummary` per column from the row of :func:`numeric_query`."""
    rows = int(row[0] or 0)  # type: ignore[call-overload]
    out, at = {}, 1
    for name in columns:
        n, total, squares, low, high = row[at : at + 5]
        above = [int(v or 0) for v in row[at + 5 : at + 5 + len(edges[name])]]  # type: ignore[call-overload]
        at += 5 + len(edges[name])
        n = int(n or 0)  # type: ignore[call-overload]
        out[name] = NumericSummary(
            counts=tuple(int(c) for c in counts_from_at_or_above(n, above)),
            missing=rows - n,
            total=float(total or 0.0),  # type: ignore[arg-type]
            squares=float(squares or 0.0),  # type: ignore[arg-type]
            low=None if low is None else float(low),  # type: ignore[arg-type]
            high=None if high is None else float(high),  # type: ignore[arg-type]
        )
    return rows, out


def category_query(dialect: Dialect, source: str, where: str, columns: Mapping[str, str]) -> str | None:
    """Rows ``(column index, category text or NULL, count)`` of every categorical column."""
    parts = []
    for i, src in enumerate(columns.values()):
        value = dialect.as_text(dialect.quote(src))
        parts.append(
            f"SELECT {i} AS k, {value} AS v, count(*) AS n FROM {source} WHERE {where} GROUP BY {value}"
        )
    return " UNION ALL ".join(parts) or None


def category_summaries(
    rows: Sequence[Sequence[object]], columns: Sequence[str]
) -> dict[str, CategoricalSummary]:
    counts: list[dict[str, int]] = [{} for _ in columns]
    missing = [0] * len(columns)
    for k, value, n in rows:
        if value is None:
            missing[int(k)] += int(n)  # type: ignore[call-overload]
        else:
            counts[int(k)][str(value)] = int(n)  # type: ignore[call-overload]
    return {
        name: CategoricalSummary(counts=tuple(sorted(counts[i].items())), missing=missing[i])
        for i, name in enumerate(columns)
    }


def window_summary(
    numeric_row: Sequence[object],
    category_rows: Sequence[Sequence[object]],
    numeric: Sequence[str],
    categorical: Sequence[str],
    edges: Mapping[str, np.ndarray],
) -> WindowSummary:
    rows, nums = numeric_summaries(numeric_row, numeric, edges)
    return WindowSummary(rows=rows, numeric=nums, categorical=category_summaries(category_rows, categorical))


def latency_query(dialect: Dialect, source: str, where: str, column: str) -> str:
    """One row: the p50, p95, p99 (an array) and max of a latency column's finite values."""
    inner = f"SELECT {dialect.number(dialect.quote(column))} AS v FROM {source} WHERE {where}"
    finite = f"v >= 0 AND v < CAST('Infinity' AS {dialect.double})"
    return f"SELECT {dialect.quantiles.format('v')}, max(v) FROM ({inner}) w WHERE {finite}"


def window_latency(dialect: Dialect, row: Sequence[object]) -> dict[str, float | None]:
    """The suite's ``window_latency`` (quantiles and their rank error) from a :func:`latency_query` row."""
    quantiles, high = row
    values = [*(quantiles or (None, None, None)), high]  # type: ignore[misc]
    keys = ("p50_ms", "p95_ms", "p99_ms", "max_ms")
    out = {key: None if v is None else float(v) for key, v in zip(keys, values, strict=True)}
    return {**out, "quantile_rank_error": dialect.quantile_rank_error}
