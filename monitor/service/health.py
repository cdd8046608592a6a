"""The health of each ingestion source, for ``/readyz`` and ``/metrics``.

Every ingestion pass records, per source, whether it could be read at all and how many of
its files were quarantined whole as unreadable. A source that failed its last pass (its
database unreachable, its URL variable unset) makes the daemon not ready; an unreadable
file does not (its rows are in quarantine with the reason, the other files were read), but
shows in ``driftwatch_source_unreadable_files``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass(frozen=True)
class SourceState:
    """The outcome of a source's last ingestion pass."""

    error: str | None
    unreadable_files: int
    at: datetime


class SourceHealth(Collector):
    """Per ``(model, source)``: the last pass's state; also a Prometheus collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], SourceState] = {}

    def record(
        self, model: str, source: str, *, at: datetime, error: str | None = None, unreadable_files: int = 0
    ) -> None:
        """Record a pass of ``source``: ``error`` if it could not be read at all."""
        with self._lock:
            self._states[(model, source)] = SourceState(error, unreadable_files, at)

    def states(self) -> dict[tuple[str, str], SourceState]:
        with self._lock:
            return dict(self._states)

    def problems(self) -> list[str]:
        """Readiness reasons: the sources whose last pass failed."""
        return [
            f'source "{source}" of model "{model}" is failing: {state.error}'
            for (model, source), state in sorted(self.states().items())
            if state.error is not None
        ]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "driftwatch_source_up",
            "1 when the source's last ingestion pass could read it, else 0.",
            labels=["model", "source"],
        )
        unreadable = GaugeMetricFamily(
            "driftwatch_source_unreadable_files",
            "Files of the source quarantined whole as unreadable in its last ingestion pass.",
            labels=["model", "source"],
        )
        for (model, source), state in sorted(self.states().items()):
            up.add_metric([model, source], 0.0 if state.error else 1.0)
            unreadable.add_metric([model, source], float(state.unreadable_files))
        yield up
        yield unreadable
