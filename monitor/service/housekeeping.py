"""The daemon-wide jobs: deliver due alert notifications, flush the outbox at shutdown, retention."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from monitor.alerting.delivery import DispatchStats
from monitor.config import Config
from monitor.service.connection import StoreConnection
from monitor.service.jobs import JobGuard
from monitor.service.metrics import DaemonMetrics
from monitor.store import Store
from monitor.store.alerts import pending_notifications
from monitor.store.errors import describe_error
from monitor.store.retention import apply_retention

log = logging.getLogger("driftwatch.daemon")


def dispatch(
    store: Store, connection: StoreConnection, metrics: DaemonMetrics, deadline: float | None = None
) -> DispatchStats:
    """Deliver due alert notifications once (groups are started until ``deadline``, monotonic)."""
    assert connection.dispatcher is not None  # built with the store the job was given
    stats = connection.dispatcher.dispatch_once(deadline=deadline)
    metrics.observe_dispatch(
        delivered=stats.delivered,
        retried=stats.retried,
        failed=stats.failed,
        pending=pending_notifications(store.engine),
    )
    return stats


def flush_outbox(
    guard: JobGuard, connection: StoreConnection, metrics: DaemonMetrics, deadline: float
) -> None:
    """Deliver what is due until nothing is or ``deadline`` (monotonic) passes; log what remains."""
    delivered, store = 0, None
    while True:
        stats = guard.run("dispatch", None, lambda s: dispatch(s, connection, metrics, deadline), final=True)
        if stats is None:
            break
        delivered += stats.delivered
        store = connection.current
        if stats.left or not stats.claimed or time.monotonic() >= deadline:
            break
    try:
        remaining = pending_notifications(store.engine) if store is not None else None
    except Exception as exc:
        log.warning("Could not count the queued alert notifications: %s", describe_error(exc))
        remaining = None
    log.info(
        "Flushed the alert outbox: %d notification(s) delivered, %s still queued%s",
        delivered,
        "an unknown number" if remaining is None else remaining,
        " (delivered after the next start)" if remaining else "",
    )


def retention(store: Store, config: Config, now: datetime) -> dict[str, int]:
    """Delete events, outcomes, quarantine past ``daemon.event_retention_days``; prune reports.

    What the checks still need stays (:mod:`monitor.store.retention`).
    """
    from monitor.reports import prune_reports

    removed = {**apply_retention(store, config, now), "reports": 0}
    reports = prune_reports(Path(config.reports.dir), retention_days=config.reports.retention_days, now=now)
    removed["reports"] = len(reports)
    if any(removed.values()):
        log.info(
            "Retention removed %d event(s), %d outcome(s), %d quarantined row(s), %d report file(s)",
            removed["events"],
            removed["outcomes"],
            removed["quarantine"],
            removed["reports"],
        )
    return removed
