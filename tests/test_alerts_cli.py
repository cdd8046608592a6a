"""``driftwatch alerts ...`` and ``driftwatch silence ...`` end to end (SQLite store, fake Slack)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.cli.alerts_cmd import register
from tests.fake_slack import Answer, FakeSlack

TOKEN = "xoxb-cli-secret-42"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, channels={"#alerts"}) as fake:
        yield fake


@pytest.fixture
def config_path(tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DW_TEST_SLACK_TOKEN", TOKEN)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///dw.db"

[alerts.route]
receivers = ["console"]

[[alerts.receivers]]
name = "console"
type = "console"

[[alerts.receivers]]
name = "slack-oncall"
type = "slack"
channel = "#alerts"
token_env = "DW_TEST_SLACK_TOKEN"
base_url = "{slack.api_url}"
timeout = "2s"
""",
        encoding="utf-8",
    )
    return path


def _run(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["--config", str(config), *argv])
    return int(args.handler(args))


def test_alerts_test_says_whether_it_arrived(config_path: Path, slack: FakeSlack, capsys: Any) -> None:
    assert _run(config_path, "alerts", "test", "--receiver", "slack-oncall") == 0
    assert "slack-oncall: delivered" in capsys.readouterr().out
    assert "Test message" in slack.messages[0]["text"]
    slack.script("auth.test", Answer.error("token_revoked"))
    assert _run(config_path, "alerts", "test", "--receiver", "slack-oncall") == 1
    out = capsys.readouterr().out
    assert "NOT delivered — Slack error token_revoked" in out and TOKEN not in out
    assert _run(config_path, "alerts", "test") == 0
    assert "[TEST] driftwatch" in capsys.readouterr().out
    assert _run(config_path, "alerts", "test", "--receiver", "nope") == 1


def test_silence_add_list_expire_and_dispatch(config_path: Path, capsys: Any) -> None:
    assert (
        _run(
            config_path,
            "silence",
            "add",
            "--model",
            "fraud",
            "--check",
            "drift",
            "--for",
            "2d",
            "--reason",
            "retraining this week",
            "--author",
            "ana",
        )
        == 0
    )
    silence_id = capsys.readouterr().out.split()[1]
    assert _run(config_path, "silence", "list") == 0
    listed = capsys.readouterr().out
    assert (
        silence_id in listed and "model=fraud check=drift" in listed and "ana: retraining this week" in listed
    )
    assert _run(config_path, "silence", "expire", silence_id) == 0
    assert _run(config_path, "silence", "expire", silence_id) == 1
    capsys.readouterr()
    assert _run(config_path, "silence", "list") == 0
    assert capsys.readouterr().out.strip() == "No silences"
    assert _run(config_path, "silence", "add", "--model", "m", "--for", "soon", "--reason", "x") == 2
    assert _run(config_path, "alerts", "dispatch") == 0
    assert "0 message(s)" in capsys.readouterr().out
    assert _run(config_path, "alerts", "retry") == 0
