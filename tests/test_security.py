"""Security: hostile SQL identifiers from config, secrets that must never leak, the HTTP edges.

The report server's traversal and localhost binding are tested in ``test_report_server.py`` and
the ingestion endpoint's token, size and rate limits in ``test_server.py``; this file adds what
they do not cover.
"""

from __future__ import annotations

import http.client
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from monitor.cli import main
from monitor.config import ServerConfig, load_config, parse_config
from monitor.ingest import ingest_frame
from monitor.pipeline.runner import Runner
from monitor.service.daemon import Daemon
from monitor.service.server import start_server
from monitor.store import open_store
from monitor.store.alerts import alert_outbox
from monitor.store.schema import meta, quarantine, runs
from monitor.store.windows import read_window
from tests.conftest import Clock, http_request, make_config, model_dict
from tests.fake_slack import FakeSlack
from tests.test_reliability_outages import SlowWebhook

EVIL_NUMERIC = ["x; DROP TABLE dw_runs; --", "select", "a:b", "a :b", "x') OR 1=1; --"]
EVIL_CATEGORICAL = ["order", "Robert'); DELETE FROM dw_meta;--"]
START = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def evil_frame(day: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(day)
    frame = pd.DataFrame(
        {
            "id": [f"e{day}-{i}" for i in range(n)],
            "timestamp": [
                START + timedelta(days=day, seconds=int(s)) for s in np.sort(rng.integers(0, 86_400, n))
            ],
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "latency_ms": rng.gamma(2, 10, n),
        }
    )
    for k, col in enumerate(EVIL_NUMERIC):
        frame[col] = rng.normal(k, 1, n)
    for col in EVIL_CATEGORICAL:
        frame[col] = rng.choice(["a", "b'; --", "c"], n)
    return frame


@pytest.mark.postgres
def test_hostile_feature_names_are_quoted_everywhere(store_url: str, tmp_path: Path) -> None:
    """Stored, read back, checked (in memory, and pushed down into SQL on PostgreSQL) and migrated."""
    features = {"numeric": EVIL_NUMERIC, "categorical": EVIL_CATEGORICAL}
    model = model_dict(features=features, segments=["order"], reference={"trailing": "1d"})
    config = make_config(store_url, tmp_path, [model], store={"url": "sqlite:///x.db", "pushdown_rows": 1000})
    config = config.model_copy(update={"store": config.store.model_copy(update={"url": store_url})})
    store = open_store(config)
    frames = [evil_frame(day, 1100) for day in range(2)]
    for frame in frames:
        counts = ingest_frame(store, config.models[0], "predictions", frame, source="t", now=START + 3 * DAY)
        assert counts.stored == 1100
    window = read_window(store, config.models[0], START + DAY, START + 2 * DAY, labels=False)
    for col in EVIL_NUMERIC:
        np.testing.assert_allclose(window[col].to_numpy(), frames[1][col].to_numpy())
    for col in EVIL_CATEGORICAL:
        assert window[col].tolist() == frames[1][col].tolist()
    run = Runner(store, config, clock=lambda: START + 3 * DAY).check_window(config.models[0], START + 2 * DAY)
    assert run is not None and run.check("drift") is not None
    assert {f.subject for f in run.check("drift").findings} <= set(EVIL_NUMERIC + EVIL_CATEGORICAL) | {
        "prediction"
    }
    store.dispose()

    added = {"numeric": [*EVIL_NUMERIC, "new; DROP TABLE dw_meta"], "categorical": EVIL_CATEGORICAL}
    config2 = make_config(store_url, tmp_path, [{**model, "features": added}])
    reopened = open_store(config2)  # adds the new column with ALTER TABLE
    with reopened.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(meta)).scalar_one() >= 1
        columns = {c["name"] for c in inspect(conn).get_columns("dw_events_fraud")}
    reopened.dispose()
    assert "f_new; DROP TABLE dw_meta" in columns


# -- secrets ---------------------------------------------------------------------------------------

STORE_PASSWORD = "pw-PLANTED-7c1e93"
SLACK_TOKEN = "xoxb-PLANTED-5d2a77"
HOOK_SECRET = "hmac-PLANTED-91b3aa"
HOOK_PATH = "hookpath-PLANTED-44f0"
INGEST_TOKEN = "ingest-PLANTED-e0f1c2"
SECRETS = [STORE_PASSWORD, SLACK_TOKEN, HOOK_SECRET, HOOK_PATH, INGEST_TOKEN]


def secret_config(tmp_path: Path, slack: FakeSlack) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url_env = "DW_SEC_STORE_URL"
[reports]
dir = "{tmp_path / "reports"}"
[server]
port = 0
ingest_token_env = "DW_SEC_INGEST_TOKEN"
[alerts.route]
receivers = ["slack", "hook"]
group_by = ["model", "check"]
[[alerts.receivers]]
name = "slack"
type = "slack"
channel = "#alerts"
token_env = "DW_SEC_SLACK_TOKEN"
base_url = "{slack.api_url}"
[[alerts.receivers]]
name = "hook"
type = "webhook"
url_env = "DW_SEC_HOOK_URL"
secret_env = "DW_SEC_HOOK_SECRET"
timeout = "0.3s"
[[models]]
name = "fraud"
[models.features]
numeric = ["amount"]
categorical = ["country"]
[models.reference]
trailing = "2d"
[models.latency]
slo_p95_ms = 1.0
""",
        encoding="utf-8",
    )
    return path


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["userinfo", "query"])
def test_planted_secrets_never_leak(
    where: str,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ingest, check (``--json``), dispatch (one receiver timing out), report, a dead store: grep all."""
    caplog.set_level(logging.DEBUG)
    if where == "userinfo":
        with_password = make_url(pg_url).set(password=STORE_PASSWORD).render_as_string(hide_password=False)
    else:  # libpq's password parameter: SQLAlchemy's hide_password does not hide it
        with_password = f"{pg_url}&password={STORE_PASSWORD}"
    hook = SlowWebhook(slow=1)
    outputs: list[str] = []
    with FakeSlack(token=SLACK_TOKEN, channels={"#alerts"}) as slack:
        for name, value in {
            "DW_SEC_STORE_URL": with_password,
            "DW_SEC_SLACK_TOKEN": SLACK_TOKEN,
            "DW_SEC_HOOK_URL": f"{hook.url}/{HOOK_PATH}",
            "DW_SEC_HOOK_SECRET": HOOK_SECRET,
            "DW_SEC_INGEST_TOKEN": INGEST_TOKEN,
        }.items():
            monkeypatch.setenv(name, value)
        path = secret_config(tmp_path, slack)
        incoming = tmp_path / "in"
        incoming.mkdir()
        for day in range(4):
            frame = evil_frame(day, 120).rename(columns={"select": "amount", "order": "country"})
            frame["amount"] = frame["amount"].astype(object)
            frame.loc[0, "amount"] = "bad"  # a quarantined row
            frame.to_csv(incoming / f"d{day}.csv", index=False)
        config = f"--config={path}"
        assert main([config, "-v", "ingest", str(incoming / "*.csv")]) == 0
        assert main([config, "-v", "check", "--json", "--at", (START + 4 * DAY).isoformat()]) == 0
        assert main([config, "-v", "alerts", "dispatch"]) == 1  # the webhook timed out: retried later
        assert main([config, "-v", "report"]) == 0
        assert main([config, "-v", "quarantine"]) == 0
        outputs.append(json.dumps(slack.messages) + json.dumps(slack.requests))

        loaded = load_config(path)
        daemon = Daemon(loaded, clock=Clock(START + 4 * DAY), serve=False)
        server = start_server(daemon)
        daemon.server = server
        try:
            for token in (INGEST_TOKEN, "wrong"):
                outputs.append(
                    _post(server, token, {"model": "fraud", "kind": "outcomes", "rows": [{"x": 1}]})
                )
            outputs.append(_get(server, "/readyz") + _get(server, "/metrics"))
        finally:
            daemon.shutdown(timedelta(seconds=2))

        store = open_store(loaded)
        with store.engine.connect() as conn:
            for table in (alert_outbox, runs, quarantine):
                outputs.append(json.dumps([list(r) for r in conn.execute(select(table)).all()], default=str))
            errors = conn.execute(
                select(alert_outbox.c.last_error).where(alert_outbox.c.last_error.isnot(None))
            )
            assert errors.scalars().all(), "the webhook timeout left no error to check"
        store.dispose()

        # a store that cannot be reached: the error printed names no password
        dead = with_password.replace(f":{make_url(pg_url).port}/", ":9/")
        monkeypatch.setenv("DW_SEC_STORE_URL", dead)
        assert main([config, "ingest"]) == 1
        readiness = Daemon(load_config(path), serve=False).readiness()
        outputs.append(json.dumps(readiness))
    time_out_bodies = json.dumps(hook.bodies)
    hook.close()

    captured = capsys.readouterr()
    outputs += [captured.out, captured.err, time_out_bodies]
    for record in caplog.records:
        outputs.append(record.getMessage())
        if record.exc_info:
            outputs.append(logging.Formatter().formatException(record.exc_info))
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in files)
    outputs += [p.read_bytes().decode("utf-8", "replace") for p in files]
    assert "fraud" in captured.out and '"schema_version"' in captured.out
    assert len(caplog.records) > 20
    leaks = {i: _leaks(text) for i, text in enumerate(outputs) if _leaks(text)}
    assert not leaks, {i: outputs[i][:500] for i in leaks}


def _post(server: Any, token: str, payload: dict[str, Any]) -> str:
    body = json.dumps(payload).encode()
    status, headers, answer = http_request(
        server, "POST", "/v1/log", body, {"Authorization": f"Bearer {token}"}
    )
    return f"{status} {headers} {answer.decode()}"


def _get(server: Any, path: str) -> str:
    return http_request(server, "GET", path)[2].decode()


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://dw:{STORE_PASSWORD}@db/dw",
        f"postgresql://dw@db/dw?sslmode=require&password={STORE_PASSWORD}",
        f"postgresql://dw@db/dw?PWD={STORE_PASSWORD}",
    ],
)
def test_a_password_in_the_config_file_is_refused_without_echoing_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    assert main([f"--config={path}", "validate"]) == 2
    err = capsys.readouterr().err
    assert "store.url: contains a password" in err and "url_env" in err and STORE_PASSWORD not in err


def test_servers_bind_to_localhost_by_default() -> None:
    assert ServerConfig().host == "127.0.0.1"
    assert parse_config({}).reports.base_url.startswith("http://127.0.0.1")


def test_http_ingestion_quarantines_hostile_json_like_files(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone surrogate, NUL, NaN and a future time over POST /v1/log: 200 with reasons, no 500."""
    monkeypatch.setenv("DW_TEST_INGEST_TOKEN", INGEST_TOKEN)
    config = make_config(
        f"sqlite:///{tmp_path / 'dw.db'}",
        tmp_path,
        server={"port": 0, "ingest_token_env": "DW_TEST_INGEST_TOKEN"},
    )
    clock.now = START + 2 * DAY
    daemon = Daemon(config, clock=clock, serve=False)
    server = start_server(daemon)
    daemon.server = server
    good = {"timestamp": "2026-10-01T10:00:00Z", "prediction": 1, "score": 0.5, "amount": 3, "country": "US"}
    rows = [
        {**good, "id": "\ud800"},
        {**good, "id": "nul", "country": "a\x00b"},
        {**good, "id": "future", "timestamp": "2099-01-01T00:00:00Z"},
        {**good, "id": "naive", "timestamp": "2026-10-01T10:00:00"},
        {**good, "id": "rtl", "country": "\u202eevil"},
    ]
    body = json.dumps({"model": "fraud", "kind": "predictions", "rows": rows}).encode()  # "\ud800" escaped
    try:
        host, port = server.server_address[:2]
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("POST", "/v1/log", body, {"Authorization": f"Bearer {INGEST_TOKEN}"})
        response = conn.getresponse()
        status, answer = response.status, json.loads(response.read())
        conn.close()
    finally:
        daemon.shutdown(timedelta(seconds=2))
    assert status == 200, answer
    assert (answer["stored"], answer["quarantined"]) == (2, 3)
