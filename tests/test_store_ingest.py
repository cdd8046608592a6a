"""Store and ingestion on SQLite and PostgreSQL: idempotency, crash safety, quarantine, late labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text

from monitor.config import SourceConfig
from monitor.ingest import ingest_file, ingest_frame, ingest_sql_source
from monitor.ingest import writer as writer_module
from monitor.store import StoreVersionError, make_engine, open_store
from monitor.store.schema import meta, quarantine
from monitor.store.windows import read_window, window_counts
from tests.conftest import make_config, model_dict

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def events(n: int, *, start: datetime = datetime(2026, 10, 1, tzinfo=UTC), seed: int = 0, prefix: str = "e"):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(n)],
            "timestamp": [start + timedelta(minutes=i) for i in range(n)],
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "latency_ms": rng.gamma(2, 20, n),
            "amount": rng.normal(100, 10, n),
            "age": rng.integers(18, 90, n).astype(float),
            "country": rng.choice(["US", "DE", "FR"], n),
        }
    )


def count(store, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_ingest_is_idempotent(store, config):
    model = config.models[0]
    first = ingest_frame(store, model, "predictions", events(500), source="api", now=NOW)
    again = ingest_frame(store, model, "predictions", events(500), source="api", now=NOW)
    assert (first.stored, first.duplicates) == (500, 0)
    assert (again.stored, again.duplicates) == (0, 500)
    assert count(store, "dw_events_fraud") == 500
    overlapping = pd.concat([events(500).iloc[400:], events(100, prefix="new")])
    third = ingest_frame(store, model, "predictions", overlapping, source="api", now=NOW)
    assert (third.stored, third.duplicates) == (100, 100)


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_kept(store, config):
    model = config.models[0]
    frame = events(10)
    frame[["amount", "timestamp"]] = frame[["amount", "timestamp"]].astype(object)
    frame.loc[2, "amount"] = "abc"
    frame.loc[3, "score"] = 1.7
    frame.loc[4, "id"] = None
    frame.loc[5, "timestamp"] = "yesterday"
    frame.loc[6, "amount"] = np.inf
    frame.loc[7, "timestamp"] = NOW + timedelta(days=3)
    counts = ingest_frame(store, model, "predictions", frame, source="batch.csv", now=NOW)
    assert (counts.stored, counts.quarantined) == (4, 6)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.location, quarantine.c.reason).order_by(quarantine.c.id)
        ).all()
    reasons = dict(rows)
    assert reasons["row 3"] == "column 'amount': not a number: 'abc'"
    assert reasons["row 4"] == "column 'score': a probability must be within [0, 1]"
    assert reasons["row 5"] == "column 'id': missing id"
    assert reasons["row 6"] == "column 'timestamp': not a timestamp: 'yesterday'"
    assert reasons["row 7"] == "column 'amount': infinite value"
    assert reasons["row 8"] == "column 'timestamp': timestamp in the future"
    # the same bad batch again is not quarantined twice
    ingest_frame(store, model, "predictions", frame, source="batch.csv", now=NOW)
    assert count(store, "dw_quarantine") == 6


def test_missing_required_column_quarantines_the_batch(store, config):
    counts = ingest_frame(
        store, config.models[0], "predictions", events(5).drop(columns=["score"]), source="x", now=NOW
    )
    assert (counts.stored, counts.quarantined) == (0, 5)
    with store.engine.connect() as conn:  # one entry for the batch, not one per row
        assert conn.execute(select(quarantine.c.location, quarantine.c.reason)).all() == [
            ("rows 1-5", "missing column 'score': the batch's 5 row(s) are not stored")
        ]


def test_crash_mid_batch_leaves_nothing_and_retry_stores_everything(store, config, tmp_path, monkeypatch):
    model = config.models[0]
    path = tmp_path / "events.parquet"
    events(3000).to_parquet(path)
    real = writer_module.insert_rows
    calls = {"n": 0}

    def failing(conn, table, frame):  # the second chunk's write dies
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash")
        return real(conn, table, frame)

    monkeypatch.setattr("monitor.ingest.batch.insert_rows", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest_file(store, model, "predictions", str(path), now=NOW, chunk_rows=1000)
    assert count(store, "dw_events_fraud") == 0
    assert count(store, "dw_ingested_files") == 0
    monkeypatch.setattr("monitor.ingest.batch.insert_rows", real)
    counts = ingest_file(store, model, "predictions", str(path), now=NOW, chunk_rows=1000)
    assert counts.stored == 3000
    assert ingest_file(store, model, "predictions", str(path), now=NOW).skipped_files == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_file_formats_and_unreadable_files(store, config, tmp_path, fmt):
    model = config.models[0]
    frame = events(50)
    path = tmp_path / f"events.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.assign(timestamp=frame["timestamp"].map(datetime.isoformat)).to_json(
            path, orient="records", lines=True
        )
    assert ingest_file(store, model, "predictions", str(path), now=NOW).stored == 50
    broken = tmp_path / f"broken.{fmt}"
    broken.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] + b"\x00\xff{{")
    counts = ingest_file(store, model, "predictions", str(broken), now=NOW)
    assert counts.quarantined >= 1 or counts.duplicates > 0
    assert count(store, "dw_events_fraud") == 50


def test_outcomes_before_predictions_join_when_they_arrive(store, config):
    model = config.models[0]
    preds = events(100)
    outcomes = pd.DataFrame(
        {
            "id": preds["id"][:60],
            "timestamp": [NOW - timedelta(days=1)] * 60,
            "label": preds["prediction"][:60],
        }
    )
    assert ingest_frame(store, model, "outcomes", outcomes, source="labels", now=NOW).stored == 60
    ingest_frame(store, model, "predictions", preds, source="api", now=NOW)
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)
    window = read_window(store, model, start, end)
    assert len(window) == 100 and window["label"].notna().sum() == 60
    assert (window.dropna(subset=["label"])["label"] == window.dropna(subset=["label"])["prediction"]).all()
    assert window["country"].isin(["US", "DE", "FR"]).all()
    counts = window_counts(store, model, start, end)
    assert (counts.predictions, counts.labelled, counts.coverage) == (100, 60, 0.6)


def test_sql_source_resumes_from_watermark_exactly(store, config, tmp_path, monkeypatch):
    model = config.models[0]
    src_url = f"sqlite:///{tmp_path / 'source.db'}"
    src = make_engine(src_url)
    frame = events(250)
    frame.loc[100:109, "timestamp"] = frame.loc[100, "timestamp"]  # ties broken by id
    frame.to_sql("served", src, index=False)
    monkeypatch.setenv("SRC_URL", src_url)
    source = SourceConfig(type="sql", url_env="SRC_URL", table="served", batch_size=40)
    first = ingest_sql_source(store, model, source, "served", now=NOW, max_batches=3)
    assert first.stored == 120
    rest = ingest_sql_source(store, model, source, "served", now=NOW)
    assert rest.stored == 130 and rest.duplicates == 0
    pd.DataFrame(events(5, prefix="late", start=datetime(2026, 10, 5, tzinfo=UTC))).to_sql(
        "served", src, index=False, if_exists="append"
    )
    assert ingest_sql_source(store, model, source, "served", now=NOW).stored == 5
    assert count(store, "dw_events_fraud") == 255


def test_newer_store_is_refused_and_new_feature_column_is_added(config, tmp_path):
    store = open_store(config)
    ingest_frame(store, config.models[0], "predictions", events(10), source="api", now=NOW)
    with store.engine.begin() as conn:
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="999"))
    store.dispose()
    with pytest.raises(StoreVersionError, match="schema version 999"):
        open_store(config)
    engine = make_engine(config.store.url)
    with engine.begin() as conn:
        conn.execute(meta.update().where(meta.c.key == "schema_version").values(value="1"))
    engine.dispose()
    grown = make_config(
        config.store.url,
        tmp_path,
        [model_dict(features={"numeric": ["amount", "age", "income"], "categorical": ["country"]})],
    )
    store = open_store(grown)
    frame = events(10, prefix="g").assign(income=5.0)
    assert ingest_frame(store, grown.models[0], "predictions", frame, source="api", now=NOW).stored == 10
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(f_income) FROM dw_events_fraud")).scalar_one() == 10
        assert conn.execute(select(func.count()).select_from(quarantine)).scalar_one() == 0


def test_python_api_logs_predictions_and_late_outcomes(config):
    from monitor.api import Driftwatch

    with Driftwatch(config, clock=lambda: NOW) as dw:
        assert dw.log_predictions("fraud", events(20)).stored == 20
        labels = pd.DataFrame({"id": ["e1", "e2"], "timestamp": [NOW, NOW], "label": [1, 0]})
        assert dw.log_outcomes("fraud", labels).stored == 2
        window = read_window(dw.store, config.models[0], datetime(2026, 10, 1, tzinfo=UTC), NOW)
    assert window["label"].notna().sum() == 2


def test_unknown_category_policy_quarantines(store_url, tmp_path):
    config = make_config(
        store_url,
        tmp_path,
        [
            model_dict(
                unknown_category="quarantine",
                features={
                    "numeric": ["amount", "age"],
                    "categorical": ["country"],
                    "categories": {"country": ["US", "DE"]},
                },
            )
        ],
    )
    store = open_store(config)
    counts = ingest_frame(store, config.models[0], "predictions", events(30), source="api", now=NOW)
    store.dispose()
    assert counts.quarantined == (events(30)["country"] == "FR").sum()
    assert counts.stored + counts.quarantined == 30
