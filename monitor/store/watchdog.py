"""A client-side deadline on every PostgreSQL statement: a server that stopped answering is cut off.

``statement_timeout`` makes the *server* cancel a long statement, and TCP keepalives drop a peer
whose machine is gone; neither helps when something still acknowledges the packets but never
answers (a hung proxy, a frozen server process). The watchdog does: each statement, and the
pool's pre-ping, is registered with a deadline; one thread shuts down the socket of any
connection past its deadline, so the waiting call fails at once with an ``OperationalError``
(a store error: the job retries later) instead of waiting forever.

>>> dog = Watchdog(5.0)
>>> dog.limit
5.0
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger("driftwatch.store")

#: How often the watchdog looks at the deadlines (seconds).
TICK = 0.25

_installed: weakref.WeakKeyDictionary[Engine, Watchdog] = weakref.WeakKeyDictionary()


class Watchdog:
    """Shuts down connections whose registered call has run longer than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._armed: dict[int, tuple[float, int]] = {}  # token -> (deadline, socket fd): calls in flight
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._tokens = itertools.count(1)

    def arm(self, fd: int) -> int:
        """Start the clock for a call on the connection with socket ``fd``; a token for :meth:`disarm`."""
        with self._guard:
            token = next(self._tokens)
            self._armed[token] = (time.monotonic() + self.limit, fd)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="driftwatch-watchdog", daemon=True)
                self._thread.start()
        return token

    def disarm(self, token: int) -> None:
        with self._guard:
            self._armed.pop(token, None)

    def _run(self) -> None:
        while True:
            time.sleep(TICK)
            now = time.monotonic()
            with self._guard:
                late = [token for token, (deadline, _) in self._armed.items() if deadline <= now]
                fds = [self._armed.pop(token)[1] for token in late]
                idle = not self._armed
                if idle:  # nothing in flight: stop; the next arm() starts a thread again
                    self._thread = None
            for fd in fds:
                log.warning("The store did not answer within %.0fs; cutting its connection", self.limit)
                _shut(fd)
            if idle:
                return


def _shut(fd: int) -> None:
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return  # already closed
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


def install(engine: Engine, limit: float) -> Watchdog:
    """Put every statement and pre-ping of ``engine`` (PostgreSQL) under a ``limit``-second deadline."""
    dog = Watchdog(limit)
    _installed[engine] = dog

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: bool) -> None:
        conn.info["dw_watchdog"] = dog.arm(conn.connection.dbapi_connection.fileno())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: bool) -> None:
        dog.disarm(conn.info.pop("dw_watchdog", 0))

    @event.listens_for(engine, "handle_error")
    def _error(context: Any) -> None:
        if context.connection is not None:
            dog.disarm(context.connection.info.pop("dw_watchdog", 0))

    ping: Callable[[Any], bool] = engine.dialect.do_ping

    def guarded_ping(dbapi_connection: Any) -> bool:
        token = dog.arm(dbapi_connection.fileno())
        try:
            return ping(dbapi_connection)
        finally:
            dog.disarm(token)

    engine.dialect.do_ping = guarded_ping  # type: ignore[method-assign]
    return dog


def install_like(source: Engine, engine: Engine) -> None:
    """Give ``engine`` the watchdog limit of ``source`` (if it has one)."""
    dog = _installed.get(source)
    if dog is not None:
        install(engine, dog.limit)
