"""The HTTP servers bound every connection: read timeout, a connection cap, auth before rate limit."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.reports.server import make_report_server
from monitor.service.daemon import Daemon
from monitor.service.server import BadRequest, DaemonServer, RateLimiter, parse_log_body, start_server
from tests.conftest import LIGHT, TOKEN, Clock, http_request, make_config, model_dict, post_log


@pytest.fixture
def server(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaemonServer]:
    monkeypatch.setenv("DW_TEST_INGEST_TOKEN", TOKEN)
    config = make_config(
        f"sqlite:///{tmp_path / 'dw.db'}",
        tmp_path,
        [model_dict(**LIGHT)],
        server={
            "port": 0,
            "ingest_token_env": "DW_TEST_INGEST_TOKEN",
            "request_timeout": "0.5s",
            "max_connections": 3,
        },
    )
    daemon = Daemon(config, clock=clock, serve=False)
    server = start_server(daemon, limiter=RateLimiter(rate=0.01, burst=2))
    daemon.server = server
    yield server
    daemon.shutdown(timedelta(seconds=1))


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False


def test_a_half_open_connection_is_closed_after_the_request_timeout(server: DaemonServer) -> None:
    """Reproducer: 300 half-open connections held a thread each for 30-60 s."""
    with socket.create_connection(server.server_address[:2]) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
        started = time.monotonic()
        assert _closed_within(sock, 5)
        assert time.monotonic() - started < 3


def test_connections_past_the_cap_get_503_at_once(server: DaemonServer) -> None:
    idle = [socket.create_connection(server.server_address[:2]) for _ in range(3)]
    try:
        time.sleep(0.05)  # let the server accept the three
        status, headers, _ = http_request(server, "GET", "/healthz")
        assert status == 503 and headers["Retry-After"] == "1"
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 3
    while http_request(server, "GET", "/healthz")[0] != 200:  # slots come back as they close
        assert time.monotonic() < deadline


def test_report_server_is_bounded_too(tmp_path: Path) -> None:
    report_server = make_report_server(tmp_path, port=0, request_timeout=0.5, max_connections=2)
    threading.Thread(target=report_server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with socket.create_connection(report_server.server_address[:2]) as sock:
            assert _closed_within(sock, 5)
    finally:
        report_server.shutdown()
        report_server.server_close()


def test_unauthenticated_clients_do_not_use_up_the_rate_limit(server: DaemonServer) -> None:
    """Reproducer: the rate limit was charged before the token check, so strangers blocked the real client."""
    payload = {
        "model": "fraud",
        "kind": "outcomes",
        "rows": [{"id": "x", "timestamp": "2026-10-01", "label": 1}],
    }
    assert [post_log(server, payload, token="wrong")[0] for _ in range(4)] == [401, 401, 429, 429]
    assert post_log(server, payload)[0] == 200  # same address, the real token: still allowed


def test_deeply_nested_json_is_a_400_with_a_reason(server: DaemonServer) -> None:
    body = b'{"model": "fraud", "kind": "outcomes", "rows": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_log_body(body)
    status, _, answer = http_request(server, "POST", "/v1/log", body, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 400 and "nested too deeply" in json.loads(answer)["error"]
