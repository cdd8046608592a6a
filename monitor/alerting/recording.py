"""Recording: from a stored run to alert state and outbox rows.

:func:`record_run_alerts` runs inside the runner's transaction, the one that stores
the run's findings: it advances each alert's lifecycle (:mod:`alerts.lifecycle`), applies
silences, routes and groups the alerts, asks :func:`alerts.notify.notify_reason` whether each
(group, receiver) needs a message, and writes one outbox row per message plus the notification
log entry. Findings, alert state and outbox commit together or not at all.

Delivery of those rows is :mod:`monitor.alerting.delivery`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, and_, select, update

from alerts.alert import Alert, alerts_from_run, evaluated_checks
from alerts.config import AlertsConfig
from alerts.lifecycle import AlertState, expire, observe
from alerts.notification import AlertView, Notification, RunInfo
from alerts.notify import FiringMark, notify_reason
from alerts.routing import Route, group_key, routes_for
from alerts.silences import silenced_by
from checks.result import ModelRun
from monitor.store.alerts import (
    alert_outbox,
    alert_states,
    list_silences,
    load_log_entry,
    notification_log,
    save_state,
    state_from_row,
)
from monitor.windows import naive_utc

log = logging.getLogger("driftwatch.alerts")

#: Doublings of the delivery backoff counted at most (past ``max_backoff`` long before).
MAX_BACKOFF_DOUBLINGS = 20


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _view(state: AlertState) -> AlertView:
    return AlertView(
        fingerprint=state.fingerprint,
        labels=dict(state.labels),
        severity=state.severity,
        status=state.status,
        starts_at=state.starts_at.isoformat(),
        ends_at=_iso(state.ends_at),
        annotations=dict(state.annotations),
    )


@dataclass
class _Group:
    route: Route
    receiver: str
    key: str
    firing: dict[str, AlertState]
    resolved: dict[str, AlertState]
    silenced: int = 0


def _advance_states(
    conn: Connection, run: ModelRun, config: AlertsConfig, now: datetime
) -> tuple[dict[str, AlertState], set[str]]:
    """Apply the run to every alert of its model; returns the new states and the just-resolved."""
    rows = conn.execute(select(alert_states).where(alert_states.c.model == run.model)).all()
    before = {row.fingerprint: state_from_row(row) for row in rows}
    seen: dict[str, Alert] = {a.fingerprint: a for a in alerts_from_run(run)}
    ran = evaluated_checks(run)
    window_end = naive_utc(run.window_end)
    windows = config.resolve_after_windows
    after: dict[str, AlertState] = {}
    just_resolved: set[str] = set()
    for fp in before.keys() | seen.keys():
        state, alert = before.get(fp), seen.get(fp)
        if state is not None and alert is None and state.labels["check"] not in ran:
            new, what = expire(state, now=now, resolve_timeout=config.resolve_timeout)
        else:
            new, what = observe(state, alert, window_end=window_end, now=now, resolve_after_windows=windows)
        if new is None:
            continue
        if what in {"resolved", "timed_out"}:
            just_resolved.add(fp)
        if what != "unchanged" or fp in seen:
            log.debug('Alert "%s" %s (%s)', fp, what, dict(new.labels))
        after[fp] = new
    active_silences = list_silences(conn, now=now)
    for fp, state in after.items():
        silence = silenced_by(active_silences, state.route_labels, now=now)
        after[fp] = replace(state, silenced_by=silence.id if silence else None)
        if after[fp] != before.get(fp):
            save_state(conn, after[fp], exists=fp in before, run_id=run.run_id, now=now)
    return after, just_resolved


def _groups(states: Mapping[str, AlertState], just_resolved: set[str], config: AlertsConfig) -> list[_Group]:
    groups: dict[tuple[str, str], _Group] = {}
    for fp, state in states.items():
        if not state.firing and fp not in just_resolved:
            continue
        labels = state.route_labels
        for route in routes_for(config.route, labels):
            key = group_key(route, labels)
            for receiver in route.receivers:
                group = groups.setdefault((receiver, key), _Group(route, receiver, key, {}, {}))
                if state.silenced_by is not None:
                    group.silenced += int(state.firing)
                elif state.firing:
                    group.firing[fp] = state
                else:
                    group.resolved[fp] = state
    return list(groups.values())


def record_run_alerts(
    conn: Connection, run: ModelRun, config: AlertsConfig, *, now: datetime, page: bool = True
) -> int:
    """Update alert state for ``run`` and queue its notifications, inside the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        An open connection inside the transaction that stores the run's findings.
    run : checks.result.ModelRun
        The run (``run_id``, ``report_url`` set when known).
    config : alerts.config.AlertsConfig
    now : datetime
        The clock (aware or naive UTC).
    page : bool, default True
        False for history (a backfill, a window past ``max_notify_age``): alert state advances,
        nothing is queued and the notification log is left alone, so the next live run
        announces what still fires as new and never a resolution nobody was paged about.

    Returns
    -------
    int
        Number of notifications queued in the outbox.
    """
    now = naive_utc(now)
    states, just_resolved = _advance_states(conn, run, config, now)
    if not page:
        return 0
    info = RunInfo(
        run_id=run.run_id,
        window_start=_iso(naive_utc(run.window_start)),
        window_end=_iso(naive_utc(run.window_end)),
        model_version=run.model_version,
        report_url=run.report_url,
        no_action_reason=run.no_action_reason,
    )
    recommendations = tuple(r.to_dict() for r in run.recommendations)
    queued = 0
    for group in _groups(states, just_resolved, config):
        receiver = config.receiver(group.receiver)
        send_resolved = (
            group.route.send_resolved if receiver.send_resolved is None else receiver.send_resolved
        )
        firing = {fp: FiringMark(s.severity, s.starts_at) for fp, s in group.firing.items()}
        last = load_log_entry(conn, group.receiver, group.key)
        decision = notify_reason(
            last,
            firing,
            frozenset(group.resolved),
            send_resolved=send_resolved,
            repeat_interval=group.route.repeat_interval,
            now=now,
        )
        log.debug('Group "%s" to "%s": %s', group.key, group.receiver, decision.reason)
        if not decision.send:
            continue
        if last is None:
            due = now + group.route.group_wait
        elif decision.reason == "repeat_due":
            due = now
        else:
            due = max(now, last.sent_at + group.route.group_interval)
        resolved = group.resolved.values() if send_resolved else ()
        alerts = tuple(_view(s) for s in [*group.firing.values(), *resolved])
        notification = Notification(
            group.key,
            group.receiver,
            run.model,
            decision.reason,
            alerts,
            info,
            recommendations,
            group.silenced,
        )
        row_id = conn.execute(
            alert_outbox.insert().values(
                created_at=now,
                model=run.model,
                run_id=run.run_id,
                group_key=group.key,
                receiver=group.receiver,
                reason=decision.reason,
                payload=notification.to_payload(),
                status="pending",
                attempts=0,
                next_attempt_at=due,
            )
        ).inserted_primary_key[0]
        marks = {fp: [m.severity, m.since.isoformat()] for fp, m in firing.items()}
        entry = {"firing": marks, "sent_at": due, "last_outbox_id": row_id}
        where = and_(notification_log.c.receiver == group.receiver, notification_log.c.group_key == group.key)
        if last is None:
            conn.execute(
                notification_log.insert().values(receiver=group.receiver, group_key=group.key, **entry)
            )
        else:
            conn.execute(update(notification_log).where(where).values(**entry))
        queued += 1
    return queued
