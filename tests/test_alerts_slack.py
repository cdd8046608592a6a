"""Slack and webhook receivers: the real slack-sdk client against the fake Slack on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from alerts.config import AlertsConfig
from alerts.notification import AlertView, Notification, RunInfo
from alerts.receivers import build_receiver
from alerts.webhook import verify_signature
from tests.fake_slack import Answer, FakeSlack

TOKEN = "xoxb-PLANTED-SECRET-0123456789"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _config(**slack: Any) -> AlertsConfig:
    spec = {"name": "slack", "type": "slack", "channel": "#alerts", "token_env": "SLACK_BOT_TOKEN", **slack}
    return AlertsConfig.model_validate({"receivers": [{"name": "console", "type": "console"}, spec]})


def _notification() -> Notification:
    alert = AlertView(
        "fp1",
        {"model": "fraud", "check": "drift", "subject": "feature:amount"},
        "alert",
        "firing",
        NOW.isoformat(),
        annotations={"message": "amount drifted", "statistic": 0.3, "threshold": 0.2},
    )
    return Notification(
        "model=fraud",
        "slack",
        "fraud",
        "first_notification",
        (alert,),
        RunInfo(1, None, None, report_url="http://r/1.html"),
    )


@pytest.fixture
def slack():  # type: ignore[no-untyped-def]
    with FakeSlack(token=TOKEN, channels={"#alerts"}) as fake:
        yield fake


def _sender(slack: FakeSlack, sleeps: list[float] | None = None, **spec: Any):  # type: ignore[no-untyped-def]
    config = _config(base_url=slack.api_url, **spec)
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_WEBHOOK_URL": slack.webhook_url}
    return build_receiver(config, "slack", environ=env, sleep=(sleeps if sleeps is not None else []).append)


def test_bot_token_post_arrives_with_blocks_and_text(slack: FakeSlack) -> None:
    result = _sender(slack).deliver(_notification())
    assert result.delivered
    (message,) = slack.messages
    assert message["channel"] == "#alerts" and "amount drifted" in message["text"]
    assert message["blocks"][0]["type"] == "header"
    assert any(
        b["type"] == "actions" and b["elements"][0]["url"] == "http://r/1.html" for b in message["blocks"]
    )


def test_delivered_exactly_once_after_server_errors_and_rate_limit(slack: FakeSlack) -> None:
    slack.script("chat.postMessage", Answer.server_error(500), Answer.rate_limited(retry_after=1))
    sleeps: list[float] = []
    result = _sender(slack, sleeps).deliver(_notification())
    assert result.delivered
    assert len(slack.messages) == 1 and slack.calls("chat.postMessage") == 3
    assert sleeps[1] == 1.0  # Retry-After honoured (through the injected sleep, not a real one)


def test_long_retry_after_is_handed_to_the_outbox(slack: FakeSlack) -> None:
    slack.script("chat.postMessage", Answer.rate_limited(retry_after=120))
    sleeps: list[float] = []
    result = _sender(slack, sleeps).deliver(_notification())
    assert (result.outcome, result.retry_after, sleeps) == ("retry", 120.0, [])
    assert slack.messages == []


def test_persistent_server_error_becomes_retry(slack: FakeSlack) -> None:
    slack.script("chat.postMessage", *[Answer.server_error(503)] * 3)
    result = _sender(slack).deliver(_notification())
    assert result.outcome == "retry" and "503" in result.detail and slack.calls("chat.postMessage") == 3


@pytest.mark.parametrize(
    "error",
    [
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "channel_not_found",
        "not_in_channel",
    ],
)
def test_permanent_errors_break_the_receiver_without_retrying(slack: FakeSlack, error: str) -> None:
    slack.script("chat.postMessage", Answer.error(error))
    result = _sender(slack).deliver(_notification())
    assert (result.outcome, result.detail) == ("broken", f"Slack error {error}")
    assert slack.calls("chat.postMessage") == 1


def test_real_token_check_and_unknown_channel(slack: FakeSlack) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-wrong"}
    wrong = build_receiver(_config(base_url=slack.api_url), "slack", environ=env)
    assert wrong.deliver(_notification()).detail == "Slack error invalid_auth"
    assert wrong.auth_test().outcome == "broken"  # type: ignore[attr-defined]
    assert _sender(slack).auth_test().delivered  # type: ignore[attr-defined]
    assert (
        _sender(slack, channel="#nowhere").deliver(_notification()).detail == "Slack error channel_not_found"
    )
    missing = build_receiver(_config(base_url=slack.api_url), "slack", environ={})
    assert missing.deliver(_notification()).detail == "environment variable SLACK_BOT_TOKEN is not set"


def test_timeout_is_not_retried_in_process(slack: FakeSlack) -> None:
    slack.script("chat.postMessage", Answer.slow(1.6))
    result = _sender(slack, timeout="1s").deliver(_notification())
    assert result.outcome == "retry" and "timed out" in result.detail
    assert slack.calls("chat.postMessage") == 1


def test_incoming_webhook(slack: FakeSlack) -> None:
    sender = _sender(slack, token_env=None, webhook_url_env="SLACK_WEBHOOK_URL", channel=None)
    assert sender.deliver(_notification()).delivered
    assert "amount drifted" in slack.messages[0]["text"]
    slack.script("webhook", Answer(404, "no_service"))
    assert sender.deliver(_notification()).outcome == "broken"
    slack.script("webhook", Answer(429, "rate_limited", {"Retry-After": "60"}))
    assert sender.deliver(_notification()).retry_after == 60.0


def test_no_secret_in_logs_or_results(slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("driftwatch.alerts.slack.sdk.slack").setLevel(logging.DEBUG)
    slack.script("chat.postMessage", Answer.error("invalid_auth"))
    results = [_sender(slack).deliver(_notification())]
    hook = _sender(slack, token_env=None, webhook_url_env="SLACK_WEBHOOK_URL", channel=None)
    results.append(hook.deliver(_notification()))
    slack.script("webhook", Answer(500, "oops"))
    results.append(hook.deliver(_notification()))
    text = caplog.text + repr(results)
    assert "Sending a request" in caplog.text  # the SDK's debug logging did run, redacted
    assert TOKEN not in text and slack.webhook_url not in text and "fakehook" not in text


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    status = 200

    def log_message(self, *args: Any) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_generic_webhook_is_signed() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        config = AlertsConfig.model_validate(
            {
                "receivers": [
                    {"name": "console", "type": "console"},
                    {"name": "hook", "type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
                ]
            }
        )
        env = {
            "HOOK_URL": f"http://127.0.0.1:{server.server_address[1]}/alerts",
            "HOOK_SECRET": "hook-secret",
        }
        sender = build_receiver(config, "hook", environ=env, clock=lambda: NOW)
        assert sender.deliver(_notification()).delivered
        headers, body = _Hook.received[-1]
        assert headers["X-Driftwatch-Timestamp"] == str(int(NOW.timestamp()))
        assert verify_signature(
            b"hook-secret",
            headers["X-Driftwatch-Timestamp"],
            body,
            headers["X-Driftwatch-Signature"],
            now=NOW.timestamp(),
        )
        assert json.loads(body)["summary"].startswith("[ALERT] fraud")
        _Hook.status = 401
        assert sender.deliver(_notification()).outcome == "broken"
        _Hook.status = 503
        assert sender.deliver(_notification()).outcome == "retry"
    finally:
        _Hook.status = 200
        server.shutdown()
        server.server_close()
