"""The life of one alert across evaluated windows: fire, stay, clear with hysteresis, resolve.

Pure: a state and an observation in, the next state and what happened out. The clock is the
``now`` argument.

A window counts towards resolution only when the alert's check ran (was not skipped) and the
window is newer than any window already evaluated for the alert, so re-evaluating an old window
(late labels) can fire an alert but never resolves one early.

>>> from datetime import datetime, timedelta
>>> t = datetime(2026, 1, 1)
>>> a = Alert({"model": "m", "check": "c", "subject": "s"}, "alert")
>>> s, what = observe(None, a, window_end=t, now=t, resolve_after_windows=2)
>>> what, s.status
('fired', 'firing')
>>> s, what = observe(s, None, window_end=t + timedelta(days=1), now=t, resolve_after_windows=2)
>>> what, s.status, s.clear_windows
('clearing', 'firing', 1)
>>> s, what = observe(s, None, window_end=t + timedelta(days=2), now=t, resolve_after_windows=2)
>>> what, s.status
('resolved', 'resolved')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from alerts.alert import Alert

AlertStatus = Literal["firing", "resolved"]
Transition = Literal["fired", "refired", "refreshed", "clearing", "resolved", "timed_out", "unchanged"]


@dataclass(frozen=True)
class AlertState:
    """What the store remembers about one alert (one fingerprint)."""

    fingerprint: str
    labels: Mapping[str, str]
    severity: str
    status: AlertStatus
    starts_at: datetime
    last_seen_at: datetime
    evaluated_until: datetime
    ends_at: datetime | None = None
    clear_windows: int = 0
    annotations: Mapping[str, Any] = field(default_factory=dict)
    silenced_by: str | None = None

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    @property
    def route_labels(self) -> dict[str, str]:
        """Labels routes and silences match on: the identity labels plus ``severity``."""
        return {**self.labels, "severity": self.severity}


def observe(
    state: AlertState | None,
    alert: Alert | None,
    *,
    window_end: datetime,
    now: datetime,
    resolve_after_windows: int,
) -> tuple[AlertState | None, Transition]:
    """Apply one evaluated window: ``alert`` is the finding's alert, or None when it is absent.

    Parameters
    ----------
    state : AlertState or None
        The alert's current state (None: never seen).
    alert : Alert or None
        The alert raised by this window, or None when the check ran and did not raise it.
    window_end : datetime
        End of the evaluated window.
    now : datetime
        The clock.
    resolve_after_windows : int
        Consecutive newer windows without the finding that resolve a firing alert.
    """
    if alert is not None:
        newest = window_end if state is None else max(state.evaluated_until, window_end)
        if state is None or not state.firing:
            fresh = AlertState(
                fingerprint=alert.fingerprint,
                labels=dict(alert.labels),
                severity=alert.severity,
                status="firing",
                starts_at=now,
                last_seen_at=now,
                evaluated_until=newest,
                annotations=dict(alert.annotations),
            )
            return fresh, "fired" if state is None else "refired"
        updated = replace(
            state,
            severity=alert.severity,
            last_seen_at=now,
            evaluated_until=newest,
            clear_windows=0,
            annotations=dict(alert.annotations),
        )
        return updated, "refreshed"
    if state is None or not state.firing or window_end <= state.evaluated_until:
        return state, "unchanged"
    cleared = state.clear_windows + 1
    if cleared >= resolve_after_windows:
        resolved = replace(
            state, status="resolved", ends_at=now, clear_windows=cleared, evaluated_until=window_end
        )
        return resolved, "resolved"
    return replace(state, clear_windows=cleared, evaluated_until=window_end), "clearing"


def expire(
    state: AlertState, *, now: datetime, resolve_timeout: timedelta | None
) -> tuple[AlertState, Transition]:
    """Resolve a firing alert that has not been seen for ``resolve_timeout`` (None: never)."""
    if resolve_timeout is None or not state.firing or now - state.last_seen_at < resolve_timeout:
        return state, "unchanged"
    return replace(state, status="resolved", ends_at=now), "timed_out"
