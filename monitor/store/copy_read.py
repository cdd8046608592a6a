"""Read a window of a PostgreSQL store as Arrow columns, through ``COPY ... TO STDOUT``.

psycopg makes a Python object of every value a query returns: most of the time of reading a
window of 100,000 rows. ``COPY (query) TO STDOUT`` [1]_ streams the same rows as CSV, which
pyarrow parses in C into typed columns [2]_. The query is the caller's, rendered with its
values inline (``COPY`` takes no bind parameters; SQLAlchemy quotes the literals), so the
rows, their order and the hash sample are the query's. Columns come back as the ADBC SQLite
driver returns them (:mod:`monitor.store.columnar`), so one conversion makes both frames:
timestamps and text as strings, floats as doubles, booleans as 0/1 integers.

CSV keeps NULL and the empty string apart (an unquoted empty field against ``""``), and
PostgreSQL writes floats with enough digits to read them back exactly.

References
----------
.. [1] PostgreSQL, COPY. https://www.postgresql.org/docs/current/sql-copy.html
.. [2] Apache Arrow, Reading CSV files. https://arrow.apache.org/docs/python/csv.html
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Connection, Float, Select
from sqlalchemy.exc import CompileError
from sqlalchemy.types import TypeEngine

from monitor.store.columnar import inline_sql

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("driftwatch.store.copy_read")


def read_copy(conn: Connection, query: Select[Any], types: Sequence[TypeEngine[Any]]) -> pa.Table | None:
    """The rows of ``query`` (whose columns have the store types ``types``); ``None`` off PostgreSQL,
    for a query that cannot be written with its values inline, or CSV that pyarrow refuses."""
    if conn.dialect.name != "postgresql":
        return None
    import pyarrow as pa

    try:
        sql = inline_sql(conn, query)
    except CompileError:  # a value with no SQL literal form: the caller reads the rows itself
        return None
    names = [f"c{i}" for i in range(len(types))]
    raw = conn.connection.driver_connection
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        for block in copy:
            buffer.write(block)
    arrow_types = [_arrow_type(kind) for kind in types]
    if not buffer.tell():  # no rows (pyarrow refuses an empty CSV)
        table = pa.table([pa.array([], type=t) for t in arrow_types], names=names)
    else:
        buffer.seek(0)
        try:
            table = _parse(buffer, names, arrow_types)
        except pa.ArrowInvalid as exc:  # one value pyarrow cannot read must not lose the window
            log.debug("COPY read not used (%s); reading the rows with psycopg", exc)
            return None
    columns = [
        column.cast(pa.int64()) if isinstance(kind, Boolean) else column
        for column, kind in zip(table.columns, types, strict=True)
    ]
    return pa.table(columns, names=[str(c.name) for c in query.selected_columns])


def _parse(buffer: io.BytesIO, names: list[str], types: list[pa.DataType]) -> pa.Table:
    """PostgreSQL's CSV: NULL is an unquoted empty field, booleans ``t``/``f``, text may hold newlines."""
    import pyarrow.csv as csv

    return csv.read_csv(
        buffer,
        read_options=csv.ReadOptions(column_names=names),
        parse_options=csv.ParseOptions(newlines_in_values=True),
        convert_options=csv.ConvertOptions(
            column_types=dict(zip(names, types, strict=True)),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )


def _arrow_type(kind: TypeEngine[Any]) -> pa.DataType:
    import pyarrow as pa

    if isinstance(kind, Float):
        return pa.float64()
    if isinstance(kind, Boolean):
        return pa.bool_()
    return pa.string()
