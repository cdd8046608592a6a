"""Shared fixtures and helpers: a store on SQLite and on PostgreSQL, configs, an injected clock,
a day of a binary model's traffic, and an HTTP client for the daemon's server.

PostgreSQL: each test run creates its own database on 127.0.0.1:5432 (dropped at the end)
and each test gets a fresh schema in it, so tests never see each other's tables. Override
the server with ``DRIFTWATCH_TEST_PG`` (a URL to an administrative database).
"""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from monitor.config import Config, parse_config
from monitor.store import Store, open_store

if TYPE_CHECKING:
    from monitor.service.daemon import Daemon
    from monitor.service.server import DaemonServer

PG_ADMIN_URL = os.environ.get("DRIFTWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


class Clock:
    """An injected clock: tests move time forward instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.now += delta or timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of its own for this test run; its SQLAlchemy URL."""
    name = f"dw_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_ADMIN_URL)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {admin.host}:{admin.port} ({exc}); start it (see .ci/run)"
        )
    yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A fresh schema in the run's database, selected through ``search_path``."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = make_url(pg_database).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{pg_database}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Every store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftwatch.db'}"
    return request.getfixturevalue("pg_url")


#: The tables of a ``[[models]]`` entry whose only check is latency (against a 1 ms p95 SLO,
#: so every window alerts): the daemon, kill and outage tests count alerts, not statistics.
LATENCY_ONLY_TABLES = """\
[models.features]
numeric = ["amount", "age"]
categorical = ["country"]
[models.reference]
trailing = "2d"
[models.latency]
slo_p95_ms = 1.0
[models.drift]
enabled = false
[models.performance]
enabled = false
[models.calibration]
enabled = false
[models.segments_check]
enabled = false
[models.threshold_check]
enabled = false"""


def model_dict(**overrides: Any) -> dict[str, Any]:
    """A small binary model config as a dict (tests tweak it)."""
    model: dict[str, Any] = {
        "name": "fraud",
        "task": "binary",
        "features": {"numeric": ["amount", "age"], "categorical": ["country"]},
        "segments": ["country"],
        "window": "1d",
        "schedule": "5 0 * * *",
    }
    model.update(overrides)
    return model


def make_config(url: str, tmp_path, models: list[dict[str, Any]] | None = None, **sections: Any) -> Config:  # type: ignore[no-untyped-def]
    data: dict[str, Any] = {
        "store": {"url": "sqlite:///unused.db"},
        "reports": {"dir": str(tmp_path / "reports")},
        "models": models if models is not None else [model_dict()],
        **sections,
    }
    config = parse_config(data, "test-config.toml")
    return config.model_copy(update={"store": config.store.model_copy(update={"url": url})})


@pytest.fixture
def config(store_url: str, tmp_path) -> Config:  # type: ignore[no-untyped-def]
    return make_config(store_url, tmp_path)


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = open_store(config)
    yield opened
    opened.dispose()


def mark_checked(store: Store, start: datetime, days: range, *, model: str = "fraud") -> None:
    """Record done runs with final labels for the daily windows ending ``start + (day + 1) days``."""
    from monitor.store.schema import runs

    with store.engine.begin() as conn:
        for day in days:
            end = (start + (day + 1) * timedelta(days=1)).replace(tzinfo=None)
            conn.execute(
                runs.insert().values(
                    model=model,
                    window_start=end - timedelta(days=1),
                    window_end=end,
                    status="ok",
                    state="done",
                    labels_final=True,
                    started_at=end,
                    finished_at=end,
                )
            )


def settled(path: Path) -> Path:
    """Backdate ``path`` so ingestion takes it as complete (not being written any more)."""
    old = time.time() - 3600
    os.utime(path, (old, old))
    return path


# -- the daemon's world: one binary model, a day of traffic at a time ----------------------

START = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)

#: Label-free, cheap checks: tests of the service are about scheduling, not statistics.
LIGHT = {
    "reference": {"start": "2026-10-01T00:00:00Z", "end": "2026-10-03T00:00:00Z"},
    "drift": {"enabled": False},
    "performance": {"enabled": False},
    "calibration": {"enabled": False},
    "segments_check": {"enabled": False},
    "threshold_check": {"enabled": False},
    "labels": {"min_count": 50},
}


def traffic(day: int, n: int = 200, *, seed: int | None = None, prefix: str = "d") -> pd.DataFrame:
    """One day of a binary model's traffic with labels."""
    rng = np.random.default_rng(day if seed is None else seed)
    amount = rng.lognormal(3.0, 0.5, n)
    score = 1 / (1 + np.exp(-(-2.0 + 0.04 * (amount - 20))))
    ts = [START + timedelta(days=day, seconds=int(s)) for s in np.sort(rng.integers(0, 86_400, n))]
    return pd.DataFrame(
        {
            "id": [f"{prefix}{day}-{i}" for i in range(n)],
            "timestamp": ts,
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": amount,
            "age": rng.integers(18, 80, n).astype(float),
            "country": rng.choice(["US", "DE", "FR"], n),
            "label": (rng.random(n) < score).astype(int),
        }
    )


def load_days(daemon: Daemon, days: range, model: str = "fraud", *, now: datetime) -> None:
    """Ingest the traffic (predictions and outcomes) of ``days`` into the daemon's store."""
    from monitor.ingest import ingest_frame

    store = daemon.store()
    for day in days:
        frame = traffic(day)
        ingest_frame(store, store.models[model], "predictions", frame, source="test", now=now)
        ingest_frame(
            store,
            store.models[model],
            "outcomes",
            frame[["id", "timestamp", "label"]],
            source="test",
            now=now,
        )


def light_config(url: str, tmp_path: Path, *names: str, **sections: Any) -> Config:
    """A config of ``LIGHT`` models (one "fraud" by default)."""
    models = [model_dict(name=name, **LIGHT) for name in names or ("fraud",)]
    return make_config(url, tmp_path, models, **sections)


def metric_samples(daemon: Daemon, name: str) -> dict[tuple[str, ...], float]:
    """Samples of one metric family from the rendered exposition text, keyed by label values."""
    out = {}
    for family in text_string_to_metric_families(daemon.metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sample.labels.values())] = sample.value
    return out


# -- the daemon's HTTP server --------------------------------------------------------------

#: The ingestion token tests put in ``DW_TEST_INGEST_TOKEN``.
TOKEN = "s3cret-token"


def http_request(
    server: DaemonServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request to a running server: status, headers, body."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def post_log(server: DaemonServer, payload: Any, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
    """``POST /v1/log`` with a bearer token: status and the JSON answer."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, default=str).encode()
    status, _, data = http_request(
        server,
        "POST",
        "/v1/log",
        body,
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    return status, json.loads(data)
