"""Delivery: from the outbox to receivers.

Delivery. :class:`Dispatcher` claims the due outbox rows of one (group, receiver) at a time
with a lease (``claimed_by`` holds a fresh token per claim, ``claimed_until``; on PostgreSQL the
claim's sub-select uses ``FOR UPDATE SKIP LOCKED``, on SQLite the single writer lock serialises
claims), merges them into one message, delivers it while a heartbeat extends the lease, and then
marks the rows delivered, conditional on the token (a claim that was lost changes nothing). A
failed attempt stores its backoff (``attempts``, ``next_attempt_at`` with exponential backoff
and jitter, at least the receiver's Retry-After, ``last_error``) on the rows.

Guarantees. A crash or restart never loses an alert: rows stay pending until a receiver
acknowledged them, and an expired lease hands them to the next dispatcher. A duplicate message
is possible in exactly two windows: the process dies (or its lease runs out) after the receiver
acknowledged a message and before the rows are marked delivered; or the receiver times out after
having accepted it (a timeout is retried, because losing an alert is worse than repeating one).

Broken receivers. A permanent error (bad token, unknown channel, missing environment variable,
HTTP 401/403/404/410 from a webhook) marks the receiver unhealthy in ``dw_alert_receivers`` and
fails the rows of that attempt; the receiver's other rows stay pending and are not attempted.
Everything is retried once the receiver's settings or secret change (a new identity hash,
checked on every dispatch) or after :meth:`Dispatcher.retry_failed` (``driftwatch alerts
retry``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from alerts.config import AlertsConfig
from alerts.delivery import DeliveryResult, Receiver
from alerts.notification import Notification, merge
from alerts.receivers import build_receiver
from monitor.store.alerts import (
    alert_outbox,
    notification_log,
    receiver_health,
)
from monitor.store.owner import default_owner
from monitor.windows import naive_utc

log = logging.getLogger("driftwatch.alerts")

#: Doublings of the delivery backoff counted at most (past ``max_backoff`` long before).
MAX_BACKOFF_DOUBLINGS = 20


@dataclass
class DispatchStats:
    """What one :meth:`Dispatcher.dispatch_once` did (``rows`` count outbox rows)."""

    claimed: int = 0
    messages: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    left: int = 0  #: due groups not started because the deadline passed


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    """Delivers pending outbox rows; safe to run in several processes on one database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
    config : alerts.config.AlertsConfig
    clock : callable returning datetime, default ``datetime.now(UTC)``
    owner : str, default ``"<hostname>-<pid>"``
        Written to ``claimed_by``; a fresh suffix per claim keeps claims apart.
    environ : mapping, default ``os.environ``
        Where receivers read their secrets.
    sleep : callable, default ``time.sleep``
        In-process waits of the Slack retry handlers.
    rng : random.Random, default a fresh one
        Jitter of the persisted backoff.
    receivers : mapping of str to Receiver, optional
        Receivers to use instead of those built from ``config``.
    heartbeat : float, default a third of ``delivery.lease`` in seconds
        How often the lease of a group being delivered is extended.
    """

    def __init__(
        self,
        engine: Engine,
        config: AlertsConfig,
        *,
        clock: Callable[[], datetime] = _utcnow,
        owner: str | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        receivers: Mapping[str, Receiver] | None = None,
        heartbeat: float | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self.heartbeat = config.delivery.lease.total_seconds() / 3 if heartbeat is None else heartbeat
        self.owner = owner or default_owner()
        self._rng = rng or random.Random()
        self.receivers: dict[str, Receiver] = dict(receivers or {})
        for spec in config.receivers:
            if spec.name not in self.receivers:
                self.receivers[spec.name] = build_receiver(
                    config, spec.name, environ=environ, clock=clock, sleep=sleep
                )

    def _now(self) -> datetime:
        return naive_utc(self.clock())

    def receiver_health(self) -> dict[str, bool | str]:
        """``True`` per healthy configured receiver, else its last permanent error."""
        with self.engine.connect() as conn:
            rows = {r.name: r for r in conn.execute(select(receiver_health))}
        out: dict[str, bool | str] = {}
        for name, receiver in self.receivers.items():
            row = rows.get(name)
            healthy = row is None or row.healthy or row.identity != receiver.identity()
            out[name] = True if healthy else (row.last_error or "unhealthy")
        return out

    def retry_failed(self, receiver: str | None = None) -> int:
        """Operator command: mark receivers healthy again and re-queue their failed rows."""
        now = self._now()
        with self.engine.begin() as conn:
            health = update(receiver_health).values(healthy=True, last_error=None, updated_at=now)
            rows = update(alert_outbox).where(alert_outbox.c.status == "failed")
            if receiver is not None:
                health = health.where(receiver_health.c.name == receiver)
                rows = rows.where(alert_outbox.c.receiver == receiver)
            conn.execute(health)
            count = conn.execute(rows.values(status="pending", attempts=0, next_attempt_at=now)).rowcount
        log.info("Re-queued %d failed alert notification(s)", count)
        return count

    def _revive_changed_receivers(self, now: datetime) -> None:
        with self.engine.begin() as conn:
            for row in conn.execute(
                select(receiver_health).where(receiver_health.c.healthy.is_(False))
            ).all():
                receiver = self.receivers.get(row.name)
                if receiver is None or receiver.identity() == row.identity:
                    continue
                log.info('Alert receiver "%s" changed since it failed; retrying its notifications', row.name)
                conn.execute(
                    update(receiver_health)
                    .where(receiver_health.c.name == row.name)
                    .values(healthy=True, last_error=None, identity=receiver.identity(), updated_at=now)
                )
                conn.execute(
                    update(alert_outbox)
                    .where(alert_outbox.c.receiver == row.name, alert_outbox.c.status == "failed")
                    .where(alert_outbox.c.last_outcome == "broken")
                    .values(status="pending", attempts=0, next_attempt_at=now)
                )

    def _usable_receivers(self) -> list[str]:
        return [name for name, ok in self.receiver_health().items() if ok is True]

    def _due(self, now: datetime, usable: list[str]) -> Any:
        free = or_(alert_outbox.c.claimed_until.is_(None), alert_outbox.c.claimed_until < now)
        return and_(
            alert_outbox.c.status == "pending",
            alert_outbox.c.next_attempt_at <= now,
            alert_outbox.c.receiver.in_(usable),
            free,
        )

    def _due_groups(self, now: datetime) -> list[tuple[str, str]]:
        """(receiver, group) pairs with due, unclaimed rows, oldest first."""
        usable = self._usable_receivers()
        if not usable:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(alert_outbox.c.receiver, alert_outbox.c.group_key)
                .where(self._due(now, usable))
                .group_by(alert_outbox.c.receiver, alert_outbox.c.group_key)
                .order_by(func.min(alert_outbox.c.id))
                .limit(self.config.delivery.batch_size)
            ).all()
        return [(r.receiver, r.group_key) for r in rows]

    def _claim(self, receiver: str, key: str, now: datetime) -> list[Any]:
        """Claim the due rows of one (receiver, group) under a fresh token; ``[]`` if another has them."""
        token = f"{self.owner}:{uuid.uuid4().hex[:8]}"
        due = and_(
            self._due(now, [receiver]), alert_outbox.c.receiver == receiver, alert_outbox.c.group_key == key
        )
        candidates = (
            select(alert_outbox.c.id)
            .where(due)
            .order_by(alert_outbox.c.id)
            .limit(self.config.delivery.batch_size)
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_outbox)
                .where(alert_outbox.c.id.in_(candidates), due)
                .values(claimed_by=token, claimed_until=now + self.config.delivery.lease)
            )
            return conn.execute(
                select(alert_outbox).where(alert_outbox.c.claimed_by == token).order_by(alert_outbox.c.id)
            ).all()

    def _extend(self, token: str) -> int:
        """Push the lease of ``token``'s rows to now + lease; the number of rows still held."""
        with self.engine.begin() as conn:
            return conn.execute(
                update(alert_outbox)
                .where(alert_outbox.c.claimed_by == token, alert_outbox.c.status == "pending")
                .values(claimed_until=self._now() + self.config.delivery.lease)
            ).rowcount

    @contextmanager
    def _leased(self, token: str) -> Iterator[None]:
        """Extend the claim every ``heartbeat`` seconds while the block (a delivery) runs."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat):
                try:
                    self._extend(token)
                except Exception as exc:  # the store is out of reach: the lease may lapse
                    log.warning("Could not extend the lease of claim %s: %s", token, type(exc).__name__)

        thread = threading.Thread(target=beat, name="driftwatch-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def dispatch_once(self, *, deadline: float | None = None) -> DispatchStats:
        """Deliver every due pending row once, merged per (group, receiver), one group claim at a time.

        Each group is claimed just before it is sent and its lease extended while it is sent, so
        a slow receiver never lets another dispatcher take the rows it is delivering. With a
        ``deadline`` (a ``time.monotonic()`` value) no group is started after it; the groups not
        reached count in ``stats.left``.
        """
        stats = DispatchStats()
        self._revive_changed_receivers(self._now())
        groups = self._due_groups(self._now())
        for i, (name, key) in enumerate(groups):
            if deadline is not None and time.monotonic() >= deadline:
                stats.left = len(groups) - i
                break
            rows = self._claim(name, key, self._now())
            if not rows:
                continue  # another dispatcher has this group
            stats.claimed += len(rows)
            notification = merge(Notification.from_payload(r.payload) for r in rows)
            with self._leased(rows[0].claimed_by):
                try:
                    result = self.receivers[name].deliver(notification)
                except Exception as exc:  # a receiver bug must not stop the other groups; the rows back off
                    log.exception('Alert receiver "%s" raised while delivering group "%s"', name, key)
                    result = DeliveryResult("retry", f"unexpected {type(exc).__name__} in receiver")
            stats.messages += 1
            self._settle(name, key, rows, result, stats)
        return stats

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        delivery = self.config.delivery
        doublings = min(max(0, attempts - 1), MAX_BACKOFF_DOUBLINGS)
        base = min(delivery.max_backoff, delivery.initial_backoff * 2**doublings)
        jittered = base * (0.5 + 0.5 * self._rng.random())
        return max(jittered, timedelta(seconds=retry_after or 0))

    def _settle(
        self, name: str, key: str, rows: list[Any], result: DeliveryResult, stats: DispatchStats
    ) -> None:
        now = self._now()
        ids = [r.id for r in rows]
        attempts = max(r.attempts for r in rows) + 1
        mine = and_(alert_outbox.c.id.in_(ids), alert_outbox.c.claimed_by == rows[0].claimed_by)
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_outcome": result.outcome}
        with self.engine.begin() as conn:
            if result.delivered:
                values.update(status="delivered", delivered_at=now, delivered_with=ids[-1], attempts=attempts)
                values["last_error"] = None
                marked = conn.execute(update(alert_outbox).where(mine).values(**values)).rowcount
                if marked < len(ids):
                    log.warning(
                        'Alert group "%s" to "%s" was delivered after its claim was lost (%d of %d rows '
                        "still ours); another dispatcher may deliver the rest again",
                        key,
                        name,
                        marked,
                        len(ids),
                    )
                stats.delivered += marked
                conn.execute(
                    update(notification_log)
                    .where(notification_log.c.receiver == name, notification_log.c.group_key == key)
                    .values(delivered_at=now)
                )
                self._set_health(conn, name, None, now)
                log.info('Delivered alert group "%s" to "%s" (%d notification(s))', key, name, len(ids))
                return
            values.update(attempts=attempts, last_error=result.detail)
            if result.outcome == "retry":
                delay = self._backoff(attempts, result.retry_after)
                values["next_attempt_at"] = now + delay
                stats.retried += conn.execute(update(alert_outbox).where(mine).values(**values)).rowcount
                log.warning(
                    'Alert group "%s" to "%s" failed (attempt %d: %s); retrying in %.0fs',
                    key,
                    name,
                    attempts,
                    result.detail,
                    delay.total_seconds(),
                )
                return
            values["status"] = "failed"
            stats.failed += conn.execute(update(alert_outbox).where(mine).values(**values)).rowcount
            if result.outcome == "broken":
                self._set_health(conn, name, result.detail, now)
                log.error(
                    'Alert receiver "%s" is unusable: %s. Its notifications wait until its configuration '
                    "or secret changes, or `driftwatch alerts retry --receiver %s`",
                    name,
                    result.detail,
                    name,
                )
            else:
                log.error('Alert receiver "%s" rejected group "%s": %s', name, key, result.detail)

    def _set_health(self, conn: Connection, name: str, error: str | None, now: datetime) -> None:
        """Record the receiver's health in one upsert: dispatchers settling at once never collide
        (a failed insert here would roll back the delivery it belongs to)."""
        values = {"healthy": error is None, "last_error": error, "identity": self.receivers[name].identity()}
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(receiver_health).values(name=name, updated_at=now, **values)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[receiver_health.c.name],
                set_={key: stmt.excluded[key] for key in ("updated_at", *values)},
            )
        )
