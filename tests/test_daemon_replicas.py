"""Two real `driftwatch run` processes on one PostgreSQL split the work: each window checked once,
each notification delivered once (Slack is the fake Web API on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.config import load_config
from monitor.ingest import ingest_frame
from monitor.store import open_store
from monitor.store.alerts import alert_outbox
from monitor.store.schema import runs
from monitor.windows import latest_window_end, window_ends
from tests.conftest import LATENCY_ONLY_TABLES, START, traffic
from tests.fake_slack import FakeSlack

pytestmark = pytest.mark.postgres

SLACK_TOKEN = "xoxb-replicas"
DAYS = 4


def write_config(tmp_path: Path, url: str, slack: FakeSlack) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "{url}"
[reports]
dir = "{tmp_path / "reports"}"
[server]
port = 0
[daemon]
dispatch_interval = "1s"
store_retry_interval = "1s"
shutdown_grace = "20s"
log_format = "json"
log_level = "DEBUG"

[alerts.route]
receivers = ["slack"]
group_by = ["model", "check"]
group_interval = "0s"
[[alerts.receivers]]
name = "slack"
type = "slack"
channel = "#alerts"
token_env = "DW_TEST_SLACK_TOKEN"
base_url = "{slack.api_url}"

[[models]]
name = "fraud"
window = "1d"
schedule = "0 0 1 1 *"
{LATENCY_ONLY_TABLES}
[[models.sources]]
path = "{tmp_path / "incoming" / "*.csv"}"
interval = "1h"
""",
        encoding="utf-8",
    )
    return path


def test_two_daemons_check_each_window_once_and_send_each_alert_once(pg_url: str, tmp_path: Path) -> None:
    with FakeSlack(token=SLACK_TOKEN, channels={"#alerts"}) as slack:
        path = write_config(tmp_path, pg_url, slack)
        config = load_config(path)
        model = config.models[0]
        now = datetime.now(UTC)
        first_day = latest_window_end(now, timedelta(days=1)) - timedelta(days=DAYS)
        store = open_store(config)
        for day in range(DAYS):
            frame = traffic(day, 150, prefix="r").drop(columns=["label"])
            frame["timestamp"] = frame["timestamp"] - START + first_day
            ingest_frame(store, model, "predictions", frame, source="test", now=now)
        (tmp_path / "incoming").mkdir()
        expected = window_ends(first_day, now, timedelta(days=1))
        assert len(expected) == DAYS

        env = {**os.environ, "DW_TEST_SLACK_TOKEN": SLACK_TOKEN}
        command = [sys.executable, "-m", "monitor", "--config", str(path), "run"]
        daemons = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 90  # generous: CI may share the cores
            while time.monotonic() < deadline:
                with store.engine.connect() as conn:
                    done = conn.execute(
                        select(func.count()).select_from(runs).where(runs.c.state == "done")
                    ).scalar_one()
                    outbox = dict(
                        conn.execute(
                            select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
                        ).all()
                    )
                if done == DAYS and outbox and set(outbox) == {"delivered"}:
                    break
                assert all(d.poll() is None for d in daemons), "a daemon exited early"
                time.sleep(0.3)
            for daemon in daemons:
                daemon.send_signal(signal.SIGTERM)
            outputs = [daemon.communicate(timeout=30) for daemon in daemons]
        finally:
            for daemon in daemons:
                if daemon.poll() is None:
                    daemon.kill()
        assert [d.returncode for d in daemons] == [0, 0], [err[-2000:] for _, err in outputs]

        with store.engine.connect() as conn:
            rows = conn.execute(select(runs.c.window_end, runs.c.state, runs.c.attempts, runs.c.owner)).all()
            delivered = conn.execute(
                select(func.count(func.distinct(alert_outbox.c.delivered_with))).where(
                    alert_outbox.c.status == "delivered"
                )
            ).scalar_one()
            statuses = dict(
                conn.execute(
                    select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
                ).all()
            )
        store.dispose()
        assert sorted(r.window_end.replace(tzinfo=UTC) for r in rows) == expected
        assert {(r.state, r.attempts) for r in rows} == {("done", 1)}
        assert set(statuses) == {"delivered"} and delivered >= 1
        assert len(slack.messages) == delivered  # one message per delivery: nothing sent twice
        for _, err in outputs:
            assert "Traceback" not in err
            assert "driftwatch daemon stopped" in err
        # Both replicas competed for the same work: each owns runs or was turned away by the other's lock.
        owners = {r.owner for r in rows}
        for daemon, (_, err) in zip(daemons, outputs, strict=True):
            owns = any(owner.endswith(f"-{daemon.pid}") for owner in owners)
            turned_away = 'Another process is checking model \\"fraud\\"' in err or (
                'Another process is ingesting model \\"fraud\\"' in err
            )
            assert owns or turned_away, f"replica {daemon.pid} never competed: owners {owners}"
        assert len({d.pid for d in daemons}) == 2
