"""Retention never deletes what the checks still need (issue #14, item 1)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from monitor.config import Config
from monitor.ingest import ingest_frame
from monitor.store import Store, open_store
from monitor.store.retention import apply_retention, describe_retention, plan_retention
from monitor.store.schema import runs
from tests.conftest import make_config, mark_checked, model_dict

START = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day_rows(day: int, n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(day)
    return pd.DataFrame(
        {
            "id": [f"d{day}-{i}" for i in range(n)],
            "timestamp": [START + day * DAY + timedelta(minutes=10 * i) for i in range(n)],
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "amount": rng.random(n),
            "country": "US",
            "label": rng.integers(0, 2, n),
        }
    )


def retention_config(url: str, tmp_path: Path, **model: Any) -> Config:
    return make_config(
        url,
        tmp_path,
        [model_dict(**model)],
        daemon={"event_retention_days": 30, "max_catchup_windows": 3},
    )


def load(store: Store, config: Config, days: range, now: datetime) -> None:
    model = config.models[0]
    for day in days:
        frame = day_rows(day)
        ingest_frame(store, model, "predictions", frame.drop(columns="label"), source="t", now=now)
        ingest_frame(store, model, "outcomes", frame[["id", "timestamp", "label"]], source="t", now=now)


def event_days(store: Store) -> set[int]:
    with store.engine.connect() as conn:
        ts = conn.execute(select(store.events("fraud").c.ts)).scalars().all()
    return {(t.replace(tzinfo=UTC) - START).days for t in ts}


def outcome_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.outcomes("fraud"))).scalar_one()


@pytest.fixture
def opened(store_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**model: Any) -> tuple[Store, Config]:
        config = retention_config(store_url, tmp_path, **model)
        store = open_store(config)
        made.append(store)
        return store, config

    made: list[Store] = []
    yield make
    for store in made:
        store.dispose()


def test_fixed_reference_older_than_retention_is_kept_with_its_labels(opened) -> None:  # type: ignore[no-untyped-def]
    store, config = opened(
        reference={"start": "2026-01-01T00:00:00Z", "end": "2026-01-03T00:00:00Z"},
        labels={"max_delay": "1d"},
    )
    now = START + 100 * DAY
    load(store, config, range(0, 6), now=START + 6 * DAY)
    load(store, config, range(97, 100), now=now)
    mark_checked(store, START, range(0, 100))

    removed = apply_retention(store, config, now)

    assert event_days(store) == {0, 1, 97, 98, 99}
    assert removed["events"] == 4 * 20 and removed["outcomes"] == 4 * 20
    assert outcome_count(store) == 5 * 20  # the reference keeps its labels


def test_windows_inside_the_label_delay_and_unchecked_windows_are_kept(opened) -> None:  # type: ignore[no-untyped-def]
    store, config = opened(reference={"trailing": "2d"}, labels={"max_delay": "5d"})
    now = START + 40 * DAY
    load(store, config, range(0, 40), now=now)
    mark_checked(store, START, range(0, 38))  # the windows of days 38 and 39 are not checked yet

    plan = plan_retention(store, config, now)[0]
    # 30 days of retention would delete days 0-9; the label wait (5 days) does not reach
    # further back, so days 10 on stay; nothing older is protected.
    assert plan.cutoff == START + 10 * DAY
    apply_retention(store, config, now)
    assert min(event_days(store)) == 10

    config2 = config.model_copy(
        update={"daemon": config.daemon.model_copy(update={"event_retention_days": 1})}
    )
    plan = plan_retention(store, config2, now)[0]
    # windows waiting for labels: the window ending 5 days ago starts on day 34; its trailing
    # reference (2 days) starts on day 32
    assert plan.cutoff == START + 32 * DAY
    assert any("labels" in reason for reason in plan.reasons)


def test_an_unchecked_old_window_stops_retention_before_it(opened) -> None:  # type: ignore[no-untyped-def]
    store, config = opened(reference={"trailing": "1d"}, labels={"max_delay": "1d"})
    now = START + 40 * DAY
    load(store, config, range(0, 40), now=now)
    mark_checked(store, START, range(0, 40))
    with store.engine.begin() as conn:  # the window of day 37 failed: it will be checked again
        conn.execute(
            runs.update()
            .where(runs.c.window_end == (START + 38 * DAY).replace(tzinfo=None))
            .values(state="failed")
        )
    config = config.model_copy(
        update={"daemon": config.daemon.model_copy(update={"event_retention_days": 1})}
    )
    apply_retention(store, config, now)
    assert min(event_days(store)) == 36  # day 37 and its one-day trailing reference


def test_dry_run_counts_and_deletes_nothing(opened) -> None:  # type: ignore[no-untyped-def]
    store, config = opened(
        reference={"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
        labels={"max_delay": "1d"},
    )
    now = START + 100 * DAY
    load(store, config, range(0, 3), now=now)
    mark_checked(store, START, range(0, 100))

    plan = plan_retention(store, config, now, count=True)[0]

    assert (plan.events, plan.outcomes) == (40, 40)
    assert event_days(store) == {0, 1, 2}
    text = "\n".join(plan.lines())
    assert "40 event(s)" in text and "fixed reference" in text


def test_describe_says_what_is_kept() -> None:
    config = make_config(
        "sqlite:///unused.db",
        Path("/tmp"),
        [model_dict(reference={"start": "2025-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z"})],
    )
    lines = describe_retention(config, datetime(2026, 1, 1, tzinfo=UTC))
    text = "\n".join(lines)
    assert "older than 90 day(s)" in text
    assert "fixed reference 2025-01-01" in text and "kept" in text
    assert "labels.max_delay" in text and "not checked yet" in text


def test_describe_says_an_in_place_model_stores_nothing() -> None:
    data = {"engine": "duckdb", "predictions": "/tmp/logs/*.parquet"}
    config = make_config("sqlite:///unused.db", Path("/tmp"), [model_dict(data=data)])
    text = "\n".join(describe_retention(config, datetime(2026, 1, 1, tzinfo=UTC)))
    assert 'model "fraud": checked in place ([models.data] engine = "duckdb"); it stores no events' in text
    assert "labels.max_delay" not in text


def test_cli_retention_dry_run_and_validate(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "dw.db"}"
[[models]]
name = "fraud"
[models.features]
numeric = ["amount"]
[models.reference]
start = "2025-01-01T00:00:00Z"
end = "2025-02-01T00:00:00Z"
""",
        encoding="utf-8",
    )
    cli = [sys.executable, "-m", "monitor", "--config", str(config_path)]
    validate = subprocess.run([*cli, "validate"], capture_output=True, text=True, timeout=120)
    assert validate.returncode == 0, validate.stderr
    assert "retention" in validate.stdout and "fixed reference" in validate.stdout
    dry = subprocess.run([*cli, "retention", "--dry-run"], capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "would delete 0 event(s)" in dry.stdout


def test_a_fixed_reference_keeps_working_from_its_snapshot_where_raw_events_are_gone(opened) -> None:  # type: ignore[no-untyped-def]
    from monitor.engines.reference import load_reference

    store, config = opened(reference={"start": "2026-01-01T00:00:00Z", "end": "2026-01-03T00:00:00Z"})
    model = config.models[0]
    load(store, config, range(0, 3), now=START + 3 * DAY)
    first = load_reference(store, model, START + 2 * DAY, now=START + 3 * DAY)
    assert len(first.frame) == 40 and first.frame["label"].notna().all()
    assert "cached" not in first.description

    with store.engine.begin() as conn:  # raw events and labels of the reference deleted by hand
        conn.execute(store.events("fraud").delete())
        conn.execute(store.outcomes("fraud").delete())
    again = load_reference(store, model, START + 5 * DAY, now=START + 6 * DAY)

    assert again.description["cached"] is True
    pd.testing.assert_frame_equal(
        again.frame.reset_index(drop=True), first.frame.reset_index(drop=True), check_dtype=False
    )


def test_daemon_start_up_logs_what_retention_keeps(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from monitor.service.daemon import Daemon

    config = make_config(
        f"sqlite:///{tmp_path / 'd.db'}",
        tmp_path,
        [model_dict(reference={"start": "2025-01-01T00:00:00Z", "end": "2025-02-01T00:00:00Z"})],
    )
    daemon = Daemon(config, clock=lambda: START, serve=False)
    with caplog.at_level(logging.INFO, logger="driftwatch.daemon"):
        daemon.start(paused=True)
    daemon.shutdown(timedelta(seconds=1))
    messages = [r.getMessage() for r in caplog.records if r.name == "driftwatch.daemon"]
    assert any(m.startswith("retention: every 6h, events, outcomes") for m in messages)
    assert any("the fixed reference 2025-01-01 00:00 to 2025-02-01 00:00 (older than" in m for m in messages)
