"""Read the next window of a model while the current one is checked.

A job that checks several windows in a row (catching up after downtime, a backfill) reads a
window, then checks it: the read waits on SQLite's helper process or on PostgreSQL, the
checks on the CPU. :class:`ReadAhead` reads the next window on a thread of its own meanwhile,
so the two overlap. It keeps at most one window ahead.

Only a window read whole is read ahead: not a PostgreSQL window above
``[store] pushdown_rows`` (that one is sampled, and is counted first to know), not an in-place
model's. A read ahead that failed is read again by the caller, so its error is raised where it
always was. Labels that arrive between the read ahead and the check are picked up when the
window is re-evaluated for new labels (:mod:`monitor.pipeline.due`), as after any check.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.config import ModelConfig
from monitor.store import Store
from monitor.store.windows import read_window, window_counts

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("driftwatch.runner")

Key = tuple[str, datetime, datetime]


class ReadAhead:
    """At most one window of one store read ahead, handed to the check that asks for it."""

    def __init__(self, store: Store, pushdown_rows: int) -> None:
        self.store = store
        self.pushdown_rows = pushdown_rows
        self._pending: tuple[Key, Future[pd.DataFrame | None]] | None = None

    def start(self, model: ModelConfig, start: datetime, end: datetime) -> None:
        """Begin reading the window ``[start, end)`` of ``model`` (forgetting any other read ahead)."""
        key = (model.name, start, end)
        if model.data is not None or (self._pending is not None and self._pending[0] == key):
            return
        future: Future[pd.DataFrame | None] = Future()
        self._pending = (key, future)

        def read() -> None:
            try:
                large = (
                    self.store.dialect == "postgresql"
                    and window_counts(self.store, model, start, end).predictions > self.pushdown_rows
                )
                future.set_result(None if large else read_window(self.store, model, start, end))
            except BaseException as exc:  # handed to take(), which reads again
                future.set_exception(exc)

        threading.Thread(target=read, name=f"read-ahead:{model.name}", daemon=True).start()

    def take(self, model: ModelConfig, start: datetime, end: datetime) -> pd.DataFrame | None:
        """The window read ahead, waiting for it; ``None`` if it was not (or could not be) read ahead."""
        pending, self._pending = self._pending, None
        if pending is None or pending[0] != (model.name, start, end):
            return None
        try:
            return pending[1].result()
        except Exception as exc:
            log.debug(
                'Reading ahead model "%s" window ending %s failed (%s); reading it now', model.name, end, exc
            )
            return None
