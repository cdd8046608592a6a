"""The demo's timeline: clean weeks, then five faults, each with a known onset and fix.

Faults come one after another, each active for a few days and then fixed, as a team acting
on the alert would; every fault window is followed by clean days, so each alert resolves
(and says so) before the next fault starts. Days are counted from the first day of the
reference period (day 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.demo.world import Conditions

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Fault:
    """One thing that goes wrong in production, from ``start_day`` for ``days`` days.

    ``check`` is the check expected to see it and ``action`` the recommendation it calls
    for (``None``: an alert, no model action); ``needs_labels`` says whether it can only be
    seen once the outcomes of its windows have arrived.
    """

    kind: str
    title: str
    story: str
    start_day: int
    days: int
    check: str
    action: str | None
    needs_labels: bool

    @property
    def end_day(self) -> int:
        """The first day after the fix."""
        return self.start_day + self.days

    def active(self, day: int) -> bool:
        return self.start_day <= day < self.end_day


#: Fault kinds understood by :mod:`monitor.demo.serving`.
KINDS = ("latency", "calibration", "class_balance", "segment", "drift")


#: The five faults: (kind, title, story, check, action, needs labels), in timeline order.
#: Label-based faults come first, so that their labels mature before the scenario ends.
FAULTS: tuple[tuple[str, str, str, str, str | None, bool], ...] = (
    (
        "calibration",
        "Calibration decay",
        "model 1.1.0 ships with a wrong prior correction: every fraud probability is deflated "
        "(odds / 3), the ranking is unchanged",
        "calibration",
        "recalibrate",
        True,
    ),
    (
        "class_balance",
        "Class-balance shift",
        "a fraud wave: three times the usual share of payments are fraud, with the usual patterns",
        "threshold",
        "retune_threshold",
        True,
    ),
    (
        "segment",
        "One segment goes wrong",
        "an account-takeover ring works Brazilian cards: fraud that looks like the card owner",
        "segments",
        "retrain",
        True,
    ),
    (
        "latency",
        "Latency regression",
        "an infrastructure change disables the feature-store cache: every request waits ~2.3x longer",
        "latency",
        None,
        False,
    ),
    (
        "drift",
        "Covariate drift",
        "a sales season: amounts rise ~70% and customers pay more often (the most important features)",
        "drift",
        "retrain",
        False,
    ),
)


def default_faults(first_day: int, days: int = 4, gap: int = 2) -> tuple[Fault, ...]:
    """The five faults in sequence from ``first_day``: ``days`` days each, ``gap`` clean days between."""
    return tuple(
        Fault(kind, title, story, first_day + i * (days + gap), days, check, action, needs_labels)
        for i, (kind, title, story, check, action, needs_labels) in enumerate(FAULTS)
    )


@dataclass(frozen=True)
class Scenario:
    """What the demo replays: when, how much traffic, and which faults.

    Parameters
    ----------
    start : datetime
        Midnight (UTC) of day 0, the first day of the reference period.
    reference_days : int
        Clean days that form the reference.
    days : int
        Days of traffic replayed in all.
    daily_volume : int
        Mean number of predictions per day.
    training_rows : int
        Historical transactions the model is trained on (a quarter held out for validation).
    faults : tuple of Fault
    malformed_per_day : int
        Broken rows the serving system logs per day (quarantined at ingestion).
    dispute_days : int
        Length of the dispute window: chargebacks arrive within it, undisputed payments are
        confirmed legitimate when it closes (so a window's labels mature after this many days).
    seed : int
    """

    start: datetime
    reference_days: int
    days: int
    daily_volume: int
    training_rows: int
    faults: tuple[Fault, ...] = field(default_factory=tuple)
    malformed_per_day: int = 4
    dispute_days: int = 7
    seed: int = 20260302

    def day_start(self, day: int) -> datetime:
        return self.start + day * DAY

    def active(self, day: int) -> tuple[Fault, ...]:
        return tuple(f for f in self.faults if f.active(day))

    def fault(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind), None)

    def conditions(self, day: int) -> Conditions:
        """The population of ``day`` (the covariate-drift fault changes it)."""
        if any(f.kind == "drift" for f in self.active(day)):
            return Conditions(amount_factor=1.7, extra_tx_per_day=0.6)
        return Conditions()

    def timeline(self) -> str:
        """The timeline as printed at the start of the demo."""
        ref_end = self.reference_days - 1
        lines = [
            f"Scenario: {self.days} days of card payments from {self.start:%a %Y-%m-%d}, "
            f"~{self.daily_volume:,} fraud-model predictions a day",
            f"  day  0-{ref_end:<2}  {self._dates(0, self.reference_days)}  clean: the reference period",
        ]
        cursor = self.reference_days
        for fault in sorted(self.faults, key=lambda f: f.start_day):
            if fault.start_day > cursor:
                lines.append(f"  {self._span(cursor, fault.start_day)}  clean")
            action = fault.action.replace("_", " ") if fault.action else "alert only"
            seen = "once labels arrive" if fault.needs_labels else "at once"
            lines.append(
                f"  {self._span(fault.start_day, fault.end_day)}  {fault.title.upper()}: {fault.story}"
            )
            lines.append(f"  {'':<28}  expected: {fault.check} check, {seen}; {action}")
            cursor = fault.end_day
        if cursor < self.days:
            lines.append(f"  {self._span(cursor, self.days)}  clean")
        return "\n".join(lines)

    def _span(self, first: int, end: int) -> str:
        days = f"day {first}" if end - first == 1 else f"day {first}-{end - 1}"
        return f"{days:<9}  {self._dates(first, end)}"

    def _dates(self, first: int, end: int) -> str:
        a, b = self.day_start(first), self.day_start(end - 1)
        return f"{a:%b %d}" + (f"-{b:%b %d}" if end - first > 1 else "       ")


def demo_scenario(start: datetime, reference_days: int = 14) -> Scenario:
    """About six weeks: the clean reference weeks, three clean days, then the five faults."""
    faults = default_faults(reference_days + 3, days=3, gap=2)
    return Scenario(
        start=start,
        reference_days=reference_days,
        days=faults[-1].end_day + 1,
        daily_volume=3000,
        training_rows=60_000,
        faults=faults,
    )


def small_scenario(start: datetime, reference_days: int = 7, dispute_days: int = 3) -> Scenario:
    """The same story, shorter and lighter (the end-to-end test): 2-day faults, a 3-day dispute window."""
    faults = default_faults(reference_days + 1, days=2, gap=1)
    return Scenario(
        start=start,
        reference_days=reference_days,
        days=faults[-1].end_day + 1,
        daily_volume=2000,
        training_rows=30_000,
        faults=faults,
        dispute_days=dispute_days,
    )
