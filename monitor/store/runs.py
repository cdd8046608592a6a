"""Runs and findings: which (model, window) was checked, by whom, with what result.

``(model, window_end)`` is unique, so a window is checked exactly once however many
daemons share the store: a daemon *claims* a window by inserting its row (or by an
atomic conditional update when re-evaluating it after late labels, or when taking over a
run whose owner died: a ``running`` row older than the lease).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from checks.result import ModelRun
from monitor.store.schema import findings, runs
from monitor.windows import aware_utc, naive_utc

#: How long a ``running`` claim is honoured before another process may take the window over.
LEASE = timedelta(minutes=30)


@dataclass(frozen=True)
class RunClaim:
    """A window this process now owns and must finish or fail."""

    run_id: int
    model: str
    window_start: datetime
    window_end: datetime
    attempt: int
    reevaluation: bool


def claim_window(
    engine: Engine,
    model: str,
    start: datetime,
    end: datetime,
    *,
    owner: str,
    now: datetime,
    lease: timedelta = LEASE,
) -> RunClaim | None:
    """Claim a window never checked, failed before, or abandoned; ``None`` when someone else has it."""
    values = {
        "model": model,
        "window_start": naive_utc(start),
        "window_end": naive_utc(end),
        "status": "skipped",
        "state": "running",
        "owner": owner,
        "attempts": 1,
        "labels_final": False,
        "started_at": naive_utc(now),
    }
    try:
        with engine.begin() as conn:
            run_id = conn.execute(insert(runs).values(**values).returning(runs.c.id)).scalar_one()
        return RunClaim(run_id, model, start, end, 1, False)
    except IntegrityError:
        pass
    stale = naive_utc(now - lease)
    with engine.begin() as conn:
        row = conn.execute(
            select(runs.c.id, runs.c.attempts).where(
                runs.c.model == model, runs.c.window_end == naive_utc(end)
            )
        ).first()
        if row is None:
            return None
        taken = conn.execute(
            update(runs)
            .where(
                runs.c.id == row.id,
                or_(runs.c.state == "failed", and_(runs.c.state == "running", runs.c.started_at < stale)),
            )
            .values(state="running", owner=owner, started_at=naive_utc(now), attempts=runs.c.attempts + 1)
        ).rowcount
    return RunClaim(row.id, model, start, end, row.attempts + 1, False) if taken else None


def claim_reevaluation(engine: Engine, run_id: int, *, owner: str, now: datetime) -> RunClaim | None:
    """Claim a finished window again (late labels arrived); ``None`` if another process has it."""
    with engine.begin() as conn:
        taken = conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.state == "done")
            .values(state="running", owner=owner, started_at=naive_utc(now), attempts=runs.c.attempts + 1)
        ).rowcount
        if not taken:
            return None
        row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
    return RunClaim(
        row.id, row.model, aware_utc(row.window_start), aware_utc(row.window_end), row.attempts, True
    )


def finish_run(
    conn: Connection,
    claim: RunClaim,
    run: ModelRun,
    *,
    label_coverage: float | None,
    labels_final: bool,
    report_path: str | None,
    now: datetime,
) -> None:
    """Record a run's result and findings (replacing those of an earlier evaluation)."""
    conn.execute(
        update(runs)
        .where(runs.c.id == claim.run_id)
        .values(
            status=run.status,
            state="done",
            result=run.to_dict(),
            label_coverage=label_coverage,
            labels_final=labels_final,
            report_path=report_path,
            error=None,
            finished_at=naive_utc(now),
        )
    )
    conn.execute(delete(findings).where(findings.c.run_id == claim.run_id))
    rows: list[dict[str, Any]] = [
        {
            "run_id": claim.run_id,
            "model": run.model,
            "check_name": check.check,
            "subject": f.subject[:512],
            "method": f.method[:64],
            "statistic": _finite(f.statistic),
            "p_value": _finite(f.p_value),
            "threshold": _finite(f.threshold),
            "effect_size": _finite(f.effect_size),
            "severity": f.severity,
            "message": f.message,
        }
        for check in run.checks
        for f in check.findings
    ]
    if rows:
        conn.execute(insert(findings), rows)


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def fail_run(engine: Engine, claim: RunClaim, error: str, *, now: datetime) -> None:
    """Mark a claimed run failed (a later cycle retries it); a re-evaluation goes back to done."""
    state = "done" if claim.reevaluation else "failed"
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == claim.run_id)
            .values(state=state, error=error[:2000], finished_at=naive_utc(now))
        )


def last_finished(engine: Engine) -> dict[str, datetime]:
    """When each model's newest finished run ended, by any replica."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.model, func.max(runs.c.finished_at))
            .where(runs.c.state == "done")
            .group_by(runs.c.model)
        ).all()
    return {model: aware_utc(finished) for model, finished in rows if finished is not None}


def newest_done_window(engine: Engine, model: str) -> tuple[datetime, datetime] | None:
    """``(start, end)`` of the newest window of ``model`` checked to the end, by any replica."""
    with engine.connect() as conn:
        row = conn.execute(
            select(runs.c.window_start, runs.c.window_end)
            .where(runs.c.model == model, runs.c.state == "done")
            .order_by(runs.c.window_end.desc())
            .limit(1)
        ).first()
    return None if row is None else (aware_utc(row.window_start), aware_utc(row.window_end))


def checked_window_ends(
    engine: Engine,
    model: str,
    after: datetime,
    *,
    now: datetime | None = None,
    lease: timedelta = LEASE,
    is_gone: Callable[[str], bool] | None = None,
) -> set[datetime]:
    """Window ends after ``after`` that are done or being checked (not failed).

    With ``now``, a ``running`` claim older than ``lease`` counts as not checked, and so does
    one whose owner ``is_gone`` (a process of this host that died): the next cycle takes
    them over.
    """
    query = select(runs.c.window_end, runs.c.state, runs.c.started_at, runs.c.owner).where(
        runs.c.model == model, runs.c.window_end > naive_utc(after), runs.c.state != "failed"
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    stale = naive_utc(now - lease) if now is not None else None
    out = set()
    for row in rows:
        if row.state == "running" and stale is not None and row.started_at < stale:
            continue
        if row.state == "running" and is_gone is not None and row.owner and is_gone(row.owner):
            continue
        out.add(aware_utc(row.window_end))
    return out


def runs_awaiting_labels(engine: Engine, model: str) -> list[tuple[int, datetime, float | None]]:
    """Finished runs whose labels are not final: ``(run_id, window_end, coverage)``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.id, runs.c.window_end, runs.c.label_coverage)
            .where(runs.c.model == model, runs.c.state == "done", runs.c.labels_final.is_(False))
            .order_by(runs.c.window_end)
        ).all()
    return [(r.id, aware_utc(r.window_end), r.label_coverage) for r in rows]


def load_runs(
    engine: Engine, model: str, *, limit: int = 30, before: datetime | None = None
) -> list[ModelRun]:
    """The most recent finished runs of ``model`` (oldest first), rebuilt from their JSON."""
    query = select(runs.c.id, runs.c.result, runs.c.report_path).where(
        runs.c.model == model, runs.c.state == "done", runs.c.result.isnot(None)
    )
    if before is not None:
        query = query.where(runs.c.window_end <= naive_utc(before))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(runs.c.window_end.desc()).limit(limit)).all()
    out = []
    for row in reversed(rows):
        data = dict(row.result)
        data["run_id"] = row.id
        out.append(ModelRun.from_dict(data))
    return out


def run_id_for_window(engine: Engine, model: str, end: datetime) -> int | None:
    """The run recorded for the window of ``model`` ending at ``end``, if any."""
    with engine.connect() as conn:
        return conn.execute(
            select(runs.c.id).where(runs.c.model == model, runs.c.window_end == naive_utc(end))
        ).scalar()


def claim_orphaned(
    engine: Engine,
    model: str,
    end: datetime,
    *,
    is_gone: Callable[[str], bool],
    owner: str,
    now: datetime,
) -> RunClaim | None:
    """Take over a ``running`` window whose owner ``is_gone`` (it died), without waiting for the lease.

    The update is conditional on the same owner still holding the claim, so two processes that
    both saw the dead owner cannot both take the window.
    """
    with engine.begin() as conn:
        row = conn.execute(
            select(runs.c.id, runs.c.attempts, runs.c.owner, runs.c.state, runs.c.window_start).where(
                runs.c.model == model, runs.c.window_end == naive_utc(end)
            )
        ).first()
        if row is None or row.state != "running" or not row.owner or not is_gone(row.owner):
            return None
        taken = conn.execute(
            update(runs)
            .where(runs.c.id == row.id, runs.c.state == "running", runs.c.owner == row.owner)
            .values(owner=owner, started_at=naive_utc(now), attempts=runs.c.attempts + 1)
        ).rowcount
    return (
        RunClaim(row.id, model, aware_utc(row.window_start), end, row.attempts + 1, False) if taken else None
    )


def stopped_traffic(engine: Engine) -> dict[str, str]:
    """Models whose newest checked window had no predictions where rows were expected.

    Read from the traffic findings (:mod:`checks.volume`) of each model's newest finished run,
    by any replica; the value is the finding's message.
    """
    newest = (
        select(runs.c.model, func.max(runs.c.window_end).label("end"))
        .where(runs.c.state == "done")
        .group_by(runs.c.model)
        .subquery()
    )
    query = (
        select(runs.c.model, runs.c.window_end, findings.c.message)
        .join(newest, and_(runs.c.model == newest.c.model, runs.c.window_end == newest.c.end))
        .join(findings, findings.c.run_id == runs.c.id)
        .where(findings.c.subject == "traffic", findings.c.statistic == 0)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        model: f"{message} (window ending {aware_utc(end):%Y-%m-%d %H:%M} UTC)"
        for model, end, message in rows
    }
