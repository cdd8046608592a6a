"""Silences as data: label matchers plus a time window; whether one is active comes from the clock.

Editing a silence is expiring it and creating another, so the history stays.

>>> from datetime import datetime, timedelta
>>> t0 = datetime(2026, 1, 1)
>>> s = Silence(id="s1", matchers={"model": "fraud"}, starts_at=t0, ends_at=t0 + timedelta(days=2),
...             created_by="oncall", comment="retraining")
>>> s.silences({"model": "fraud", "check": "drift", "subject": "x", "severity": "alert"}, now=t0)
True
>>> s.silences({"model": "churn"}, now=t0), s.active(t0 + timedelta(days=3))
(False, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from alerts.routing import matches


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def silences(self, labels: Mapping[str, str], *, now: datetime) -> bool:
        """Whether this silence is active and every matcher holds for ``labels``."""
        return self.active(now) and matches(self.matchers, labels)


def silenced_by(silences: Iterable[Silence], labels: Mapping[str, str], *, now: datetime) -> Silence | None:
    """The first active silence matching ``labels``, if any."""
    return next((s for s in silences if s.silences(labels, now=now)), None)
