"""Crash safety, short version: one ``kill -9`` per scenario and store (6 kills), then restart.

The long version (``make soak``, ``tests/soak/test_soak_kills.py``) runs 9 kills per scenario and
store. What is checked after the restart is described in :mod:`tests.soak.harness`.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.ingest import ingest_frame
from monitor.pipeline.runner import Runner, owner_gone
from monitor.store import open_store
from monitor.store.runs import claim_window
from tests.soak.harness import (
    DAY,
    START,
    backfill_kills,
    dispatch_kills,
    ingest_kills,
    traffic,
    write_config,
)

#: Above Linux's pid_max (2**22): never a running process.
NO_SUCH_PID = 99_999_999


@pytest.mark.postgres
def test_killed_ingestion_loses_and_doubles_nothing(store_url: str, tmp_path: Path) -> None:
    stats = ingest_kills(tmp_path, store_url, kills=1, seed=11, n_files=6, rows=3000)
    assert stats.kills == 1


@pytest.mark.postgres
def test_killed_backfill_checks_every_window_exactly_once(store_url: str, tmp_path: Path) -> None:
    stats = backfill_kills(tmp_path, store_url, kills=1, seed=12, days=5)
    assert stats.kills == 1


@pytest.mark.postgres
def test_killed_dispatch_delivers_every_alert(store_url: str, tmp_path: Path) -> None:
    stats = dispatch_kills(tmp_path, store_url, kills=1, seed=13, count=30)
    assert stats.kills == 1


def test_a_window_left_running_by_a_dead_local_process_is_retaken_at_once(tmp_path: Path) -> None:
    """Reproducer: a killed backfill's window stayed ``running`` (and was skipped) for the whole lease."""
    config = load_config(write_config(tmp_path, f"sqlite:///{tmp_path / 'dw.db'}"))
    store = open_store(config)
    model = config.models[0]
    for day in range(3):
        ingest_frame(store, model, "predictions", traffic(day, 100), source="t", now=START + 5 * DAY)
    host = socket.gethostname()
    dead, alive = f"{host}-{NO_SUCH_PID}", f"{host}-{os.getpid()}"
    assert owner_gone(dead) and not owner_gone(alive) and not owner_gone(f"other-host-{NO_SUCH_PID}")
    now = START + 4 * DAY
    runner = Runner(store, config, clock=lambda: now + timedelta(minutes=1), owner="restarted-1")
    claim_window(store.engine, model.name, START + DAY, START + 2 * DAY, owner=alive, now=now)
    claim_window(store.engine, model.name, START + 2 * DAY, START + 3 * DAY, owner=dead, now=now)
    try:
        assert runner.check_window(model, START + 2 * DAY) is None  # a live owner keeps its window
        run = runner.check_window(model, START + 3 * DAY)
    finally:
        store.dispose()
    assert run is not None and run.window_end == START + 3 * DAY
