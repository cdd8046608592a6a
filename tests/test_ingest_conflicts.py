"""An id that arrives again with other values is a conflict, never a silent duplicate (#14 item 5)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import select

from monitor.ingest import ingest_frame
from monitor.store import open_store
from monitor.store.schema import quarantine
from tests.conftest import make_config, model_dict

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def batch(score: float, amount: float = 1.5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b"],
            "timestamp": ["2026-10-01T00:00:00Z", "2026-10-01T00:01:00Z"],
            "prediction": [1, 0],
            "score": [score, 0.2],
            "amount": [amount, 2.0],
            "country": ["US", "DE"],
        }
    )


def scores(store) -> dict[str, float]:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return dict(
            conn.execute(select(store.events("fraud").c.event_id, store.events("fraud").c.score)).all()
        )


def test_same_values_are_duplicates_other_values_are_quarantined_conflicts(store, config) -> None:
    model = config.models[0]
    ingest_frame(store, model, "predictions", batch(0.3), source="first", now=NOW)
    again = ingest_frame(store, model, "predictions", batch(0.3), source="again", now=NOW)
    assert (again.duplicates, again.conflicts, again.quarantined) == (2, 0, 0)

    changed = ingest_frame(store, model, "predictions", batch(0.7, amount=9.0), source="changed", now=NOW)

    assert (changed.stored, changed.duplicates, changed.conflicts, changed.quarantined) == (0, 1, 1, 1)
    assert any("arrived again with other values (quarantined)" in w for w in changed.warnings)
    assert scores(store) == {"a": 0.3, "b": 0.2}
    with store.engine.connect() as conn:
        location, reason, row = conn.execute(
            select(quarantine.c.location, quarantine.c.reason, quarantine.c.row)
        ).one()
    assert location == "id 'a'"
    assert reason == (
        "conflict: id 'a' is stored with other values: "
        "score 0.3 stored, 0.7 new; f_amount 1.5 stored, 9.0 new"
    )
    assert row == {
        "id": "a",
        "stored": {"score": 0.3, "f_amount": 1.5},
        "new": {"score": 0.7, "f_amount": 9.0},
    }


def test_last_write_wins_when_configured(store_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = make_config(store_url, tmp_path, [model_dict(on_conflict="replace")])
    store = open_store(config)
    try:
        model = config.models[0]
        ingest_frame(store, model, "predictions", batch(0.3), source="first", now=NOW)
        changed = ingest_frame(store, model, "predictions", batch(0.7), source="changed", now=NOW)
        assert (changed.conflicts, changed.quarantined, changed.duplicates) == (1, 0, 2)
        assert scores(store) == {"a": 0.7, "b": 0.2}
    finally:
        store.dispose()


def test_a_changed_label_is_a_conflict_a_re_sent_one_is_not(store, config) -> None:
    model = config.models[0]
    labels = pd.DataFrame({"id": ["a", "b"], "label": [1, 0]})
    ingest_frame(store, model, "outcomes", labels, source="first", now=NOW)
    later = NOW.replace(hour=13)  # no timestamp column: each arrival has its own time
    again = ingest_frame(store, model, "outcomes", labels, source="again", now=later)
    assert (again.duplicates, again.conflicts) == (2, 0)
    flipped = ingest_frame(store, model, "outcomes", labels.assign(label=[0, 0]), source="flip", now=later)
    assert (flipped.conflicts, flipped.quarantined) == (1, 1)


def test_an_id_twice_in_one_batch_with_other_values_is_a_conflict(store, config) -> None:
    frame = pd.concat([batch(0.3), batch(0.3).iloc[:1], batch(0.9).iloc[:1]], ignore_index=True)
    counts = ingest_frame(store, config.models[0], "predictions", frame, source="twice", now=NOW)
    assert (counts.rows, counts.stored, counts.duplicates, counts.quarantined, counts.conflicts) == (
        4,
        2,
        1,
        1,
        1,
    )
    assert scores(store) == {"a": 0.3, "b": 0.2}
    with store.engine.connect() as conn:
        assert conn.execute(select(quarantine.c.location, quarantine.c.reason)).all() == [
            ("row 4", "conflict: id 'a' comes earlier in the batch with other values")
        ]


def test_a_re_sent_batch_of_arbitrary_values_has_no_conflict(store, config) -> None:
    rng = np.random.default_rng(5)
    n = 2000
    frame = pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(n)],
            "timestamp": pd.date_range("2026-10-01", periods=n, freq="1537ms", tz="UTC")
            + pd.Timedelta("123457us"),
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": rng.lognormal(3, 2, n) * np.where(rng.random(n) < 0.1, np.nan, 1.0),
            "age": rng.normal(0, 1e-7, n),
            "country": rng.choice(["US", "DE", "שלום", None], n),
        }
    )
    model = config.models[0]
    assert ingest_frame(store, model, "predictions", frame, source="first", now=NOW).stored == n
    again = ingest_frame(store, model, "predictions", frame, source="again", now=NOW)
    assert (again.duplicates, again.conflicts, again.quarantined) == (n, 0, 0)
