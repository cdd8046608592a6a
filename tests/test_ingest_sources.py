"""Sources as users have them: health per source, outcomes without time, labels in prediction files (#14)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from monitor.ingest import ingest_file, ingest_frame
from monitor.service.daemon import Daemon
from monitor.service.server import RateLimiter, start_server
from monitor.store.schema import quarantine
from tests.conftest import TOKEN, Clock, make_config, model_dict, post_log, settled

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
START = datetime(2026, 10, 1, tzinfo=UTC)


def predictions(n: int, *, prefix: str = "p") -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "timestamp": [
                (datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat() for i in range(n)
            ],
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n).round(6),
            "amount": rng.random(n).round(6),
            "country": "US",
        }
    )


def count(store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_source_health_shows_in_readyz_and_metrics(store_url: str, tmp_path: Path, clock: Clock) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-junk.parquet").write_bytes(b"not parquet at all")
    predictions(20).to_parquet(folder / "b-good.parquet")
    sources = [
        {"path": str(folder / "*.parquet")},
        {"type": "sql", "url_env": "DW_TEST_UNSET_SOURCE_URL", "table": "preds"},
    ]
    config = make_config(store_url, tmp_path, [model_dict(sources=sources)])
    daemon = Daemon(config, clock=clock, serve=False)
    try:
        counts = daemon.ingest_job("fraud")
        assert counts.stored == 20 and counts.bad_files == 1
        ready, reasons = daemon.readiness()
        assert not ready
        assert reasons == [
            'source "predictions-1" of model "fraud" is failing: environment variable '
            "DW_TEST_UNSET_SOURCE_URL (the source's url_env) is not set"
        ]
        families = {f.name: f for f in text_string_to_metric_families(daemon.metrics.render().decode())}
        up = {s.labels["source"]: s.value for s in families["driftwatch_source_up"].samples}
        unreadable = {
            s.labels["source"]: s.value for s in families["driftwatch_source_unreadable_files"].samples
        }
        assert up == {"predictions-0": 1.0, "predictions-1": 0.0}
        assert unreadable == {"predictions-0": 1.0, "predictions-1": 0.0}
    finally:
        daemon.shutdown(timedelta(seconds=1))


def test_outcomes_without_a_timestamp_are_stamped_with_their_arrival(store, config, tmp_path) -> None:
    model = config.models[0]
    path = tmp_path / "labels.csv"
    path.write_text("id,label\n" + "".join(f"p{i},{i % 2}\n" for i in range(30)), encoding="utf-8")
    counts = ingest_file(store, model, "outcomes", str(settled(path)), now=NOW)
    assert (counts.stored, counts.quarantined) == (30, 0)
    assert any("arrival time" in w for w in counts.warnings)
    with store.engine.connect() as conn:
        stamps = set(conn.execute(select(store.outcomes("fraud").c.ts)).scalars())
    assert stamps == {NOW.replace(tzinfo=None)}
    frame = pd.DataFrame({"id": ["q1", "q2"], "label": [1, 0]})
    assert ingest_frame(store, model, "outcomes", frame, source="api", now=NOW).stored == 2


def test_a_batch_without_a_required_column_is_one_quarantine_entry(store, config, tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id,outcome\n" + "".join(f"p{i},1\n" for i in range(500)), encoding="utf-8")
    counts = ingest_file(store, config.models[0], "outcomes", str(settled(path)), now=NOW, chunk_rows=200)
    assert (counts.stored, counts.quarantined) == (0, 500)
    with store.engine.connect() as conn:
        entries = conn.execute(select(quarantine.c.location, quarantine.c.reason)).all()
    assert sorted(entries) == [
        ("lines 2-201", "missing column 'label': the batch's 200 row(s) are not stored"),
        ("lines 202-401", "missing column 'label': the batch's 200 row(s) are not stored"),
        ("lines 402-501", "missing column 'label': the batch's 100 row(s) are not stored"),
    ]


def test_labels_in_a_predictions_file_are_stored_as_outcomes(store, config, tmp_path) -> None:
    frame = predictions(10).assign(label=[1, 0, 1, None, 1, 0, 2, 1, 0, 1])
    path = tmp_path / "with-labels.csv"
    frame.to_csv(path, index=False)
    counts = ingest_file(store, config.models[0], "predictions", str(settled(path)), now=NOW)
    assert (counts.stored, counts.labels) == (10, 8)  # one missing, one not 0/1
    assert count(store, store.outcomes("fraud")) == 8
    with store.engine.connect() as conn:
        bad = conn.execute(select(quarantine.c.kind, quarantine.c.location, quarantine.c.reason)).all()
    assert bad == [("outcomes", "line 8", "column 'label': a binary model's value must be 0 or 1")]
    assert any("1 label(s) in column 'label' not stored" in w for w in counts.warnings)


def test_ingest_kind_predictions_reads_no_outcome_source_and_logs_progress(tmp_path: Path) -> None:
    preds = tmp_path / "preds.csv"
    predictions(1000).to_csv(preds, index=False)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\np1,1\n", encoding="utf-8")
    for path in (preds, labels):
        settled(path)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "dw.db"}"
[[models]]
name = "fraud"
[models.features]
numeric = ["amount"]
categorical = ["country"]
[[models.sources]]
kind = "predictions"
path = "{preds}"
[[models.sources]]
kind = "outcomes"
path = "{labels}"
""",
        encoding="utf-8",
    )
    cli = [sys.executable, "-m", "monitor", "--config", str(config), "ingest"]
    done = subprocess.run(
        [*cli, "--kind", "predictions", "--progress-every", "400"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "fraud: 1,000 rows: 1,000 stored" in done.stdout
    assert [line.split(" ", 1)[1] for line in done.stderr.splitlines() if "rows read" in line] == [
        f"ingest {preds}: 1,000 rows read"
    ]
    with sqlite3.connect(tmp_path / "dw.db") as db:
        assert db.execute("SELECT count(*) FROM dw_outcomes_fraud").fetchone() == (0,)
    both = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert both.returncode == 0 and "1 stored" in both.stdout


def test_an_http_body_with_many_distinct_keys_stays_small(tmp_path: Path, clock: Clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]

    monkeypatch.setenv("DW_TEST_INGEST_TOKEN", TOKEN)
    config = make_config(
        f"sqlite:///{tmp_path / 'dw.db'}",
        tmp_path,
        [model_dict()],
        server={"port": 0, "ingest_token_env": "DW_TEST_INGEST_TOKEN"},
    )
    daemon = Daemon(config, clock=clock, serve=False)
    server = start_server(daemon, limiter=RateLimiter(rate=1.0, burst=10))
    rows = [
        {**row, **{f"extra_{i}_{j}": j for j in range(20)}}
        for i, row in enumerate(predictions(800).to_dict("records"))
    ]
    try:
        daemon.store()
        tracemalloc.start()
        status, body = post_log(server, {"model": "fraud", "kind": "predictions", "rows": rows})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert status == 200 and body["stored"] == 800, json.dumps(body)[:300]
        assert peak < 40_000_000, f"peak {peak:,} bytes"
        status, body = post_log(server, {"model": "fraud", "kind": "predictions", "rows": [{"x": 1}]})
        assert (status, body["rows"], body["quarantined"]) == (200, 1, 1)
    finally:
        daemon.shutdown(timedelta(seconds=1))
