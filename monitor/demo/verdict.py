"""Did driftwatch tell the scenario's story? Detections per fault, and silence in the clean weeks.

A fault that needs no labels (latency, covariate drift) counts as detected when its check
fires on one of its windows; the delay is measured from the first check of its first window.
A label-based fault can only be seen once the outcomes of its windows have arrived: its delay
is measured from the first evaluation in which one of its windows had mature labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.demo.replay import Evaluation
from monitor.demo.scenario import Fault, Scenario


@dataclass(frozen=True)
class Detection:
    """What driftwatch said about one fault, and when."""

    fault: Fault
    #: From when it could be seen: the first check of its first window, or label maturity.
    observable_at: datetime | None
    #: The first evaluation of one of its windows in which the expected check fired.
    alerted: Evaluation | None
    #: The first evaluation of one of its windows that recommended the expected action.
    recommended: Evaluation | None

    @property
    def delay(self) -> timedelta | None:
        """Time from :attr:`observable_at` to the alert."""
        if self.alerted is None or self.observable_at is None:
            return None
        return self.alerted.evaluated_at - self.observable_at

    def in_time(self, window: timedelta) -> bool:
        """Alerted (and, when an action is expected, recommended it) within one window."""
        if self.delay is None or self.delay > window:
            return False
        if self.fault.action is None:
            return True
        assert self.observable_at is not None
        return self.recommended is not None and self.recommended.evaluated_at - self.observable_at <= window


def _fault_windows(scenario: Scenario, fault: Fault, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    ends = {scenario.day_start(d + 1) for d in range(fault.start_day, fault.end_day)}
    return sorted((e for e in evaluations if e.window_end in ends), key=lambda e: e.evaluated_at)


def detect(scenario: Scenario, evaluations: Sequence[Evaluation]) -> list[Detection]:
    """One :class:`Detection` per fault of ``scenario``, in timeline order."""
    out = []
    for fault in sorted(scenario.faults, key=lambda f: f.start_day):
        windows = _fault_windows(scenario, fault, evaluations)
        if fault.needs_labels:
            observable = next((e.evaluated_at for e in windows if e.labels_mature), None)
        else:
            first_end = scenario.day_start(fault.start_day + 1)
            observable = next((e.evaluated_at for e in windows if e.window_end == first_end), None)
        alerted = next((e for e in windows if fault.check in e.firing), None)
        recommended = (
            next((e for e in windows if fault.action in e.recommendations), None) if fault.action else None
        )
        out.append(Detection(fault, observable, alerted, recommended))
    return out


def clean_period_alerts(scenario: Scenario, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Evaluations of windows before the first fault that raised anything (should be none)."""
    first = min((f.start_day for f in scenario.faults), default=scenario.days)
    limit = scenario.day_start(first)
    return [e for e in evaluations if e.window_end <= limit and (e.firing or e.recommendations)]


def summary(scenario: Scenario, detections: Sequence[Detection], window: timedelta) -> str:
    """The end of the story: per fault, when it started, when driftwatch said so, and what to do."""
    lines = ["What went wrong, and what driftwatch said:"]
    for d in detections:
        f = d.fault
        head = f"  {f.title:<24} from {scenario.day_start(f.start_day):%a %b %d} (day {f.start_day}): "
        if d.alerted is None:
            lines.append(head + f"NOT DETECTED by the {f.check} check")
            continue
        when = f"{d.alerted.evaluated_at:%a %b %d %H:%M}"
        since = "labels mature" if f.needs_labels else "first check of its first day"
        delay = d.delay or timedelta(0)
        lag = "at once" if delay <= timedelta(0) else f"{delay / window:.0f} window(s) later"
        action = "alert only (no model action)"
        if f.action:
            rec = d.recommended
            action = (
                f"recommended {f.action.replace('_', ' ').upper()} on {rec.evaluated_at:%a %b %d}"
                if rec
                else f"expected {f.action.replace('_', ' ')}, NOT recommended"
            )
        lines.append(head + f"{f.check} check alerted {when} ({lag} after {since}); {action}")
    return "\n".join(lines)
