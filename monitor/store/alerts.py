"""Tables of the alert lifecycle: alert state, outbox, notification log, silences, receiver health.

Times are naive UTC like the rest of the store. The outbox is written in the same transaction
as a run's findings (:func:`monitor.alerting.recording.record_run_alerts`) and drained by
:class:`monitor.alerting.delivery.Dispatcher`; a row's backoff state (``attempts``, ``next_attempt_at``,
``last_error``) and its lease (``claimed_by``, ``claimed_until``) live on the row itself.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    update,
)

from alerts.lifecycle import AlertState
from alerts.notify import FiringMark, LogEntry
from alerts.silences import Silence
from monitor.store.schema import metadata
from monitor.windows import naive_utc

alert_states = Table(
    "dw_alerts",
    metadata,
    Column("fingerprint", String(16), primary_key=True),
    Column("model", String(64), nullable=False),
    Column("check_name", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # firing | resolved
    Column("starts_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("evaluated_until", DateTime, nullable=False),
    Column("ends_at", DateTime, nullable=True),
    Column("clear_windows", Integer, nullable=False, default=0),
    Column("annotations", JSON, nullable=False),
    Column("silenced_by", String(32), nullable=True),
    Column("last_run_id", BigInteger, nullable=True),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_dw_alerts_model_status", "model", "status"),
)

alert_outbox = Table(
    "dw_alert_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("model", String(64), nullable=False),
    Column("run_id", BigInteger, nullable=True),
    Column("group_key", String(512), nullable=False),
    Column("receiver", String(64), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_outcome", String(16), nullable=True),  # retry | broken | rejected | delivered
    Column("last_error", Text, nullable=True),
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_until", DateTime, nullable=True),
    Column("delivered_at", DateTime, nullable=True),
    Column("delivered_with", BigInteger, nullable=True),  # id of the row whose message carried this one
    Index("ix_dw_alert_outbox_due", "status", "next_attempt_at"),
    Index("ix_dw_alert_outbox_group", "receiver", "group_key", "status"),
)

notification_log = Table(
    "dw_alert_notifications",
    metadata,
    Column("receiver", String(64), primary_key=True),
    Column("group_key", String(512), primary_key=True),
    Column("firing", JSON, nullable=False),  # fingerprint -> [severity, episode start (ISO)]
    Column("sent_at", DateTime, nullable=False),  # when the last notification was queued to go
    Column("delivered_at", DateTime, nullable=True),  # when a receiver last acknowledged one
    Column("last_outbox_id", BigInteger, nullable=True),
)

silences = Table(
    "dw_alert_silences",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("matchers", JSON, nullable=False),
    Column("starts_at", DateTime, nullable=False),
    Column("ends_at", DateTime, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expired_at", DateTime, nullable=True),
)

receiver_health = Table(
    "dw_alert_receivers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("healthy", Boolean, nullable=False),
    Column("identity", String(16), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("updated_at", DateTime, nullable=False),
)

#: The alert tables, shared by every model; :func:`monitor.store.engine.migrate` creates them.
ALERT_TABLES = (alert_states, alert_outbox, notification_log, silences, receiver_health)


def _silence(row: Any) -> Silence:
    return Silence(
        id=row.id,
        matchers=dict(row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
    )


def add_silence(
    conn: Connection,
    matchers: dict[str, str],
    *,
    starts_at: datetime,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> Silence:
    """Store a new silence and return it (its ``id`` is a fresh 12-hex-digit token)."""
    if not matchers.get("model"):
        raise ValueError("a silence needs at least a model matcher")
    if naive_utc(ends_at) <= naive_utc(starts_at):
        raise ValueError("a silence must end after it starts")
    silence = Silence(
        uuid.uuid4().hex[:12], dict(matchers), naive_utc(starts_at), naive_utc(ends_at), created_by, comment
    )
    conn.execute(
        silences.insert().values(
            id=silence.id,
            matchers=silence.matchers,
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            created_by=created_by,
            comment=comment,
            created_at=naive_utc(now),
        )
    )
    return silence


def list_silences(conn: Connection, *, now: datetime, include_expired: bool = False) -> list[Silence]:
    """Silences that are active or pending at ``now`` (all of them with ``include_expired``)."""
    query = select(silences).order_by(silences.c.starts_at, silences.c.id)
    if not include_expired:
        query = query.where(silences.c.ends_at > naive_utc(now))
    return [_silence(row) for row in conn.execute(query)]


def expire_silence(conn: Connection, silence_id: str, *, now: datetime) -> bool:
    """End a silence now (the row stays, as history); False when it is unknown or already over."""
    moment = naive_utc(now)
    result = conn.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.ends_at > moment)
        .values(ends_at=moment, expired_at=moment)
    )
    return result.rowcount > 0


def state_from_row(row: Any) -> AlertState:
    """An :class:`~alerts.lifecycle.AlertState` from a ``dw_alerts`` row."""
    return AlertState(
        fingerprint=row.fingerprint,
        labels=dict(row.labels),
        severity=row.severity,
        status=row.status,
        starts_at=row.starts_at,
        last_seen_at=row.last_seen_at,
        evaluated_until=row.evaluated_until,
        ends_at=row.ends_at,
        clear_windows=row.clear_windows,
        annotations=dict(row.annotations),
        silenced_by=row.silenced_by,
    )


def save_state(
    conn: Connection, state: AlertState, *, exists: bool, run_id: int | None, now: datetime
) -> None:
    """Insert or update the ``dw_alerts`` row of ``state``."""
    values = {
        "model": state.labels["model"],
        "check_name": state.labels["check"],
        "subject": state.labels["subject"],
        "labels": dict(state.labels),
        "severity": state.severity,
        "status": state.status,
        "starts_at": state.starts_at,
        "last_seen_at": state.last_seen_at,
        "evaluated_until": state.evaluated_until,
        "ends_at": state.ends_at,
        "clear_windows": state.clear_windows,
        "annotations": dict(state.annotations),
        "silenced_by": state.silenced_by,
        "last_run_id": run_id,
        "updated_at": now,
    }
    if exists:
        conn.execute(
            update(alert_states).where(alert_states.c.fingerprint == state.fingerprint).values(**values)
        )
    else:
        conn.execute(alert_states.insert().values(fingerprint=state.fingerprint, **values))


def load_log_entry(conn: Connection, receiver: str, key: str) -> LogEntry | None:
    """The last notification queued for (``receiver``, group ``key``), if any."""
    row = conn.execute(
        select(notification_log).where(
            notification_log.c.receiver == receiver, notification_log.c.group_key == key
        )
    ).first()
    if row is None:
        return None
    firing = {fp: FiringMark(sev, datetime.fromisoformat(since)) for fp, (sev, since) in row.firing.items()}
    return LogEntry(firing=firing, sent_at=row.sent_at)


def pending_notifications(engine: Engine) -> int:
    """Alert notifications waiting in the outbox."""
    with engine.connect() as conn:
        query = select(func.count()).select_from(alert_outbox).where(alert_outbox.c.status == "pending")
        return int(conn.execute(query).scalar_one())
