"""Outages of what the daemon depends on: PostgreSQL, Slack, a webhook receiver.

Time is simulated (an injected clock) so a 60 s database outage or a 10 minute Slack outage
takes a few real seconds; retries are real (the daemon's scheduler, the dispatcher's backoff).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from alerts.config import AlertsConfig
from monitor.alerting.delivery import Dispatcher
from monitor.config import load_config
from monitor.service.daemon import Daemon
from monitor.store import open_store
from monitor.store.alerts import alert_outbox
from monitor.store.engine import make_engine
from monitor.store.schema import metadata, runs
from tests.conftest import LATENCY_ONLY_TABLES, Clock, http_request
from tests.fake_slack import Answer, FakeSlack
from tests.soak.harness import DAY, SLACK_TOKEN, START, queue_notifications, received_marks, traffic


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 whose link can be cut (open connections reset, new ones closed)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.up = True
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._open |= {client, server}
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        self.up = False
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            self._close(sock)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(step)


def readyz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    status, _, body = http_request(daemon.server, "GET", "/readyz")  # type: ignore[arg-type]
    return status, json.loads(body or b"{}")


def write_day(folder: Path, day: int) -> None:
    traffic(day, 150).to_csv(folder / f"day-{day}.csv", index=False)


@pytest.mark.postgres
def test_postgres_outage_daemon_stays_up_reports_unready_then_catches_up(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxied = make_url(pg_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    monkeypatch.setenv("DW_KILL_SLACK_TOKEN", SLACK_TOKEN)
    with FakeSlack(token=SLACK_TOKEN, channels={"#alerts"}) as slack:
        config_path = tmp_path / "config.toml"
        config_path.write_text(
            f"""
[store]
url = "{proxied}"
[reports]
dir = "{tmp_path / "reports"}"
[server]
port = 0
[daemon]
store_retry_interval = "1s"
dispatch_interval = "1s"
[alerts.route]
receivers = ["slack"]
group_by = ["model", "check"]
group_interval = "0s"
[[alerts.receivers]]
name = "slack"
type = "slack"
channel = "#alerts"
token_env = "DW_KILL_SLACK_TOKEN"
base_url = "{slack.api_url}"
[[models]]
name = "fraud"
window = "1d"
{LATENCY_ONLY_TABLES}
[[models.sources]]
path = "{incoming / "*.csv"}"
interval = "1s"
""",
            encoding="utf-8",
        )
        config = load_config(config_path)
        for day in range(2):
            write_day(incoming, day)
        clock = Clock(START + 3 * DAY - timedelta(seconds=30))
        daemon = Daemon(config, config_path=config_path, clock=clock)
        direct = open_store(config, url=pg_url)
        done = select(func.count()).select_from(runs).where(runs.c.state == "done")

        def count(query) -> int:  # type: ignore[no-untyped-def]
            with direct.engine.connect() as conn:
                return int(conn.execute(query).scalar_one())

        events = select(func.count()).select_from(direct.events("fraud"))
        try:
            daemon.start()
            wait_for(lambda: count(events) == 300 and count(done) == 2)
            wait_for(lambda: readyz(daemon)[0] == 200)

            proxy.cut()  # 60 s of simulated outage, across the end of a window
            write_day(incoming, 2)
            for _ in range(6):
                clock.advance(seconds=10)
                time.sleep(0.3)
            daemon.check_job("fraud")  # the cron firing during the outage: fails, retries later
            time.sleep(1.5)
            status, body = readyz(daemon)
            assert status == 503 and any("store unreachable" in r for r in body["reasons"])
            assert daemon.scheduler is not None and daemon.scheduler.running
            assert daemon.jobs.retries, "no job is retrying the store"

            proxy.restore()
            wait_for(lambda: count(events) == 450 and count(done) == 3, timeout=30)
            wait_for(lambda: readyz(daemon)[0] == 200, timeout=20)
        finally:
            daemon.shutdown(timedelta(seconds=5))
            with direct.engine.connect() as conn:
                rows = conn.execute(select(runs.c.window_end, runs.c.state, runs.c.attempts)).all()
                pending = conn.execute(
                    select(func.count()).select_from(alert_outbox).where(alert_outbox.c.status != "delivered")
                ).scalar_one()
            direct.dispose()
            proxy.close()
    assert sorted(r.window_end.replace(tzinfo=UTC) for r in rows) == [START + d * DAY for d in (1, 2, 3)]
    assert {r.state for r in rows} == {"done"}
    assert pending == 0 and len(slack.messages) >= 1


@pytest.fixture
def outbox_engine(store_url: str) -> Iterator[Any]:
    engine = make_engine(store_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def slack_alerts(slack: FakeSlack) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "route": {"receivers": ["slack"]},
            "receivers": [
                {
                    "name": "slack",
                    "type": "slack",
                    "channel": "#alerts",
                    "token_env": "DW_SLACK",
                    "base_url": slack.api_url,
                    "timeout": "2s",
                }
            ],
            "delivery": {"initial_backoff": "10s", "max_backoff": "2m"},
        }
    )


@pytest.mark.postgres
def test_slack_down_ten_minutes_with_429s_then_everything_delivered_once(outbox_engine: Any) -> None:
    clock = Clock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    with FakeSlack(token=SLACK_TOKEN, channels={"#alerts"}) as slack:
        dispatcher = Dispatcher(
            outbox_engine,
            slack_alerts(slack),
            clock=clock,
            environ={"DW_SLACK": SLACK_TOKEN},
            sleep=lambda _: None,
        )
        queue_notifications(outbox_engine, 20, now=clock.now)
        outage_end = clock.now + timedelta(minutes=10)
        attempts_during_outage = 0
        while clock.now < outage_end:
            before = slack.calls("chat.postMessage")
            slack.script(
                "chat.postMessage",
                *[Answer.rate_limited(retry_after=45), Answer.server_error(503)] * 40,
            )
            with outbox_engine.connect() as conn:
                tried = dict(conn.execute(select(alert_outbox.c.id, alert_outbox.c.attempts)).all())
            stats = dispatcher.dispatch_once()
            assert stats.delivered == 0
            attempts_during_outage += slack.calls("chat.postMessage") - before
            with outbox_engine.connect() as conn:
                rows = conn.execute(
                    select(alert_outbox.c.id, alert_outbox.c.attempts, alert_outbox.c.next_attempt_at)
                )
                waits = [
                    r.next_attempt_at - clock.now.replace(tzinfo=None)
                    for r in rows
                    if r.attempts > tried[r.id]
                ]
            # every message just refused waits out Retry-After (45 s), whatever its backoff says
            assert all(wait >= timedelta(seconds=45) for wait in waits), waits
            with slack._lock:
                slack._scripts.clear()
            clock.advance(seconds=15)
        with outbox_engine.connect() as conn:
            rows = conn.execute(select(alert_outbox.c.status, alert_outbox.c.next_attempt_at)).all()
        assert {r.status for r in rows} == {"pending"}
        assert not slack.messages
        for _ in range(40):
            dispatcher.dispatch_once()
            with outbox_engine.connect() as conn:
                left = conn.execute(
                    select(func.count()).select_from(alert_outbox).where(alert_outbox.c.status != "delivered")
                ).scalar_one()
            if not left:
                break
            clock.advance(seconds=15)
        assert left == 0
        marks = received_marks(slack)
    assert marks == {i: 1 for i in range(20)}  # every notification once, none twice
    # Retry-After (45 s) and backoff bound the attempts: at most one per 45 s per message, 20 messages
    assert 20 <= attempts_during_outage <= 20 * (600 // 45 + 1) * 3


class SlowWebhook:
    """A webhook receiver whose first ``slow`` requests answer only once ``release`` is set
    (long past the client's timeout, however loaded the machine); the others at once."""

    def __init__(self, *, slow: int) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.slow = slow
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    late = hook.slow > 0
                    hook.slow -= 1
                if late:
                    hook.release.wait(30)
                with lock:
                    hook.bodies.append(body)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

        lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.mark.postgres
def test_webhook_timeouts_are_retried_then_delivered(outbox_engine: Any) -> None:
    clock = Clock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    hook = SlowWebhook(slow=2)
    config = AlertsConfig.model_validate(
        {
            "route": {"receivers": ["hook"]},
            "receivers": [
                {"name": "hook", "type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"}
            ],
            "delivery": {"initial_backoff": "10s"},
        }
    )
    # the timed-out requests never answer in time; the third must answer within the timeout,
    # so the timeout is generous for a loaded CI machine
    spec = config.receivers[0].model_copy(update={"timeout": timedelta(seconds=2)})
    config = config.model_copy(update={"receivers": [spec]})
    environ = {"HOOK_URL": hook.url, "HOOK_SECRET": "hook-secret"}
    dispatcher = Dispatcher(outbox_engine, config, clock=clock, environ=environ, sleep=lambda _: None)
    queue_notifications(outbox_engine, 1, now=clock.now, receiver="hook")
    try:
        first = dispatcher.dispatch_once()
        assert (first.delivered, first.retried) == (0, 1)
        clock.advance(seconds=4)
        assert dispatcher.dispatch_once().claimed == 0  # backing off
        clock.advance(seconds=20)
        second = dispatcher.dispatch_once()
        assert (second.delivered, second.retried) == (0, 1)
        clock.advance(minutes=1)
        third = dispatcher.dispatch_once()
        assert third.delivered == 1
        hook.release.set()  # the receiver now accepts the timed-out requests too
        deadline = time.monotonic() + 30
        while len(hook.bodies) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        hook.close()
    with outbox_engine.connect() as conn:
        row = conn.execute(select(alert_outbox.c.status, alert_outbox.c.attempts)).one()
    assert (row.status, row.attempts) == ("delivered", 3)
    # The receiver accepted the timed-out requests after the client gave up: the documented
    # duplicate window of a timeout (at most one duplicate per timed-out attempt).
    assert 1 <= len(hook.bodies) <= 3
