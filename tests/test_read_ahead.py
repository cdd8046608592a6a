"""Reading the next window while the current one is checked changes no result (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monitor.ingest import ingest_frame
from monitor.pipeline import read_ahead
from monitor.pipeline.read_ahead import ReadAhead
from monitor.pipeline.runner import Runner
from monitor.store import Store, open_store
from monitor.store.windows import read_window
from tests.conftest import DAY, START, make_config, model_dict, traffic

NOW = START + 10 * DAY
REFERENCE = {"start": START.isoformat(), "end": (START + DAY).isoformat()}


def stored(url: str, tmp_path: Path, **store: Any) -> tuple[Store, Any]:
    config = make_config(url, tmp_path, [model_dict(reference=REFERENCE)])
    config = config.model_copy(update={"store": config.store.model_copy(update=store)})
    db = open_store(config)
    for day in range(5):
        frame = traffic(day, 300)
        ingest_frame(db, config.models[0], "predictions", frame.drop(columns="label"), source="t", now=NOW)
        ingest_frame(
            db, config.models[0], "outcomes", frame[["id", "timestamp", "label"]], source="t", now=NOW
        )
    return db, config


def checks_of(runs: list[Any]) -> list[Any]:
    return [(run.window_end, [c.to_dict() for c in run.checks]) for run in runs]


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each check got its window from the read ahead."""
    got: list[bool] = []
    take = ReadAhead.take

    def spy(self: ReadAhead, *args: Any) -> pd.DataFrame | None:
        frame = take(self, *args)
        got.append(frame is not None)
        return frame

    monkeypatch.setattr(ReadAhead, "take", spy)
    return got


def test_windows_read_ahead_give_the_runs_of_windows_read_in_turn(
    store_url, tmp_path, monkeypatch, taken
) -> None:  # type: ignore[no-untyped-def]
    ends = [START + k * DAY for k in range(2, 6)]
    store, config = stored(store_url, tmp_path)
    model = config.models[0]
    with monkeypatch.context() as off:
        off.setattr(ReadAhead, "start", lambda *args: None)
        in_turn = Runner(store, config, clock=lambda: NOW).work(model, ends, []).runs
    taken.clear()
    runner = Runner(store, config, clock=lambda: NOW)
    # checked again (as `driftwatch backfill --force` does), each window reading the next
    ahead = [
        runner.check_window(model, end, force=True, next_end=after)
        for end, after in zip(ends, [*ends[1:], None], strict=True)
    ]
    store.dispose()

    assert taken == [False, True, True, True]  # the first window is read when it is checked
    assert [r.run_id for r in ahead] == [r.run_id for r in in_turn] and len(ahead) == 4
    assert checks_of(ahead) == checks_of(in_turn)


def test_a_read_ahead_that_failed_is_read_again(tmp_path, monkeypatch, taken) -> None:  # type: ignore[no-untyped-def]
    store, config = stored(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path)

    def broken(*args: Any, **kwargs: Any) -> pd.DataFrame:
        raise RuntimeError("the store went away for a moment")

    monkeypatch.setattr(read_ahead, "read_window", broken)
    runs = (
        Runner(store, config, clock=lambda: NOW)
        .work(config.models[0], [START + 3 * DAY, START + 4 * DAY], [])
        .runs
    )
    store.dispose()

    assert taken == [False, False] and [len(r.checks) > 0 for r in runs] == [True, True]
    assert {r.window_end for r in runs} == {START + 3 * DAY, START + 4 * DAY}


@pytest.mark.postgres
def test_a_postgresql_window_above_pushdown_rows_is_not_read_ahead(pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store, config = stored(pg_url, tmp_path, pushdown_rows=250)
    model = config.models[0]
    small = ReadAhead(store, pushdown_rows=1000)
    small.start(model, START + DAY, START + 2 * DAY)
    frame = small.take(model, START + DAY, START + 2 * DAY)
    large = ReadAhead(store, pushdown_rows=250)
    large.start(model, START + DAY, START + 2 * DAY)
    skipped = large.take(model, START + DAY, START + 2 * DAY)
    expected = read_window(store, model, START + DAY, START + 2 * DAY)
    store.dispose()

    assert frame is not None and skipped is None
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)


def test_only_the_window_asked_for_is_handed_over(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store, config = stored(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path)
    model = config.models[0]
    ahead = ReadAhead(store, pushdown_rows=10**6)
    ahead.start(model, START + DAY, START + 2 * DAY)
    other_window = ahead.take(model, START + 2 * DAY, START + 3 * DAY)
    ahead.start(model, START + DAY, START + 2 * DAY)
    ahead.start(model, START + 2 * DAY, START + 3 * DAY)  # forgets the first
    first, second = ahead.take(model, START + DAY, START + 2 * DAY), None
    ahead.start(model, START + 2 * DAY, START + 3 * DAY)
    second = ahead.take(model, START + 2 * DAY, START + 3 * DAY)
    store.dispose()

    assert other_window is None and first is None
    assert second is not None and len(second) == 300


def test_a_job_and_a_backfill_read_each_next_window_ahead(tmp_path, monkeypatch, taken) -> None:  # type: ignore[no-untyped-def]
    from monitor.cli import check_cmds, main

    store, config = stored(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path)
    ends = [START + k * DAY for k in range(2, 5)]
    Runner(store, config, clock=lambda: NOW).work(config.models[0], ends, [])
    store.dispose()
    assert taken == [False, True, True]

    taken.clear()
    monkeypatch.setattr(check_cmds, "load_config", lambda path: config)
    window = ["--from", (START + DAY).isoformat(), "--to", ends[-1].isoformat(), "--force"]
    assert main(["--config", "in-memory", "backfill", *window]) == 0
    assert taken == [False, True, True]
