"""Retention: delete old events, outcomes and quarantined rows, never what a check still needs.

Rows older than ``daemon.event_retention_days`` go, except

- the rows of a fixed reference period (``reference = {start, end}``), whatever their age;
- the windows still waiting for late labels (ending within ``labels.max_delay``), and
  finished runs whose labels are not final yet;
- the windows not checked yet (not done, or failed) among those the daemon will still check
  (the last ``daemon.max_catchup_windows``);
- the trailing reference of each of those windows.

An outcome goes only once it is old *and* its prediction is gone, so a kept window (or a
reference) keeps its labels however late they arrived. :func:`plan_retention` computes the
cut-off per model (and, with ``count``, what would go) without deleting anything: the
``driftwatch retention --dry-run`` command and the daemon's start-up log print it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, delete, exists, func, not_, or_, select

from alerts.durations import format_duration
from monitor.config import Config, ModelConfig
from monitor.store.engine import Store
from monitor.store.schema import quarantine, runs
from monitor.windows import as_window, aware_utc, latest_window_end, naive_utc, window_ends, window_start

log = logging.getLogger("driftwatch.store.retention")


@dataclass
class ModelRetention:
    """What retention does to one model: the cut-off, why it is there, and (dry run) counts."""

    model: str
    cutoff: datetime
    kept_period: tuple[datetime, datetime] | None
    reasons: list[str] = field(default_factory=list)
    events: int | None = None
    outcomes: int | None = None
    quarantined: int | None = None

    def lines(self) -> list[str]:
        """Human-readable lines for the dry run and the logs."""
        out = [f'model "{self.model}": rows before {_day(self.cutoff)} may be deleted']
        if self.events is not None:
            out.append(
                f"  would delete {self.events:,} event(s), {self.outcomes:,} outcome(s), "
                f"{self.quarantined:,} quarantined row(s)"
            )
        if self.kept_period is not None:
            start, end = self.kept_period
            out.append(f"  kept whatever its age: the fixed reference {_day(start)} to {_day(end)}")
        out.extend(f"  kept: {reason}" for reason in self.reasons)
        return out


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _done_ends(conn: Connection, model: str, after: datetime) -> tuple[set[datetime], datetime | None]:
    """Ends of windows checked for good after ``after``, and the earliest run awaiting labels."""
    rows = conn.execute(
        select(runs.c.window_end, runs.c.state, runs.c.labels_final).where(
            runs.c.model == model, runs.c.window_end > naive_utc(after)
        )
    ).all()
    done = {aware_utc(r.window_end) for r in rows if r.state == "done"}
    awaiting = conn.execute(
        select(func.min(runs.c.window_end)).where(
            runs.c.model == model, runs.c.state == "done", runs.c.labels_final.is_(False)
        )
    ).scalar()
    return done, aware_utc(awaiting) if awaiting is not None else None


def _first_ts(conn: Connection, store: Store, model: str) -> datetime | None:
    first = conn.execute(select(func.min(store.events(model).c.ts))).scalar()
    return aware_utc(first) if first is not None else None


def model_plan(
    conn: Connection, store: Store, config: Config, model: ModelConfig, now: datetime
) -> ModelRetention:
    """The cut-off of ``model``: the earliest of the retention period and every protected window."""
    tz = config.daemon.timezone
    days = config.daemon.event_retention_days
    wall = now - timedelta(days=days)
    reasons: list[str] = []
    floors: list[tuple[datetime, str]] = []

    waiting = window_ends(now - model.labels.max_delay - timedelta(microseconds=1), now, model.window, tz)
    floor = (
        window_start(waiting[0], model.window, tz) if waiting else latest_window_end(now, model.window, tz)
    )
    floors.append(
        (floor, f"windows waiting for labels (labels.max_delay {format_duration(model.labels.max_delay)})")
    )

    bound = config.daemon.max_catchup_windows
    first = _first_ts(conn, store, model.name)
    earliest = now - model.window.nominal * (bound + 1)
    done, awaiting = _done_ends(conn, model.name, earliest)
    if awaiting is not None:
        floors.append((window_start(awaiting, model.window, tz), "finished runs whose labels are not final"))
    if first is not None and bound:
        ends = [e for e in window_ends(max(first, earliest), now, model.window, tz) if e > first]
        unchecked = [e for e in ends if e not in done]
        if unchecked:
            floors.append((window_start(unchecked[0], model.window, tz), "windows not checked yet"))

    cutoff = wall
    for moment, reason in floors:
        start = moment
        if model.reference.kind == "trailing" and model.reference.trailing is not None:
            start = window_start(moment, model.reference.trailing, tz)
            reason += " and their trailing reference"
        if start < wall:
            reasons.append(f"{reason}: from {_day(start)}")
            cutoff = min(cutoff, start)
    period = None
    ref = model.reference
    if ref.kind == "period" and ref.start is not None and ref.end is not None:
        period = (aware_utc(ref.start), aware_utc(ref.end))
    return ModelRetention(model=model.name, cutoff=cutoff, kept_period=period, reasons=reasons)


def _event_filter(table, plan: ModelRetention) -> ColumnElement[bool]:  # type: ignore[no-untyped-def]
    old = table.c.ts < naive_utc(plan.cutoff)
    if plan.kept_period is None:
        return old
    start, end = map(naive_utc, plan.kept_period)
    return and_(old, not_(and_(table.c.ts >= start, table.c.ts < end)))


def _filters(store: Store, plan: ModelRetention, wall: datetime) -> tuple[ColumnElement[bool], ...]:
    events, outcomes = store.events(plan.model), store.outcomes(plan.model)
    orphan = and_(
        outcomes.c.ts < naive_utc(plan.cutoff),
        not_(exists().where(events.c.event_id == outcomes.c.event_id)),
    )
    q_old = and_(
        quarantine.c.model == plan.model,
        quarantine.c.quarantined_at < naive_utc(wall),
        or_(quarantine.c.event_ts.is_(None), quarantine.c.event_ts < naive_utc(plan.cutoff)),
    )
    if plan.kept_period is not None:
        start, end = map(naive_utc, plan.kept_period)
        q_old = and_(
            q_old,
            not_(
                and_(
                    quarantine.c.event_ts.isnot(None),
                    quarantine.c.event_ts >= start,
                    quarantine.c.event_ts < end,
                )
            ),
        )
    return _event_filter(events, plan), orphan, q_old


def plan_retention(
    store: Store, config: Config, now: datetime, *, count: bool = False
) -> list[ModelRetention]:
    """Each model's retention plan; with ``count`` also how many rows would go (nothing is deleted)."""
    wall = now - timedelta(days=config.daemon.event_retention_days)
    plans = []
    with store.engine.connect() as conn:
        for model in config.models:
            plan = model_plan(conn, store, config, model, now)
            if count:
                ev, _orphan, q = _filters(store, plan, wall)
                # an outcome whose prediction goes in the same pass goes too
                outcomes = store.outcomes(plan.model)
                events = store.events(plan.model)
                gone = and_(
                    outcomes.c.ts < naive_utc(plan.cutoff),
                    not_(exists().where(and_(events.c.event_id == outcomes.c.event_id, not_(ev)))),
                )
                plan.events = _count(conn, events, ev)
                plan.outcomes = _count(conn, outcomes, gone)
                plan.quarantined = _count(conn, quarantine, q)
            plans.append(plan)
    return plans


def _count(conn: Connection, table, where: ColumnElement[bool]) -> int:  # type: ignore[no-untyped-def]
    return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())


def apply_retention(store: Store, config: Config, now: datetime) -> dict[str, int]:
    """Delete what :func:`plan_retention` allows, in one transaction; returns the counts."""
    wall = now - timedelta(days=config.daemon.event_retention_days)
    removed = {"events": 0, "outcomes": 0, "quarantine": 0}
    plans = plan_retention(store, config, now)
    with store.engine.begin() as conn:
        for plan in plans:
            ev, orphan, q_old = _filters(store, plan, wall)
            removed["events"] += conn.execute(delete(store.events(plan.model)).where(ev)).rowcount
            removed["outcomes"] += conn.execute(delete(store.outcomes(plan.model)).where(orphan)).rowcount
            removed["quarantine"] += conn.execute(delete(quarantine).where(q_old)).rowcount
        configured = [m.name for m in config.models]
        removed["quarantine"] += conn.execute(
            delete(quarantine).where(
                quarantine.c.model.notin_(configured), quarantine.c.quarantined_at < naive_utc(wall)
            )
        ).rowcount
    return removed


def describe_retention(config: Config, now: datetime) -> list[str]:
    """What retention deletes and keeps, from the configuration alone (``validate``, start-up)."""
    days = config.daemon.event_retention_days
    wall = now - timedelta(days=days)
    lines = [
        f"retention: every {format_duration(config.daemon.retention_interval)}, events, outcomes and "
        f"quarantined rows older than {days} day(s) (now: before {_day(wall)}) are deleted, except:"
    ]
    for model in config.models:
        if model.data is not None:
            lines.append(
                f'  model "{model.name}": checked in place ([models.data] engine = "{model.data.engine}"); '
                "it stores no events, and retention never touches its files"
            )
            continue
        kept = [
            f"windows still waiting for labels (labels.max_delay {format_duration(model.labels.max_delay)})",
            f"windows not checked yet (the last {config.daemon.max_catchup_windows} the daemon will check)",
        ]
        ref = model.reference
        if ref.kind == "trailing":
            kept.append(f"the trailing reference ({as_window(ref.trailing)}) of those windows")
        elif ref.kind == "period" and ref.start is not None and ref.end is not None:
            age = " (older than the retention period: kept)" if aware_utc(ref.start) < wall else ""
            kept.append(
                f"the fixed reference {_day(aware_utc(ref.start))} to {_day(aware_utc(ref.end))}{age}"
            )
        kept.append("outcomes whose prediction is kept")
        lines.append(f'  model "{model.name}": ' + "; ".join(kept))
    return lines
