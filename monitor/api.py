"""The Python API: log predictions and outcomes from a serving process or a notebook.

>>> from monitor.api import Driftwatch                      # doctest: +SKIP
>>> dw = Driftwatch("config.toml")                          # doctest: +SKIP
>>> dw.log_predictions("fraud", frame).summary()            # doctest: +SKIP
'1,000 rows: 998 stored, 0 already stored, 2 quarantined'
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from monitor.config import Config, load_config
from monitor.ingest import IngestCounts, ingest_frame
from monitor.store import Store, open_store


class Driftwatch:
    """A handle on the configured store; the same validation and quarantine as file ingestion."""

    def __init__(
        self,
        config: str | os.PathLike[str] | Config = "config.toml",
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self.clock = clock
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config)
        return self._store

    def log_predictions(self, model: str, frame: pd.DataFrame, *, source: str = "python-api") -> IngestCounts:
        """Store prediction events (idempotent by id); bad rows are quarantined with reasons."""
        return self._log(model, "predictions", frame, source)

    def log_outcomes(self, model: str, frame: pd.DataFrame, *, source: str = "python-api") -> IngestCounts:
        """Store outcomes (labels), joined to their predictions by id whenever those arrive."""
        return self._log(model, "outcomes", frame, source)

    def _log(self, model: str, kind: str, frame: pd.DataFrame, source: str) -> IngestCounts:
        return ingest_frame(
            self.store, self.config.model(model), kind, frame, source=source, now=self.clock()
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def __enter__(self) -> Driftwatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
