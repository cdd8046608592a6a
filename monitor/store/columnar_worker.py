"""The helper process of :mod:`monitor.store.columnar`: window queries on a SQLite file, answered as Arrow.

Run by path (``python -P columnar_worker.py``), it imports nothing of driftwatch, only the ADBC
SQLite driver and pyarrow. One request at a time on stdin, one reply each on stdout:

- request: a 4-byte little-endian length, then JSON ``{"path", "count", "query", "busy_ms",
  "batch_rows"}`` (``batch_rows`` ``null``: the whole result in one batch);
- reply: one status byte (``0`` ok, ``1`` error), an 8-byte little-endian length, then an Arrow
  IPC stream (ok) or the error as UTF-8 text. The first reply, before any request, says whether
  the driver imports.

The database is opened read-only (``mode=ro``). ``count`` and ``query`` run in one read
transaction, so the count sizes one batch of exactly the rows read: the driver infers each
column's type from its first batch (a column NULL throughout it is ``int64``, and a later
string fails). The process ends when stdin closes: its parent exited, however it exited.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import struct
import sys
from typing import Any, BinaryIO
from urllib.parse import quote


def _reply(out: BinaryIO, ok: bool, payload: bytes | memoryview) -> None:
    out.write(struct.pack("<BQ", 0 if ok else 1, len(payload)))
    out.write(payload)
    out.flush()


def _read(request: dict[str, Any]) -> memoryview:
    """The rows of ``request["query"]`` as an Arrow IPC stream."""
    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa

    def table(sql: str, batch_rows: int = 0) -> pa.Table:
        with adbc_driver_manager.AdbcStatement(conn) as statement:
            statement.set_sql_query(sql)
            if batch_rows:
                statement.set_options(
                    **{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: str(batch_rows)}
                )
            stream, _ = statement.execute_query()
            return pa.RecordBatchReader.from_stream(stream).read_all()

    uri = f"file:{quote(request['path'])}?mode=ro"
    with adbc_driver_sqlite.connect(uri) as db, adbc_driver_manager.AdbcConnection(db) as conn:
        table(f"PRAGMA busy_timeout = {int(request['busy_ms'])}")
        conn.set_autocommit(False)  # one read transaction: the count is of the rows read
        rows = table(request["count"]).column(0)[0].as_py()
        result = table(request["query"], request["batch_rows"] or max(rows, 1))
        conn.rollback()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, result.schema) as writer:
        writer.write_table(result)
    return memoryview(sink.getvalue())


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the parent; stdin ends us
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever else writes to stdout lands on stderr, never among the replies
    requests = sys.stdin.buffer
    try:  # the low-level bindings: the DB-API module would import pandas (half a second)
        pa = importlib.import_module("pyarrow")
        importlib.import_module("adbc_driver_manager")
        importlib.import_module("adbc_driver_sqlite")
    except ImportError as exc:
        _reply(replies, False, f"{type(exc).__name__}: {exc}".encode())
        return
    _reply(replies, True, b"")
    while header := requests.read(4):
        request = json.loads(requests.read(struct.unpack("<I", header)[0]))
        try:
            payload = _read(request)
        except Exception as exc:  # the parent reads this window itself
            _reply(replies, False, f"{type(exc).__name__}: {exc}".encode())
        else:
            _reply(replies, True, payload)
            del payload
        pa.default_memory_pool().release_unused()  # idle at its start-up size between windows


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the parent went away mid-reply
        os._exit(0)
