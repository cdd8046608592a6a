"""A notification: the alerts of one group for one receiver, with the run that raised them.

It is stored as JSON in the outbox (:meth:`Notification.to_payload`), and several pending ones
of one group and receiver merge into one message (:func:`merge`) when a receiver that was down
comes back: every alert appears once, in its latest state.

>>> n = Notification(group_key="model=m", receiver="console", model="m", reason="first_notification",
...                  alerts=(AlertView("fp1", {"model": "m"}, "alert", "firing", "2026-01-01T00:00:00"),))
>>> Notification.from_payload(n.to_payload()) == n
True
>>> merge([n, n]).merged_count
2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from alerts.alert import SEVERITY_RANK

PAYLOAD_VERSION = 1
#: Reasons of a notification that tells the receiver of alerts it has not heard of firing yet.
NEWS = frozenset({"first_notification", "new_alerts", "escalated"})


@dataclass(frozen=True)
class AlertView:
    """One alert as a notification shows it."""

    fingerprint: str
    labels: Mapping[str, str]
    severity: str
    status: Literal["firing", "resolved"]
    starts_at: str
    ends_at: str | None = None
    annotations: Mapping[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        message = self.annotations.get("message")
        return str(message) if message else f"{self.labels.get('check')}: {self.labels.get('subject')}"


@dataclass(frozen=True)
class RunInfo:
    run_id: int | None
    window_start: str | None
    window_end: str | None
    model_version: str | None = None
    report_url: str | None = None
    no_action_reason: str | None = None  #: why the policy recommends nothing, when it does not


@dataclass(frozen=True)
class Notification:
    group_key: str
    receiver: str
    model: str
    reason: str
    alerts: tuple[AlertView, ...]
    run: RunInfo = RunInfo(None, None, None)
    recommendations: tuple[Mapping[str, Any], ...] = ()
    silenced: int = 0
    merged_count: int = 1
    test: bool = False

    @property
    def firing(self) -> tuple[AlertView, ...]:
        return tuple(
            sorted(
                (a for a in self.alerts if a.status == "firing"),
                key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), a.title),
            )
        )

    @property
    def resolved(self) -> tuple[AlertView, ...]:
        return tuple(a for a in self.alerts if a.status == "resolved")

    @property
    def severity(self) -> str:
        """The worst severity among firing alerts; ``resolved`` when none fires."""
        firing = self.firing
        return firing[0].severity if firing else "resolved"

    def to_payload(self) -> dict[str, Any]:
        return {
            "version": PAYLOAD_VERSION,
            "group_key": self.group_key,
            "receiver": self.receiver,
            "model": self.model,
            "reason": self.reason,
            "alerts": [
                {
                    "fingerprint": a.fingerprint,
                    "labels": dict(a.labels),
                    "severity": a.severity,
                    "status": a.status,
                    "starts_at": a.starts_at,
                    "ends_at": a.ends_at,
                    "annotations": dict(a.annotations),
                }
                for a in self.alerts
            ],
            "run": vars(self.run).copy(),
            "recommendations": [dict(r) for r in self.recommendations],
            "silenced": self.silenced,
            "merged_count": self.merged_count,
            "test": self.test,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notification:
        return cls(
            group_key=payload["group_key"],
            receiver=payload["receiver"],
            model=payload["model"],
            reason=payload["reason"],
            alerts=tuple(AlertView(**a) for a in payload["alerts"]),
            run=RunInfo(**payload["run"]),
            recommendations=tuple(payload["recommendations"]),
            silenced=payload.get("silenced", 0),
            merged_count=payload.get("merged_count", 1),
            test=payload.get("test", False),
        )


def merge(notifications: Iterable[Notification]) -> Notification:
    """Merge pending notifications of one group and receiver, oldest first, into one.

    Each alert appears once in its latest state; run and recommendations are the newest, and so
    is the reason, except that a merge holding anything but repeats is not a repeat (the
    receiver has not seen all of it), and that alerts first announced in these pending rows
    and resolved since are never presented as a bare resolution: the reason becomes
    ``fired_and_resolved`` (the receiver hears of them for the first time).
    """
    items = list(notifications)
    if not items:
        raise ValueError("merge() needs at least one notification")
    latest: dict[str, AlertView] = {}
    announced: set[str] = set()
    for item in items:
        for alert in item.alerts:
            latest.pop(alert.fingerprint, None)
            latest[alert.fingerprint] = alert
            if alert.status == "firing" and item.reason in NEWS:
                announced.add(alert.fingerprint)
    newest = items[-1]
    reasons = [i.reason for i in items if i.reason != "repeat_due"]
    reason = reasons[-1] if reasons else newest.reason
    views = latest.values()
    if not any(a.status == "firing" for a in views) and any(a.fingerprint in announced for a in views):
        reason = "fired_and_resolved"
    return replace(
        newest,
        reason=reason,
        alerts=tuple(latest.values()),
        silenced=max(i.silenced for i in items),
        merged_count=sum(i.merged_count for i in items),
    )
