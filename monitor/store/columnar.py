"""Read a large window of a SQLite store as Arrow columns, in a helper process.

The sqlite3 module makes a Python object of every value it fetches: most of the time of
reading a window of 100,000 rows. The ADBC SQLite driver [1]_ fills Arrow columns instead.
It carries its own copy of SQLite, and two copies of SQLite in one process break each
other's POSIX locks [2]_: when the driver's copy closed its (even read-only) connection, the
locks of the store's open connections went with it, the next process to open and close the
file took itself for the last one and deleted the WAL, and the store's next commit never
reached another process (``tests/test_window_columnar.py`` shows it). So the driver runs in a
helper process (:mod:`monitor.store.columnar_worker`), where SQLite's locks work as between
any two processes; it opens the file read-only, starts on first use (about 0.2 s; some 90 MB
resident while idle) and ends with this process.

:func:`read_table` returns ``None`` wherever this does not apply or fails, and the caller
reads the window itself: PostgreSQL, an in-memory or URI-memory database (no other
connection can reach it), a window of fewer than :data:`MIN_ROWS` rows (the helper's start
would cost more than it saves), the driver not installed, a driver error, a helper that
died or one that did not answer within :data:`REPLY_TIMEOUT` (ended; logged at debug).

References
----------
.. [1] Apache Arrow ADBC, SQLite driver. https://arrow.apache.org/adbc/current/driver/sqlite.html
.. [2] SQLite, "How To Corrupt An SQLite Database File", 2.2.1 "Multiple copies of SQLite linked
   into the same application". https://www.sqlite.org/howtocorrupt.html
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import logging
import os
import selectors
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, Table, func, select
from sqlalchemy.exc import CompileError

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("driftwatch.store.columnar")

DRIVER = "adbc_driver_sqlite"
WORKER = Path(__file__).with_name("columnar_worker.py")
#: Windows of fewer rows are read in this process (a read through the helper saves ~3 us a row).
MIN_ROWS = 20_000
#: Rows per Arrow batch in the helper; ``None``: the whole window in one batch (sized by a count).
BATCH_ROWS: int | None = None
#: Times the helper may die in a row before this process stops starting it.
MAX_DEATHS = 3
#: Longest wait for one reply (start-up or a window) before the helper is ended and the
#: window read with sqlite3: a stuck helper must not hold every check job of the daemon.
REPLY_TIMEOUT = 600.0


class ColumnarError(RuntimeError):
    """The helper process could not read the window (its message says why)."""


def read_table(
    conn: Connection, query: Select[Any], events: Table, window: ColumnElement[bool]
) -> pa.Table | None:
    """The rows of ``query`` as an Arrow table read by the helper process, or ``None``.

    ``events`` and ``window`` select the window's rows: they decide whether it is large
    enough and size the helper's batch. ``None`` (see the module's docstring): the caller
    reads the window with its own connection.
    """
    if conn.dialect.name != "sqlite":
        return None
    path = _database_file(conn)
    if not path:
        return None
    if MIN_ROWS > 0:  # the MIN_ROWS-th row, by the time index, without counting them all
        probe = select(events.c.ts).where(window).limit(1).offset(MIN_ROWS - 1)
        if conn.execute(probe).first() is None:
            return None
    try:
        request = {
            "path": path,
            "count": inline_sql(conn, select(func.count()).select_from(events).where(window)),
            "query": inline_sql(conn, query),
            "busy_ms": int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()),
            "batch_rows": BATCH_ROWS,
        }
        return _HELPER.read(request)
    except (ColumnarError, CompileError) as exc:  # CompileError: a value with no SQL literal form
        log.debug("Columnar read not used (%s); reading with sqlite3", exc)
        return None


def helper_pid() -> int | None:
    """The helper process's id while it runs (benchmarks count its CPU time)."""
    proc = _HELPER._proc
    return proc.pid if proc is not None and proc.poll() is None else None


def _database_file(conn: Connection) -> str:
    """The file of the connection's main database; empty for an in-memory one."""
    for _seq, name, file in conn.exec_driver_sql("PRAGMA database_list"):
        if name == "main":
            return str(file or "")
    return ""


def inline_sql(conn: Connection, query: Select[Any]) -> str:
    """``query`` with its values inline, rendered as the dialect renders them for binding (timestamps).

    Raises ``CompileError`` for a value with no SQL literal form.
    """
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _driver_installed() -> bool:
    try:
        return importlib.util.find_spec(DRIVER) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


class _Helper:
    """The helper process: started on first use, restarted after it died, one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._unavailable = ""
        self._deaths = 0

    def read(self, request: dict[str, Any]) -> pa.Table:
        import pyarrow as pa

        with self._lock:
            if self._unavailable:
                raise ColumnarError(self._unavailable)
            proc = self._proc or self._start()
            assert proc.stdin is not None and proc.stdout is not None
            body = json.dumps(request).encode()
            try:
                proc.stdin.write(struct.pack("<I", len(body)) + body)
                proc.stdin.flush()
                ok, payload = _receive(proc.stdout)
            except (OSError, EOFError) as exc:  # TimeoutError is an OSError: ended like a dead one
                self._stop()
                self._deaths += 1
                if self._deaths >= MAX_DEATHS:
                    self._unavailable = f"the helper process died {self._deaths} times in a row"
                raise ColumnarError(f"the helper process died ({exc})") from exc
            self._deaths = 0
        if not ok:
            raise ColumnarError(payload.decode(errors="replace"))
        return pa.ipc.open_stream(payload).read_all()

    def _start(self) -> subprocess.Popen[bytes]:
        if not _driver_installed():
            self._unavailable = f"{DRIVER} is not installed"
            raise ColumnarError(self._unavailable)
        if not sys.executable:  # an embedded interpreter
            self._unavailable = "no Python executable to start the helper process with"
            raise ColumnarError(self._unavailable)
        try:
            command = [sys.executable, "-P", str(WORKER)]
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            self._unavailable = f"the helper process did not start ({exc})"
            raise ColumnarError(self._unavailable) from exc
        assert proc.stdout is not None
        try:
            ok, payload = _receive(proc.stdout)
        except (OSError, EOFError) as exc:
            ok, payload = False, f"the helper process did not start ({exc})".encode()
        if not ok:
            _end(proc)
            self._unavailable = payload.decode(errors="replace")
            raise ColumnarError(self._unavailable)
        self._proc = proc
        return proc

    def _stop(self) -> None:
        if self._proc is not None:
            _end(self._proc)
            self._proc = None

    def close(self) -> None:
        """End the helper process (at exit)."""
        with self._lock:
            self._stop()

    def forget(self) -> None:
        """In a forked child: the helper and its pipes are the parent's."""
        self._lock = threading.Lock()
        if self._proc is not None:
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            self._proc = None


def _receive(stream: IO[bytes]) -> tuple[bool, bytes]:
    """One reply of the helper, read within :data:`REPLY_TIMEOUT` seconds."""
    deadline = time.monotonic() + REPLY_TIMEOUT
    status, size = struct.unpack("<BQ", _read_exactly(stream.fileno(), 9, deadline))
    return status == 0, bytes(_read_exactly(stream.fileno(), size, deadline))


def _read_exactly(fd: int, size: int, deadline: float) -> bytearray:
    """``size`` bytes of pipe ``fd``; ``EOFError`` if it closes first, ``TimeoutError`` past ``deadline``."""
    out = bytearray(size)
    view, got = memoryview(out), 0
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while got < size:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError(f"the helper process did not answer within {REPLY_TIMEOUT:g} s")
            n = os.readv(fd, [view[got : got + (1 << 20)]])
            if n == 0:
                raise EOFError("the helper process closed its output")
            got += n
    return out


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Close the helper's input (it exits on that) and reap it; kill it if it does not exit."""
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):  # a broken pipe's buffered bytes
                pipe.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_HELPER = _Helper()
atexit.register(lambda: _HELPER.close())
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _HELPER.forget())
