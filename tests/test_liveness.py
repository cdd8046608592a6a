"""Liveness: every wait on the store is bounded, a stalled daemon says so, and it recovers.

A "black hole" is a local socket that accepts connections and never answers: what a store
behind a dead proxy, a paused VM or a full accept queue looks like to the daemon.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from alerts.config import AlertsConfig
from monitor.alerting.delivery import Dispatcher
from monitor.service.daemon import Daemon
from monitor.service.jobs import MAX_RETRY_DELAY
from monitor.service.readiness import PROBE_TIMEOUT
from monitor.store import open_store
from monitor.store.errors import StoreUnavailable
from monitor.store.schema import metadata
from tests.conftest import LIGHT, Clock, http_request, make_config, model_dict


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections and never sends a byte."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    listener.close()


def in_thread(fn, timeout: float):  # type: ignore[no-untyped-def]
    """Run ``fn`` in a thread; ``(finished, result or exception)`` after at most ``timeout`` seconds."""
    out: list[object] = []

    def target() -> None:
        try:
            out.append(fn())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return (not thread.is_alive()), (out[0] if out else None)


def test_black_hole_store_neither_freezes_start_up_nor_readiness(black_hole: int, tmp_path: Path) -> None:
    config = make_config(
        f"postgresql://dw@127.0.0.1:{black_hole}/dw",
        tmp_path,
        [model_dict(**LIGHT)],
        store={"url": "sqlite:///unused.db", "connect_timeout": "2s"},
    )
    daemon = Daemon(config, serve=False)
    started = time.monotonic()
    finished, error = in_thread(lambda: daemon.start(paused=True), timeout=15)
    try:
        assert finished, "start() hangs on a store that never answers"
        assert error is None
        assert time.monotonic() - started < 10
        assert daemon.scheduler is not None and daemon.scheduler.running
        started = time.monotonic()
        finished, answer = in_thread(daemon.readiness, timeout=15)
        assert finished, "readiness hangs on a store that never answers"
        assert time.monotonic() - started < PROBE_TIMEOUT + 1  # a probe answers while the store does not
        ready, reasons = answer  # type: ignore[misc]
        assert not ready and reasons[0].startswith("store unreachable")
    finally:
        daemon.shutdown(timedelta(seconds=1))


def test_readiness_does_not_wait_for_a_thread_that_is_connecting(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = Daemon(make_config(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path), clock=clock, serve=False)
    connecting, release = threading.Event(), threading.Event()

    def slow_open(config):  # type: ignore[no-untyped-def]
        connecting.set()
        release.wait(30)
        return open_store(config)

    monkeypatch.setattr("monitor.service.connection.open_store", slow_open)
    job = threading.Thread(target=daemon.store, daemon=True)
    job.start()
    assert connecting.wait(10)
    try:
        finished, answer = in_thread(daemon.readiness, timeout=3)
        assert finished, "readiness waits for a lock held while another thread connects"
        ready, reasons = answer  # type: ignore[misc]
        assert not ready and "being opened by another thread" in reasons[0]
        with pytest.raises(StoreUnavailable):
            daemon.store()
    finally:
        release.set()
        job.join(10)
    assert daemon.readiness() == (True, [])
    daemon.shutdown(timedelta(seconds=1))


def test_healthz_fails_when_no_job_finished_for_the_liveness_timeout(tmp_path: Path, clock: Clock) -> None:
    config = make_config(
        f"sqlite:///{tmp_path / 'dw.db'}",
        tmp_path,
        server={"port": 0},
        daemon={"liveness_timeout": "5m", "dispatch_interval": "30s"},
    )
    daemon = Daemon(config, clock=clock)
    daemon.start(paused=True)
    try:
        assert http_request(daemon.server, "GET", "/healthz")[0] == 200  # type: ignore[arg-type]
        clock.advance(minutes=6)  # every job hangs: nothing finishes
        status, _, body = http_request(daemon.server, "GET", "/healthz")  # type: ignore[arg-type]
        assert status == 503 and b"no scheduled job has finished for 360s (limit 300s)" in body
        assert daemon.dispatch_job() is not None  # a job finishes: alive again
        assert http_request(daemon.server, "GET", "/healthz")[0] == 200  # type: ignore[arg-type]
    finally:
        daemon.shutdown(timedelta(seconds=1))


def test_liveness_timeout_must_exceed_the_dispatch_interval(tmp_path: Path) -> None:
    from monitor.config import ConfigError

    with pytest.raises(ConfigError, match=r"liveness_timeout .* must be longer than dispatch_interval"):
        make_config("sqlite:///x.db", tmp_path, daemon={"liveness_timeout": "30s"})


def test_store_retry_backoff_is_capped_after_many_failures(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = Daemon(make_config(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path), clock=clock, serve=False)
    daemon.jobs.retries["check:fraud"] = 10_000  # weeks of outage
    daemon.jobs.retry_later("check:fraud", StoreUnavailable("down"))  # no OverflowError
    assert daemon.jobs.retries["check:fraud"] == 10_001
    assert f"retrying in {MAX_RETRY_DELAY.total_seconds():.0f}s (attempt 10001)" in caplog.text
    dispatcher = Dispatcher(daemon.store().engine, AlertsConfig())
    assert dispatcher._backoff(10_000, None) <= AlertsConfig().delivery.max_backoff
    daemon.shutdown(timedelta(seconds=1))


def test_database_dropped_and_recreated_empty_is_migrated_again(
    store_url: str, tmp_path: Path, clock: Clock
) -> None:
    daemon = Daemon(make_config(store_url, tmp_path, [model_dict(**LIGHT)]), clock=clock, serve=False)
    engine = daemon.store().engine
    assert daemon.dispatch_job() is not None
    store_tables = daemon.store()._md
    with engine.begin() as conn:  # the database is dropped and recreated, empty
        store_tables.drop_all(conn)
        metadata.drop_all(conn)
    finished, answer = in_thread(daemon.readiness, timeout=10)
    assert finished and isinstance(answer, tuple), f"readiness failed: {answer!r}"
    daemon.dispatch_job()  # may fail once: it finds the tables gone
    stats = daemon.dispatch_job()
    assert stats is not None, "the store was not migrated again"
    assert daemon.readiness() == (True, [])
    with daemon.store().engine.connect() as conn:
        assert "dw_runs" in inspect(conn).get_table_names()
    daemon.shutdown(timedelta(seconds=1))


def test_sqlite_locked_by_another_process_fails_after_the_busy_timeout_with_a_clear_error(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    path = tmp_path / "dw.db"
    config = make_config(f"sqlite:///{path}", tmp_path, store={"url": "sqlite:///x", "busy_timeout": "0.3s"})
    daemon = Daemon(config, clock=clock, serve=False)
    daemon.store()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process writes and does not let go
    try:
        started = time.monotonic()
        assert daemon.retention_job() is None  # its DELETE waits for the lock, then gives up
        assert time.monotonic() - started < 3
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "stayed locked by another process for longer than store.busy_timeout" in caplog.text
    assert daemon.retention_job() is not None
    daemon.shutdown(timedelta(seconds=1))


class FreezingProxy:
    """A TCP proxy to PostgreSQL that can go silent: it keeps acknowledging, it stops forwarding."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.frozen = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
                if not data:
                    return
                if self.frozen.is_set():
                    return  # swallowed: the connection stays open and silent
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._listener.close()


@pytest.mark.postgres
def test_a_store_that_stops_answering_mid_query_is_cut_off(pg_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from monitor.store.engine import make_engine

    real = make_url(pg_url)
    proxy = FreezingProxy((real.host or "127.0.0.1", real.port or 5432))
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    engine = make_engine(url, statement_timeout=timedelta(seconds=1), connect_timeout=timedelta(seconds=2))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
            proxy.frozen.set()  # the server's answers stop arriving; the server cannot cancel anything
            started = time.monotonic()
            finished, error = in_thread(lambda: conn.execute(text("SELECT 1")), timeout=20)
        assert finished, "a statement waits forever on a store that stopped answering"
        assert isinstance(error, OperationalError)
        assert 2.5 < time.monotonic() - started < 6  # statement_timeout + connect_timeout
        proxy.frozen.clear()
        with engine.connect() as conn:  # the cut connection was discarded: the store works again
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        proxy.close()
