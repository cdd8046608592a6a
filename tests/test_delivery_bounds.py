"""Delivery stays within its bounds: an overall webhook deadline, Retry-After as seconds or a date."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from alerts.config import AlertsConfig
from alerts.receivers import build_receiver
from tests.fake_slack import Answer, FakeSlack
from tests.test_alerts_slack import NOW, TOKEN, _config, _notification


class _Hook(BaseHTTPRequestHandler):
    """Answers from ``mode``: ``drip`` sends the answer one byte every 0.1 s; ``busy`` says 503."""

    mode: ClassVar[str] = "drip"
    retry_after: ClassVar[str] = ""
    stop: ClassVar[threading.Event] = threading.Event()

    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.mode == "busy":
            self.send_response(503)
            self.send_header("Retry-After", self.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):  # every read arrives well within the per-read timeout
            if self.stop.wait(0.1):
                return
            try:
                self.wfile.write(b"x")
                self.wfile.flush()
            except OSError:
                return


@pytest.fixture
def hook() -> Iterator[Any]:
    _Hook.stop.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    config = AlertsConfig.model_validate(
        {
            "receivers": [
                {"name": "console", "type": "console"},
                {"name": "hook", "type": "webhook", "url_env": "U", "secret_env": "S", "timeout": "1s"},
            ]
        }
    )
    env = {"U": f"http://127.0.0.1:{server.server_address[1]}/", "S": "s"}
    yield build_receiver(config, "hook", environ=env, clock=lambda: NOW)
    _Hook.stop.set()
    server.shutdown()
    server.server_close()


def test_a_dripping_webhook_answer_is_cut_at_the_overall_deadline(hook: Any) -> None:
    """Reproducer: the timeout was per read, and a dripping answer held one delivery 81 s."""
    _Hook.mode = "drip"
    started = time.monotonic()
    result = hook.deliver(_notification())
    assert time.monotonic() - started < 3  # the 1 s deadline, not 100 s of dripping
    assert result.outcome == "retry" and "timed out" in result.detail


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("90", 90.0), (format_datetime(NOW + timedelta(seconds=150), usegmt=True), 150.0), ("soon", None)],
)
def test_webhook_retry_after_as_seconds_or_http_date(hook: Any, header: str, seconds: float | None) -> None:
    _Hook.mode, _Hook.retry_after = "busy", header
    result = hook.deliver(_notification())
    assert (result.outcome, result.retry_after) == ("retry", seconds)


def test_slack_retry_after_as_http_date(slack: FakeSlack) -> None:
    config = _config(base_url=slack.api_url)
    sender = build_receiver(config, "slack", environ={"SLACK_BOT_TOKEN": TOKEN}, clock=lambda: NOW)
    date = format_datetime(NOW + timedelta(seconds=600), usegmt=True)
    slack.script(
        "chat.postMessage", Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": date})
    )
    assert sender.deliver(_notification()).retry_after == 600.0


def test_a_webhook_delivery_ends_within_half_the_lease() -> None:
    spec = {"name": "hook", "type": "webhook", "url_env": "U", "secret_env": "S", "timeout": "10m"}
    config = AlertsConfig.model_validate(
        {"receivers": [spec], "route": {"receivers": ["hook"]}, "delivery": {"lease": "1m"}}
    )
    assert build_receiver(config, "hook", environ={})._deadline == 30.0  # type: ignore[attr-defined]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, channels={"#alerts"}) as fake:
        yield fake
