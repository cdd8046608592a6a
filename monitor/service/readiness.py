"""What ``/readyz`` reports: the store answers, receivers and sources are healthy, no model is overdue.

:class:`Readiness` keeps the newest successful check per model (by any replica: read from the
store when it opens and whenever another replica held a model's check) and the models whose
newest window had no traffic. The store is probed in a thread of its own, one probe at a
time; an answer waits at most :data:`PROBE_TIMEOUT` for it, so ``/readyz`` and ``/metrics``
answer promptly even when the store never does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from monitor.config import Config
from monitor.service.connection import StoreConnection
from monitor.service.health import SourceHealth
from monitor.service.metrics import DaemonMetrics
from monitor.service.scheduling import ago, overdue_after
from monitor.store import Store
from monitor.store.errors import StoreUnavailable, describe_error, is_schema_gone
from monitor.store.runs import last_finished, stopped_traffic

#: Longest ``/readyz`` waits for the store's answer before saying it is unreachable.
PROBE_TIMEOUT = 2.0


@dataclass
class _Probe:
    """One readiness probe of the store, running in its own thread."""

    started: float
    done: threading.Event = field(default_factory=threading.Event)
    reasons: list[str] = field(default_factory=list)


class Readiness:
    """Readiness of one daemon: its store connection, ingestion sources and models' last checks."""

    def __init__(
        self,
        connection: StoreConnection,
        *,
        sources: SourceHealth,
        metrics: DaemonMetrics,
        clock: Callable[[], datetime],
        started_at: datetime,
    ) -> None:
        self.connection = connection
        self.sources = sources
        self.metrics = metrics
        self.clock = clock
        self.started_at = started_at
        self._last_check: dict[str, datetime] = {}
        self._no_traffic: dict[str, str] = {}
        self._probe: _Probe | None = None
        self._probe_guard = threading.Lock()

    # -- what the store says ----------------------------------------------------------------

    def load(self, store: Store) -> None:
        """Newest finished run per model, by any replica (so readiness sees their work too)."""
        for model, finished in last_finished(store.engine).items():
            self.checked(model, finished)
        self.refresh_traffic(store)

    def refresh_traffic(self, store: Store) -> None:
        self._no_traffic = stopped_traffic(store.engine)

    def checked(self, model: str, moment: datetime) -> None:
        """A check cycle of ``model`` succeeded at ``moment``."""
        known = self._last_check.get(model)
        if known is None or moment > known:
            self._last_check[model] = moment

    def last_checks(self, config: Config) -> dict[str, datetime | None]:
        """Last successful check cycle per configured model (``None``: not yet)."""
        return {m.name: self._last_check.get(m.name) for m in config.models}

    def no_traffic(self) -> dict[str, str]:
        """Models whose newest checked window had no traffic where rows were expected."""
        return dict(self._no_traffic)

    # -- the report -----------------------------------------------------------------------

    def report(self, config: Config) -> tuple[bool, list[str]]:
        """Ready when the store answers, every alert receiver is healthy and no model is overdue."""
        reasons = self._probe_store()
        reasons.extend(self.sources.problems())
        now = self.clock()
        for model in config.models:
            since = self._last_check.get(model.name) or self.started_at
            limit = overdue_after(model, config.daemon)
            if now - since > limit:
                reasons.append(
                    f'model "{model.name}" is overdue: last successful check {ago(now - since)} ago '
                    f"(limit {ago(limit)})"
                )
        self.metrics.ready.set(0 if reasons else 1)
        return not reasons, reasons

    def _probe_store(self) -> list[str]:
        with self._probe_guard:
            probe = self._probe
            if probe is None or probe.done.is_set():
                probe = self._probe = _Probe(time.monotonic())
                threading.Thread(
                    target=self._run_probe, args=(probe,), name="driftwatch-probe", daemon=True
                ).start()
        if not probe.done.wait(PROBE_TIMEOUT):
            self.metrics.store_up.set(0)
            waited = time.monotonic() - probe.started
            last = self.connection.error or "none"
            return [f"store unreachable: no answer for {waited:.0f}s (last error: {last})"]
        return probe.reasons

    def _run_probe(self, probe: _Probe) -> None:
        """``SELECT 1`` and the receivers' health; the reasons go on ``probe``."""
        try:
            self.connection.open().ping()
            dispatcher = self.connection.dispatcher
            health = dispatcher.receiver_health() if dispatcher is not None else {}
        except StoreUnavailable as exc:
            probe.reasons.append(str(exc))
        except Exception as exc:
            if is_schema_gone(exc):
                self.connection.close()
            probe.reasons.append(f"store unreachable: {describe_error(exc)}")
        else:
            for name, status in health.items():
                if status is not True:
                    probe.reasons.append(f'alert receiver "{name}" is unhealthy: {status}')
        self.metrics.store_up.set(0 if probe.reasons and probe.reasons[0].startswith("store") else 1)
        probe.done.set()
