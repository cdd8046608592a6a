"""Crash safety, long version (``make soak``): 9 ``kill -9`` per scenario and store, 54 in all.

Each test prints its figures (``-s`` shows them); docs/RELIABILITY.md quotes a run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.harness import backfill_kills, dispatch_kills, ingest_kills

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

KILLS = 9


def _report(stats, store_url: str) -> None:  # type: ignore[no-untyped-def]
    database = "postgresql" if store_url.startswith("postgresql") else "sqlite"
    print(
        f"\nSOAK {stats.scenario} {database}: {stats.kills} kills in {stats.child_runs} child runs, "
        f"{stats.items} items, {stats.duplicates} duplicates"
    )


def test_soak_ingestion_kills(store_url: str, tmp_path: Path) -> None:
    stats = ingest_kills(tmp_path, store_url, kills=KILLS, seed=101, n_files=12, rows=3000)
    _report(stats, store_url)
    assert stats.kills == KILLS


def test_soak_backfill_kills(store_url: str, tmp_path: Path) -> None:
    stats = backfill_kills(tmp_path, store_url, kills=KILLS, seed=102, days=14)
    _report(stats, store_url)
    assert stats.kills == KILLS


def test_soak_dispatch_kills(store_url: str, tmp_path: Path) -> None:
    stats = dispatch_kills(tmp_path, store_url, kills=KILLS, seed=103, count=150)
    _report(stats, store_url)
    assert stats.kills == KILLS
