"""The daemon's HTTP server: health, readiness, metrics, report pages and POST /v1/log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from monitor.service.daemon import Daemon
from monitor.service.server import DaemonServer, RateLimiter, start_server
from monitor.store.schema import quarantine
from tests.conftest import (
    DAY,
    LIGHT,
    START,
    TOKEN,
    Clock,
    http_request,
    load_days,
    make_config,
    model_dict,
    post_log,
    traffic,
)


@pytest.fixture
def daemon(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    monkeypatch.setenv("DW_TEST_INGEST_TOKEN", TOKEN)
    config = make_config(
        f"sqlite:///{tmp_path / 'driftwatch.db'}",
        tmp_path,
        [model_dict(name="fraud", **LIGHT)],
        server={"port": 0, "ingest_token_env": "DW_TEST_INGEST_TOKEN", "max_body_bytes": 4096},
    )
    clock.now = START + 3 * DAY + timedelta(minutes=5)
    daemon = Daemon(config, clock=clock, serve=False)
    yield daemon
    daemon.shutdown(timedelta(seconds=2))


@pytest.fixture
def server(daemon: Daemon) -> Iterator[DaemonServer]:
    server = start_server(daemon, limiter=RateLimiter(rate=0.01, burst=1000))
    daemon.server = server
    yield server


def test_health_readiness_and_metrics(daemon: Daemon, server: DaemonServer) -> None:
    status, headers, body = http_request(server, "GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "alive"}
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = http_request(server, "GET", "/readyz")
    assert (status, json.loads(body)) == (200, {"ready": True})

    load_days(daemon, range(4), now=daemon.clock())
    runs = daemon.check_job("fraud")
    status, headers, body = http_request(server, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert sum(s.value for s in families["driftwatch_runs"].samples if s.name.endswith("_total")) == len(runs)
    assert [s.value for s in families["driftwatch_ready"].samples] == [1.0]
    assert http_request(server, "POST", "/metrics", b"")[0] == 405


def test_readyz_reports_an_unreachable_store(tmp_path: Path, clock: Clock) -> None:
    config = make_config(
        f"sqlite:///{tmp_path / 'gone' / 'x.db'}", tmp_path, [model_dict(**LIGHT)], server={"port": 0}
    )
    daemon = Daemon(config, clock=clock, serve=False)
    server = start_server(daemon)
    daemon.server = server
    try:
        status, _, body = http_request(server, "GET", "/readyz")
        assert status == 503
        assert json.loads(body) == {
            "ready": False,
            "reasons": ["store unreachable: unable to open database file"],
        }
        assert http_request(server, "GET", "/healthz")[0] == 200
    finally:
        daemon.shutdown(timedelta(seconds=1))


def test_report_pages_are_served_where_alert_links_point(daemon: Daemon, server: DaemonServer) -> None:
    load_days(daemon, range(2), now=daemon.clock())
    run = daemon.check_job("fraud")[0]
    assert run.report_url.startswith("http://127.0.0.1:8787/")
    path = "/" + run.report_url.split("/", 3)[3]
    status, headers, body = http_request(server, "GET", path)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8" and b"fraud" in body
    status, _, body = http_request(server, "GET", "/")
    assert status == 200 and b"fraud" in body
    assert http_request(server, "GET", "/fraud/%2e%2e/%2e%2e/etc/passwd")[0] == 404
    assert http_request(server, "GET", "/nope.html")[0] == 404


def test_post_log_ingests_like_files_and_counts(daemon: Daemon, server: DaemonServer) -> None:
    frame = traffic(1, 20)
    rows = frame.drop(columns=["label"]).assign(timestamp=frame["timestamp"].map(datetime.isoformat))
    records = rows.to_dict("records")
    records[3]["score"] = 2.0  # out of range: quarantined with its reason
    status, counts = post_log(server, {"model": "fraud", "kind": "predictions", "rows": records})
    assert status == 200, counts
    assert {k: counts[k] for k in ("rows", "stored", "duplicates", "quarantined")} == {
        "rows": 20,
        "stored": 19,
        "duplicates": 0,
        "quarantined": 1,
    }
    status, again = post_log(server, {"model": "fraud", "kind": "predictions", "rows": records[:5]})
    assert (status, again["stored"], again["duplicates"], again["quarantined"]) == (200, 0, 4, 1)

    store = daemon.store()
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(store.events("fraud"))).scalar_one() == 19
        reason = conn.execute(select(quarantine.c.reason, quarantine.c.source)).first()
    assert "score" in reason.reason and reason.source == "http:127.0.0.1"

    outcomes = [{"id": r["id"], "timestamp": r["timestamp"], "label": 1} for r in records[:10]]
    status, counts = post_log(server, {"model": "fraud", "kind": "outcomes", "rows": outcomes})
    assert (status, counts["stored"]) == (200, 10)
    metrics = {
        tuple(s.labels.values()): s.value
        for f in text_string_to_metric_families(daemon.metrics.render().decode())
        for s in f.samples
        if s.name == "driftwatch_ingested_rows_total"
    }
    assert metrics == {("fraud", "stored"): 29.0, ("fraud", "duplicate"): 4.0, ("fraud", "quarantined"): 2.0}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "body is not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        (b"[1, 2]", "body must be a JSON object"),
        ({"model": "fraud", "kind": "labels", "rows": [{}]}, '"kind" must be one of'),
        ({"model": "fraud", "kind": "outcomes", "rows": []}, '"rows" must be a non-empty list'),
        ({"model": "fraud", "kind": "outcomes", "rows": [1]}, '"rows"[0] is not an object'),
        ({"model": "fraud", "kind": "outcomes", "rows": [{}], "extra": 1}, 'unknown key(s) "extra"'),
        ({"model": "nope", "kind": "outcomes", "rows": [{}]}, "No model named 'nope' is configured"),
    ],
)
def test_post_log_rejects_bad_bodies_with_a_clear_message(
    server: DaemonServer, payload: Any, message: str
) -> None:
    status, body = post_log(server, payload)
    assert status == 400 and message in body["error"]


def test_post_log_auth_size_and_rate_limits(
    daemon: Daemon, server: DaemonServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = {
        "model": "fraud",
        "kind": "outcomes",
        "rows": [{"id": "x", "timestamp": "2026-10-01", "label": 1}],
    }
    assert post_log(server, payload, token="wrong")[0] == 401
    status, headers, _ = http_request(server, "POST", "/v1/log", b"{}", {})
    assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
    big = json.dumps({**payload, "rows": payload["rows"] * 200}).encode()
    assert len(big) > 4096
    assert post_log(server, big)[0] == 413

    limited = start_server(daemon, limiter=RateLimiter(rate=0.01, burst=2))
    try:
        assert [post_log(limited, payload)[0] for _ in range(2)] == [200, 200]
        status, headers, _ = http_request(
            limited, "POST", "/v1/log", b"{}", {"Authorization": f"Bearer {TOKEN}"}
        )
        assert status == 429 and int(headers["Retry-After"]) > 0
    finally:
        limited.shutdown()
        limited.server_close()

    monkeypatch.delenv("DW_TEST_INGEST_TOKEN")
    status, body = post_log(server, payload)
    assert status == 404 and "disabled" in body["error"]


def test_post_log_when_the_store_is_down_answers_503(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DW_TEST_INGEST_TOKEN", TOKEN)
    config = make_config(
        f"sqlite:///{tmp_path / 'gone' / 'x.db'}",
        tmp_path,
        [model_dict(**LIGHT)],
        server={"port": 0, "ingest_token_env": "DW_TEST_INGEST_TOKEN"},
    )
    daemon = Daemon(config, clock=clock, serve=False)
    server = start_server(daemon)
    daemon.server = server
    try:
        payload = {
            "model": "fraud",
            "kind": "outcomes",
            "rows": [{"id": "x", "timestamp": "2026-10-01", "label": 1}],
        }
        status, body = post_log(server, payload)
        assert status == 503 and body["error"].startswith("store unreachable")
    finally:
        daemon.shutdown(timedelta(seconds=1))


def test_post_log_for_a_model_checked_in_place_is_refused(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DW_TEST_INGEST_TOKEN", TOKEN)
    data = {"engine": "duckdb", "predictions": str(tmp_path / "logs" / "*.parquet")}
    config = make_config(
        f"sqlite:///{tmp_path / 'driftwatch.db'}",
        tmp_path,
        [model_dict(name="fraud", data=data, **LIGHT)],
        server={"port": 0, "ingest_token_env": "DW_TEST_INGEST_TOKEN"},
    )
    clock.now = START
    daemon = Daemon(config, clock=clock, serve=False)
    server = start_server(daemon, limiter=RateLimiter(rate=0.01, burst=1000))
    daemon.server = server
    try:
        status, body = post_log(
            server, {"model": "fraud", "kind": "outcomes", "rows": [{"id": "1", "label": 1}]}
        )
    finally:
        daemon.shutdown(timedelta(seconds=2))
    assert status == 400 and 'model "fraud" is checked in place' in body["error"]
