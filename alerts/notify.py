"""Whether a group's new state needs a notification to one receiver: a pure, table-tested decision.

The last entry of the notification log (what was last queued for this group and receiver) is
compared with the group's current firing alerts and the alerts resolved by this evaluation.
Each firing alert is marked with its severity and the start of its episode, so an alert that
resolved and fired again is new even when its resolution was never sent.

>>> from datetime import datetime, timedelta
>>> t = datetime(2026, 1, 1, 12)
>>> a = {"fp1": FiringMark("alert", t)}
>>> notify_reason(None, a, frozenset(), send_resolved=True, repeat_interval=timedelta(hours=4), now=t)
Decision(send=True, reason='first_notification')
>>> last = LogEntry(firing=a, sent_at=t)
>>> notify_reason(last, a, frozenset(), send_resolved=True, repeat_interval=timedelta(hours=4),
...               now=t + timedelta(hours=1))
Decision(send=False, reason='unchanged_within_repeat_interval')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from alerts.alert import SEVERITY_RANK


class FiringMark(NamedTuple):
    """What identifies one firing episode of an alert in the notification log."""

    severity: str
    since: datetime


@dataclass(frozen=True)
class LogEntry:
    """The last notification queued for one (group, receiver)."""

    firing: Mapping[str, FiringMark]
    sent_at: datetime


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: str


def notify_reason(
    last: LogEntry | None,
    firing: Mapping[str, FiringMark],
    resolved: frozenset[str],
    *,
    send_resolved: bool,
    repeat_interval: timedelta,
    now: datetime,
) -> Decision:
    """Decide whether to notify, and say why.

    Parameters
    ----------
    last : LogEntry or None
        The last notification queued for this group and receiver (None: never).
    firing : mapping of str to FiringMark
        The group's firing, unsilenced alerts by fingerprint.
    resolved : frozenset of str
        Fingerprints of the group's alerts resolved by this evaluation.
    send_resolved : bool
        Whether the receiver wants resolve notifications.
    repeat_interval : timedelta
        Minimum time before an unchanged firing group is sent again.
    now : datetime
        The clock.

    Returns
    -------
    Decision
        ``send`` and a ``reason``: ``first_notification``, ``new_alerts``, ``escalated``,
        ``resolved``, ``repeat_due`` (send) or ``nothing_firing``, ``resolved_never_notified``,
        ``resolved_not_sent``, ``unchanged_within_repeat_interval`` (do not send).
    """
    notified_resolved = resolved & set(last.firing) if last is not None else frozenset()
    if last is None:
        if firing:
            return Decision(True, "first_notification")
        return Decision(False, "resolved_never_notified" if resolved else "nothing_firing")
    if any(fp not in last.firing or last.firing[fp].since != mark.since for fp, mark in firing.items()):
        return Decision(True, "new_alerts")
    if any(
        SEVERITY_RANK[mark.severity] > SEVERITY_RANK[last.firing[fp].severity] for fp, mark in firing.items()
    ):
        return Decision(True, "escalated")
    if notified_resolved and send_resolved:
        return Decision(True, "resolved")
    if firing:
        if now - last.sent_at >= repeat_interval:
            return Decision(True, "repeat_due")
        return Decision(False, "unchanged_within_repeat_interval")
    if notified_resolved:
        return Decision(False, "resolved_not_sent")
    return Decision(False, "resolved_never_notified" if resolved else "nothing_firing")
