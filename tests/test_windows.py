"""Window arithmetic across daylight-saving nights, calendar windows and anchors.

The oracle in the property tests walks the clock minute by minute and marks the instants at
which the local wall clock shows or jumps over an aligned time: an independent route to the
boundaries that :class:`monitor.windows.Window` computes from wall times.
"""

from __future__ import annotations

import functools
import itertools
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.windows import (
    Window,
    WindowError,
    latest_window_end,
    local_shift,
    window_ends,
    window_start,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging (the bug this file guards against was an endless loop)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"did not return within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def lengths(ends: list[datetime]) -> list[float]:
    return [(b - a) / HOUR for a, b in itertools.pairwise(ends)]


# -- the reproductions of issue #15 item 1 ---------------------------------------------------


def test_hourly_windows_across_spring_forward_return_and_are_an_hour_each() -> None:
    with deadline(5):
        ends = window_ends(utc(2026, 3, 28, 22), utc(2026, 3, 29, 4), HOUR, "Europe/Berlin")
    # 02:00 local does not exist: 01:00 CET (00:00Z) is followed by 03:00 CEST (01:00Z).
    assert ends == [utc(2026, 3, 28, 23) + k * HOUR for k in range(6)]


def test_hourly_windows_in_the_repeated_hour_are_two_windows() -> None:
    with deadline(5):
        ends = window_ends(utc(2026, 10, 24, 22), utc(2026, 10, 25, 3), HOUR, "Europe/Berlin")
    assert ends == [utc(2026, 10, 24, 23) + k * HOUR for k in range(5)]
    berlin = ZoneInfo("Europe/Berlin")
    walls = [f"{e.astimezone(berlin):%H:%M%z}" for e in ends]
    assert walls == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100", "04:00+0100"]


def test_daily_windows_are_23_and_25_hours_on_the_nights_clocks_change() -> None:
    with deadline(5):
        spring = window_ends(utc(2026, 3, 27), utc(2026, 3, 31), DAY, "Europe/Berlin")
        autumn = window_ends(utc(2026, 10, 23), utc(2026, 10, 27), DAY, "Europe/Berlin")
    assert lengths(spring) == [24, 23, 24]
    assert lengths(autumn) == [24, 25, 24]
    assert window_start(spring[2], DAY, "Europe/Berlin") == spring[1]


def test_latest_end_and_start_at_the_spring_forward_instant() -> None:
    with deadline(5):
        end = latest_window_end(utc(2026, 3, 29, 1, 30), HOUR, "Europe/Berlin")
        start = window_start(utc(2026, 3, 29, 1), HOUR, "Europe/Berlin")
    assert (end, start) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 0))


def test_six_hour_windows_stretch_and_shrink_with_the_clock() -> None:
    spring = window_ends(utc(2026, 3, 28, 0), utc(2026, 3, 29, 12), timedelta(hours=6), "Europe/Berlin")
    # 00:00 CET (23:00Z) to 06:00 CEST (04:00Z) is five hours.
    assert 5.0 in lengths(spring) and set(lengths(spring)) == {5.0, 6.0}
    autumn = window_ends(utc(2026, 10, 24, 0), utc(2026, 10, 25, 12), timedelta(hours=6), "Europe/Berlin")
    assert set(lengths(autumn)) == {6.0, 7.0}


def test_local_shift_lands_on_the_jump_for_a_skipped_time() -> None:
    # 02:30 on the spring-forward night does not exist: the reference starts at the jump.
    moment = utc(2026, 3, 30, 0, 30)  # 02:30 CEST
    assert local_shift(moment, DAY, "Europe/Berlin") == utc(2026, 3, 29, 1)
    assert local_shift(utc(2026, 3, 30, 22), 7 * DAY, "Europe/Berlin") == utc(2026, 3, 23, 23)


def test_local_shift_by_calendar_months() -> None:
    assert local_shift(utc(2026, 3, 1, 5), 1, "America/New_York") == utc(2026, 2, 1, 5)
    assert local_shift(utc(2026, 3, 31), 1, "UTC") == utc(2026, 2, 28)  # clamped to February's end
    assert local_shift(utc(2026, 1, 1), 3, "UTC") == utc(2025, 10, 1)
    assert local_shift(utc(2026, 4, 1, 4), 1, "America/New_York") == utc(2026, 3, 1, 5)  # EDT -> EST


# -- calendar windows and anchors ---------------------------------------------------------------


def test_calendar_months_quarters_years_in_local_time() -> None:
    tz = "America/New_York"
    new_year = datetime(2026, 1, 1, tzinfo=ZoneInfo(tz))
    months = window_ends(new_year, utc(2026, 12, 31), Window.parse("1mo"), tz)
    assert [e.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M") for e in months] == [
        f"{m:02d}-01 00:00" for m in range(2, 13)
    ]
    assert window_start(months[0], Window.parse("1mo"), tz) == new_year
    assert lengths(months)[1] == 31 * 24 - 1  # March loses the spring-forward hour
    quarters = window_ends(utc(2025, 12, 1), utc(2027, 1, 2), Window.parse("1q"), "UTC")
    assert quarters == [utc(2026, 1, 1), utc(2026, 4, 1), utc(2026, 7, 1), utc(2026, 10, 1), utc(2027, 1, 1)]
    years = window_ends(utc(2024, 6, 1), utc(2027, 1, 1), Window.parse("1y"), "UTC")
    assert years == [utc(2025, 1, 1), utc(2026, 1, 1), utc(2027, 1, 1)]
    assert window_start(utc(2026, 1, 1), Window.parse("2mo"), "UTC") == utc(2025, 11, 1)


def test_one_week_is_the_iso_week_and_unchanged_from_seven_days() -> None:
    week = Window.parse("1w")
    assert week == Window.parse("7d") == Window(length=7 * DAY)
    ends = window_ends(utc(2026, 1, 1), utc(2026, 2, 1), week, "UTC")
    assert {e.isocalendar().weekday for e in ends} == {1}
    assert [e.isocalendar().week for e in ends] == [2, 3, 4, 5]


def test_anchor_moves_the_alignment_of_fixed_windows() -> None:
    daily = Window.parse("1d", anchor=datetime(2026, 1, 1, 6))
    ends = window_ends(utc(2026, 2, 1), utc(2026, 2, 3), daily, "UTC")
    assert ends == [utc(2026, 2, 1, 6), utc(2026, 2, 2, 6)]
    fortnight = Window.parse("14d", anchor=datetime(2026, 1, 7))  # a Wednesday
    ends = window_ends(utc(2026, 1, 1), utc(2026, 2, 28), fortnight, "UTC")
    assert ends == [utc(2026, 1, 7), utc(2026, 1, 21), utc(2026, 2, 4), utc(2026, 2, 18)]
    eight = Window.parse("8h", anchor=datetime(2000, 1, 1, 6))
    assert [e.hour for e in window_ends(utc(2026, 1, 1), utc(2026, 1, 2), eight, "UTC")] == [6, 14, 22]


@pytest.mark.parametrize(
    ("text", "anchor", "message"),
    [
        ("7h", None, "must divide 24h"),
        ("36h", None, "whole days"),
        ("every month", None, "not a window length"),
        ("1mo", datetime(2026, 1, 1), "fixed-length"),
        ("1d", datetime(2026, 1, 1, tzinfo=UTC), "without a UTC offset"),
        ("0mo", None, "positive"),
    ],
)
def test_bad_windows_are_refused_with_the_reason(text: str, anchor: datetime | None, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        Window.parse(text, anchor=anchor)


# -- properties over time zones ------------------------------------------------------------------


@functools.cache
def transitions(zone: str, year: int) -> list[datetime]:
    """UTC instants (to the minute) in ``year`` at which the offset of ``zone`` changes."""
    tz = ZoneInfo(zone)

    def offset(t: datetime) -> timedelta | None:
        return t.astimezone(tz).utcoffset()

    out = []
    t = utc(year, 1, 1)
    while t.year == year:
        if offset(t + DAY) != offset(t):  # narrow down: hour, then minute
            for step in (HOUR, MINUTE):
                while offset(t + step) == offset(t):
                    t += step
            out.append(t + MINUTE)
        t += DAY
    return out


def oracle(start: datetime, stop: datetime, window: Window, tz: ZoneInfo) -> list[datetime]:
    """Boundaries in ``(start, stop]``: minutes where the wall clock shows or jumps over an aligned time."""
    offset = (window.anchor - window.anchor.replace(hour=0, minute=0)) % window.length
    per_day = {(offset + k * window.length) // MINUTE for k in range(DAY // window.length)}

    def aligned(wall: datetime) -> bool:
        return (wall.hour * 60 + wall.minute) in per_day

    out = []
    t = start
    wall_prev = t.astimezone(tz).replace(tzinfo=None)
    repeat_until = None  # wall time until which the clock is on its second pass
    jump = timedelta(0)
    while t < stop:
        t += MINUTE
        wall = t.astimezone(tz).replace(tzinfo=None)
        step = wall - wall_prev
        if step > MINUTE:  # jumped forward: a boundary if it passed an aligned time
            passed = wall_prev + MINUTE
            while passed <= wall and not aligned(passed):
                passed += MINUTE
            if passed <= wall:
                out.append(t)
        elif step < MINUTE:  # fell back: wall times up to wall_prev are shown again
            repeat_until, jump = wall_prev, MINUTE - step
            if aligned(wall) and window.length <= jump:
                out.append(t)
        elif aligned(wall) and (repeat_until is None or wall > repeat_until or window.length <= jump):
            out.append(t)
        if repeat_until is not None and wall > repeat_until:
            repeat_until = None
        wall_prev = wall
    return out


SUBDAY = st.sampled_from(["15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d"])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    text=SUBDAY,
    year=st.integers(2005, 2030),
    pick=st.integers(0, 10),
    anchor_minutes=st.sampled_from([0, 0, 30, 90, 360]),
)
def test_fixed_windows_match_the_minute_by_minute_clock(
    zone: str, text: str, year: int, pick: int, anchor_minutes: int
) -> None:
    tz = ZoneInfo(zone)
    changes = transitions(zone, year)
    around = changes[pick % len(changes)] if changes else utc(year, 6, 1)
    window = Window.parse(text, anchor=datetime(2000, 1, 1) + anchor_minutes * MINUTE)
    start, stop = around - DAY, around + DAY
    with deadline(10):
        ends = window_ends(start, stop, window, zone)
    assert ends == oracle(start, stop, window, tz)
    near = [(a, b) for a, b in itertools.pairwise(ends) if abs(b - around) <= 6 * HOUR]
    for a, b in near or list(itertools.pairwise(ends))[:4]:
        assert window_start(b, window, zone) == a
        assert latest_window_end(b, window, zone) == b
        assert latest_window_end(b - timedelta(seconds=1), window, zone) == a


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    text=st.sampled_from(["1d", "2d", "1w", "2w", "1mo", "1q", "1y", "2mo"]),
    start=st.datetimes(datetime(2000, 1, 1), datetime(2035, 1, 1)),
)
def test_day_and_calendar_windows_start_each_local_day_once(zone: str, text: str, start: datetime) -> None:
    tz = ZoneInfo(zone)
    window = Window.parse(text)
    after = start.replace(tzinfo=UTC)
    until = after + window.nominal * 3 + 2 * DAY
    with deadline(10):
        ends = window_ends(after, until, window, zone)
    assert len(ends) >= 3 and ends == sorted(set(ends))
    for end in ends:
        local = end.astimezone(tz)
        before = (end - timedelta(seconds=1)).astimezone(tz)
        # Each end is the first instant of its local day (midnight, or the jump over it).
        assert local.date() != before.date()
        assert local.time() == datetime.min.time() or local.utcoffset() != before.utcoffset()
        if window.calendar:
            assert local.day == 1 and (local.year * 12 + local.month - 1) % window.months == 0
        assert latest_window_end(end + timedelta(seconds=1), window, zone) == end
    for a, b in itertools.pairwise(ends):
        assert window_start(b, window, zone) == a
        hours = (b - a) / HOUR
        if not window.calendar:
            # Whole local days, each 23-25 h long in every zone this century.
            assert abs(hours - window.length / HOUR) <= 2 * window.length.days
