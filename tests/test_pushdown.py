"""Drift aggregated in PostgreSQL equals the in-memory check on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from checks.drift import dataset_drift
from checks.result import jsonable
from monitor.engines.pushdown import Span, sql_drift
from monitor.ingest import ingest_frame
from monitor.store import open_store
from monitor.store.windows import read_window
from tests.conftest import make_config, model_dict

START = datetime(2026, 10, 1, tzinfo=UTC)
NOW = START + timedelta(days=30)


def frame(day: int, n: int, *, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"{day}-{i}" for i in range(n)],
            "timestamp": [START + timedelta(days=day, seconds=int(s)) for s in rng.integers(0, 86400, n)],
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "amount": rng.normal(100 + shift * 10, 10, n).round(3),
            "age": np.where(rng.random(n) < 0.05, np.nan, rng.integers(18, 90, n)),
            "country": rng.choice(["US", "DE", "FR", "BR"], n, p=[0.4, 0.3, 0.2, 0.1 + 0.0]),
            "latency_ms": rng.gamma(2.0, 10.0, n).round(2),
        }
    )


@pytest.fixture
def stored(pg_url, tmp_path):  # type: ignore[no-untyped-def]
    drift = {
        "columns": {
            "amount": {"method": "psi"},
            "age": {"method": "psi"},
            "country": {"method": "jensenshannon"},
        }
    }
    config = make_config(pg_url, tmp_path, [model_dict(drift=drift)])
    store = open_store(config)
    model = config.models[0]
    for day in range(3):
        ingest_frame(store, model, "predictions", frame(day, 3000, seed=day), source="t", now=NOW)
    ingest_frame(store, model, "predictions", frame(3, 3000, seed=9, shift=0.4), source="t", now=NOW)
    yield store, model
    store.dispose()


def test_sql_drift_matches_in_memory_binned_methods(stored):
    store, model = stored
    ref, cur = (
        Span(START, START + timedelta(days=3)),
        Span(START + timedelta(days=3), START + timedelta(days=4)),
    )
    pushed = sql_drift(store, model, ref, cur, edge_sample_rows=1_000_000)
    ref_frame = read_window(store, model, ref.start, ref.end)
    cur_frame = read_window(store, model, cur.start, cur.end)
    memory = dataset_drift(
        ref_frame,
        cur_frame,
        numeric=["amount", "age"],
        categorical=["country"],
        prediction="score",
        methods={"amount": "psi", "age": "psi", "country": "jensenshannon", "score": "ks"},
    )
    rows = {r.column: jsonable(r) for r in pushed.details["columns"]}
    expected = {r.column: jsonable(r) for r in memory.details["columns"]}
    for column in ("amount", "age", "country"):
        assert rows[column]["method"] == expected[column]["method"]
        assert rows[column]["statistic"] == pytest.approx(expected[column]["statistic"], rel=1e-9, abs=1e-12)
        assert rows[column]["drifted"] == expected[column]["drifted"]
    assert rows["amount"]["drifted"] and not rows["country"]["drifted"]
    assert pushed.metrics["n_reference"] == len(ref_frame) and pushed.metrics["n_current"] == len(cur_frame)
    assert pushed.metrics["pushdown"] is True
    # the binned KS of the score is within one bin's share of the exact statistic
    assert abs(rows["score"]["statistic"] - expected["score"]["statistic"]) <= 1 / 10


def test_runner_uses_pushdown_and_samples_large_windows(stored, tmp_path):
    from monitor.pipeline.runner import Runner

    store, model = stored
    config = make_config(
        store.engine.url.render_as_string(hide_password=False), tmp_path, [model.model_dump()]
    )
    config = config.model_copy(
        update={"store": config.store.model_copy(update={"pushdown_rows": 1000, "sample_rows": 1500})}
    )
    model = config.models[0].model_copy(
        update={"reference": model.reference.model_copy(update={"trailing": timedelta(days=3)})}
    )
    config = config.model_copy(update={"models": [model]})
    runner = Runner(store, config, clock=lambda: NOW)
    run = runner.check_window(model, START + timedelta(days=4))
    assert run is not None
    drift = run.check("drift")
    assert drift.metrics["pushdown"] is True and drift.metrics["n_current"] == 3000
    assert run.check("data_quality").metrics  # ran on the sample
    assert run.reference["sampled_fraction"] == pytest.approx(1500 / 9000, rel=1e-3)
    latency = run.check("latency").metrics  # quantiles over every row, exactly; the rest sampled
    window = read_window(store, model, START + timedelta(days=3), START + timedelta(days=4))
    assert latency["n"] < 3000 and latency["quantile_rank_error"] == 0.0
    assert latency["p99_ms"] == pytest.approx(np.percentile(window["latency_ms"], 99), rel=1e-12)


def test_a_sampled_window_read_is_the_hash_sample_every_engine_picks(stored):
    from checks.drift.window_summary import in_hash_sample

    store, model = stored
    span = (START + timedelta(days=3), START + timedelta(days=4))
    full = read_window(store, model, *span)
    sample = read_window(store, model, *span, fraction=0.25)
    keep = in_hash_sample(full["event_id"], 0.25)
    assert 0.2 < keep.mean() < 0.3
    assert sample["event_id"].tolist() == full["event_id"][keep].tolist()
    pd.testing.assert_frame_equal(read_window(store, model, *span, fraction=0.25), sample)  # a re-check


def test_the_reference_summary_is_kept_in_the_store_until_its_rows_change(stored, monkeypatch):
    from monitor.engines import pushdown

    store, model = stored
    ref, cur = (
        Span(START, START + timedelta(days=3)),
        Span(START + timedelta(days=3), START + timedelta(days=4)),
    )
    scans = []
    summarise = pushdown._reference_summary
    monkeypatch.setattr(pushdown, "_reference_summary", lambda *a: scans.append(a[2]) or summarise(*a))
    first = sql_drift(store, model, ref, cur, now=NOW)
    again = sql_drift(store, model, ref, cur, now=NOW)  # e.g. a `driftwatch check` in another process
    assert scans == [ref] and again.details["columns"] == first.details["columns"]
    ingest_frame(store, model, "predictions", frame(2, 500, seed=7).assign(id=lambda f: "late-" + f["id"]),
                 source="t", now=NOW)  # fmt: skip
    changed = sql_drift(store, model, ref, cur, now=NOW)
    assert scans == [ref, ref] and changed.metrics["n_reference"] == first.metrics["n_reference"] + 500
