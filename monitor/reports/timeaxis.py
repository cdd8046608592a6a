"""Calendar ticks for time axes: round steps (hours, days, weeks, months, years), short labels.

A label carries the year when the axis crosses one, and a time of day only when the step
is shorter than a day (so daily windows never read "00:00").

>>> from datetime import datetime, UTC
>>> t = lambda *a: datetime(*a, tzinfo=UTC).timestamp()
>>> [s for _, s in time_ticks(t(2023, 1, 1), t(2026, 1, 1))]
['2023', '2024', '2025', '2026']
>>> [s for _, s in time_ticks(t(2026, 3, 1), t(2026, 3, 11), min_step=86400)]
['03-02', '03-04', '03-06', '03-08', '03-10']
>>> [s for _, s in time_ticks(t(2025, 6, 1), t(2026, 2, 20))]
['2025-07', '2025-09', '2025-11', '2026-01']
>>> [s for _, s in time_ticks(t(2026, 3, 10), t(2026, 3, 10, 12))]
['03-10 00:00', '03-10 03:00', '03-10 06:00', '03-10 09:00', '03-10 12:00']
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

HOUR, DAY = 3600, 86400
#: Fixed steps in seconds, then calendar steps in months.
_SECOND_STEPS = (HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY)
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _second_ticks(lo: float, hi: float, step: int) -> list[float]:
    # Weeks start on Mondays (1970-01-05 was one); other steps align to midnight UTC.
    offset = 4 * DAY if step % (7 * DAY) == 0 else 0
    first = -(-(lo - offset) // step) * step + offset
    return [first + i * step for i in range(int((hi - first) // step) + 1)]


def _month_ticks(lo: float, hi: float, step: int) -> list[float]:
    start = _utc(lo)
    index = start.year * 12 + start.month - 1
    if start != datetime(start.year, start.month, 1, tzinfo=UTC):
        index += 1
    index = -(-index // step) * step
    out = []
    while (ts := datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).timestamp()) <= hi:
        out.append(ts)
        index += step
    return out


def _label(ts: float, step_months: int, step_s: int, crosses_year: bool) -> str:
    d = _utc(ts)
    if step_months >= 12:
        return d.strftime("%Y")
    if step_months:
        return d.strftime("%Y-%m") if crosses_year else d.strftime("%b")
    if step_s >= DAY:
        return d.strftime("%Y-%m-%d") if crosses_year else d.strftime("%m-%d")
    return d.strftime("%Y-%m-%d %H:%M") if crosses_year else d.strftime("%m-%d %H:%M")


def time_ticks(lo: float, hi: float, *, n: int = 6, min_step: float = 0) -> list[tuple[float, str]]:
    """At most about ``n`` ticks on round calendar steps within ``[lo, hi]`` (epoch seconds).

    ``min_step`` (seconds) keeps steps at least that long: pass the window length so a
    daily series gets no ticks between its points.
    """
    if not hi > lo:
        return [(lo, _label(lo, 0, DAY if min_step >= DAY else HOUR, False))]
    crosses_year = _utc(lo).year != _utc(hi).year
    for step in _SECOND_STEPS:
        ticks = _second_ticks(lo, hi, step)
        if step >= min_step and len(ticks) <= n:
            return [(t, _label(t, 0, step, crosses_year)) for t in ticks]
    for months in _MONTH_STEPS:
        ticks = _month_ticks(lo, hi, months)
        if months * 28 * DAY >= min_step and len(ticks) <= n:
            return [(t, _label(t, months, 0, crosses_year)) for t in ticks]
    years = max(1, round((hi - lo) / (365.25 * DAY) / n)) * 12
    return [(t, _label(t, 12, 0, crosses_year)) for t in _month_ticks(lo, hi, years)]


def min_spacing(xs: list[float]) -> float:
    """The smallest gap between distinct sorted ``xs`` (0 for fewer than two)."""
    distinct = sorted(set(xs))
    return min((b - a for a, b in pairwise(distinct)), default=0.0)
