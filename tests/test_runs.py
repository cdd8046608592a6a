"""Run claims: exactly once per (model, window), taken over when the owner died."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

from monitor.pipeline.runner import owner_gone
from monitor.store.runs import checked_window_ends, claim_window

END = datetime(2026, 10, 2, tzinfo=UTC)
START = END - timedelta(days=1)
NOW = END + timedelta(minutes=5)


def dead_owner() -> str:
    return f"{socket.gethostname()}-999999999"


def test_second_claim_of_a_window_is_refused(store):
    assert claim_window(store.engine, "fraud", START, END, owner="a", now=NOW) is not None
    assert claim_window(store.engine, "fraud", START, END, owner="b", now=NOW) is None


def test_window_of_a_dead_local_owner_is_due_again_at_once(store):
    assert owner_gone(dead_owner()) and not owner_gone(f"{socket.gethostname()}-1")
    assert not owner_gone("another-host-12345")
    claim_window(store.engine, "fraud", START, END, owner=dead_owner(), now=NOW)
    assert checked_window_ends(store.engine, "fraud", START - timedelta(days=1), now=NOW) == {END}
    due = checked_window_ends(store.engine, "fraud", START - timedelta(days=1), now=NOW, is_gone=owner_gone)
    assert due == set()
    claim_window(
        store.engine, "fraud", START + timedelta(days=1), END + timedelta(days=1), owner="x-1", now=NOW
    )
    lease_over = NOW + timedelta(hours=1)
    assert checked_window_ends(store.engine, "fraud", START, now=lease_over) == set()
