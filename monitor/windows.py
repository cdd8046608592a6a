"""Window arithmetic: which windows exist, which is the latest complete one.

Windows are cut on the wall clock of the configured time zone (``[daemon] timezone``):

- a fixed length shorter than a day (``"1h"``, ``"15m"``; it must divide 24 h) starts at
  local midnight and every multiple of the length after it;
- ``"1d"`` runs from midnight to midnight; whole days (``"7d"``, ``"1w"``, ``"2w"``) are
  counted from Monday 1970-01-05, so ``"1w"`` (= ``"7d"``) is the ISO week, Monday to Monday;
- ``window_anchor`` (a local date-time) moves the alignment of a fixed length: ``"1d"``
  anchored at 06:00 runs 06:00 to 06:00, ``"14d"`` counts its fortnights from the anchor;
- calendar windows ``"<n>mo"``, ``"<n>q"`` and ``"<n>y"`` run from the first of a month at
  midnight: months, quarters from January/April/July/October, years from January 1.

Daylight-saving time: a window runs between two instants at which the wall clock shows (or
jumps over) an aligned time, so a day is 23 or 25 hours long on the nights the clocks
change. A skipped aligned time (02:00 on a spring-forward night) becomes the instant of the
jump; a repeated one (02:00 on a fall-back night) is a boundary both times when the window
fits in the repeated stretch (hourly windows: the repeated hour is two windows of an hour),
else only the first time. All returned moments are aware UTC datetimes.

>>> from datetime import datetime, timedelta, UTC
>>> latest_window_end(datetime(2026, 11, 3, 0, 5, tzinfo=UTC), timedelta(days=1))
datetime.datetime(2026, 11, 3, 0, 0, tzinfo=datetime.timezone.utc)
>>> [e.hour for e in window_ends(datetime(2026, 11, 3, 0, 0, tzinfo=UTC),
...                               datetime(2026, 11, 3, 3, 0, tzinfo=UTC), timedelta(hours=1))]
[1, 2, 3]
>>> [f"{e:%m-%d %H:%M}" for e in window_ends(datetime(2026, 3, 28, 22, tzinfo=UTC),
...     datetime(2026, 3, 29, 3, tzinfo=UTC), timedelta(hours=1), "Europe/Berlin")]
['03-28 23:00', '03-29 00:00', '03-29 01:00', '03-29 02:00', '03-29 03:00']
>>> [f"{e:%Y-%m-%d}" for e in window_ends(datetime(2026, 1, 1, tzinfo=UTC),
...     datetime(2026, 5, 1, tzinfo=UTC), Window.parse("1mo"))]
['2026-02-01', '2026-03-01', '2026-04-01', '2026-05-01']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerts.durations import format_duration, parse_duration

DAY = timedelta(days=1)
MONDAY = datetime(1970, 1, 5)
_CALENDAR = re.compile(r"^\s*(\d+)\s*(mo|q|y)\s*$")
_MONTHS_PER = {"mo": 1, "q": 3, "y": 12}


class WindowError(ValueError):
    """A window length or anchor that cannot be aligned to the calendar."""


@dataclass(frozen=True)
class Window:
    """How a model's time is cut into windows: a fixed length, or whole calendar months.

    Parameters
    ----------
    length : timedelta, default=1 day
        The length of a fixed window (ignored when ``months`` is set).
    months : int, default=0
        Calendar windows of this many months (``1``: months, ``3``: quarters, ``12``: years).
    anchor : datetime, default=1970-01-05 00:00 (a Monday)
        Naive local date-time a fixed window is aligned to.
    """

    length: timedelta = DAY
    months: int = 0
    anchor: datetime = MONDAY

    def __post_init__(self) -> None:
        if self.months < 0:
            raise WindowError(f"a calendar window needs a positive number of months; got {self.months}")
        if self.months:
            if self.anchor != MONDAY:
                raise WindowError(
                    "window_anchor applies to fixed-length windows (m, h, d, w); calendar windows "
                    "(mo, q, y) start on the first of a month"
                )
            return
        if self.length <= timedelta(0):
            raise WindowError(f"a window must be a positive length; got {self.length}")
        if self.length < DAY and DAY % self.length != timedelta(0):
            raise WindowError(f"a window shorter than a day must divide 24h evenly; got {self}")
        if self.length > DAY and self.length % DAY != timedelta(0):
            raise WindowError(f"a window longer than a day must be whole days; got {self}")
        if self.anchor.tzinfo is not None:
            raise WindowError(
                "window_anchor must be a local date-time without a UTC offset "
                "(windows align in [daemon] timezone)"
            )

    @classmethod
    def parse(cls, text: str, anchor: datetime | None = None) -> Window:
        """``"1h"``, ``"1d"``, ``"1w"``, ``"1mo"``, ``"1q"``, ``"1y"`` (and multiples) as a window.

        :raises WindowError: the text is not a window length, or cannot be aligned.
        """
        match = _CALENDAR.match(text) if isinstance(text, str) else None
        extra = {} if anchor is None else {"anchor": anchor}
        if match and int(match.group(1)) == 0:
            raise WindowError(f"a calendar window needs a positive number of months; got {text!r}")
        if match:
            return cls(months=int(match.group(1)) * _MONTHS_PER[match.group(2)], **extra)
        try:
            length = parse_duration(text)
        except ValueError:
            raise WindowError(
                f"{text!r} is not a window length (expected e.g. '1h', '1d', '1w', '1mo', '1q', '1y')"
            ) from None
        return cls(length=length, **extra)

    def __str__(self) -> str:
        if self.months % 12 == 0 and self.months:
            return f"{self.months // 12}y"
        if self.months % 3 == 0 and self.months:
            return f"{self.months // 3}q"
        if self.months:
            return f"{self.months}mo"
        return format_duration(self.length)

    @property
    def calendar(self) -> bool:
        """Whether windows are calendar months (their length varies)."""
        return self.months > 0

    @property
    def nominal(self) -> timedelta:
        """The longest a window can be, before daylight-saving shifts (31 days per month)."""
        return timedelta(days=31 * self.months) if self.months else self.length

    # -- boundary days and their wall times ---------------------------------------------------

    def _prev_day(self, day: date) -> date:
        """The latest day on or before ``day`` that holds a boundary."""
        if self.months:
            index = day.year * 12 + day.month - 1
            index -= index % self.months
            return date(index // 12, index % 12 + 1, 1)
        if self.length <= DAY:
            return day
        return day - timedelta(days=(day - self.anchor.date()).days % self.length.days)

    def _next_day(self, day: date) -> date:
        """The earliest day after ``day`` that holds a boundary."""
        if self.months:
            start = self._prev_day(day)
            index = start.year * 12 + start.month - 1 + self.months
            return date(index // 12, index % 12 + 1, 1)
        if self.length <= DAY:
            return day + DAY
        return self._prev_day(day) + self.length

    def _walls(self, day: date) -> list[datetime]:
        """The aligned local wall times on a boundary ``day``."""
        midnight = datetime.combine(day, time())
        if self.months:
            return [midnight]
        offset = self.anchor - datetime.combine(self.anchor.date(), time())
        if self.length <= DAY:
            offset %= self.length
            return [midnight + offset + k * self.length for k in range(DAY // self.length)]
        return [midnight + offset]

    def _instants(self, day: date, tz: ZoneInfo) -> list[datetime]:
        """The boundaries whose wall times fall on ``day``, sorted."""
        out: set[datetime] = set()
        for wall in self._walls(day):
            first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
            if first == second:
                out.add(first)
            elif first < second:  # a repeated wall time: the clock shows it twice
                out.add(first)
                if not self.months and self.length <= second - first:
                    out.add(second)
            else:  # a skipped wall time: the clock jumps over it
                out.add(_transition(second, first, tz))
        return sorted(out)

    def _days(self, first: date, last: date) -> Iterator[date]:
        day = self._prev_day(first)
        while day <= last:
            yield day
            day = self._next_day(day)

    # -- windows ------------------------------------------------------------------------------

    def ends(self, after: datetime, until: datetime, timezone: str = "UTC") -> list[datetime]:
        """Ends of the complete windows with ``after < end <= until``, oldest first."""
        tz = ZoneInfo(timezone)
        if until <= after:
            return []
        first = self._prev_day(after.astimezone(tz).date()) - DAY
        found: set[datetime] = set()
        for day in self._days(first, until.astimezone(tz).date()):
            found.update(b for b in self._instants(day, tz) if after < b <= until)
        return sorted(found)

    def _last_before(self, moment: datetime, timezone: str, *, inclusive: bool) -> datetime:
        tz = ZoneInfo(timezone)
        day = self._prev_day(moment.astimezone(tz).date())
        while True:
            # A repeated stretch may span midnight: the day before can hold a later boundary.
            earlier = self._prev_day(day - DAY)
            hits = [
                b
                for d in (earlier, day)
                for b in self._instants(d, tz)
                if b < moment or (inclusive and b == moment)
            ]
            if hits:
                return max(hits)
            day = earlier

    def floor(self, moment: datetime, timezone: str = "UTC") -> datetime:
        """The end of the latest window that is complete at ``moment``."""
        return self._last_before(moment, timezone, inclusive=True)

    def start(self, end: datetime, timezone: str = "UTC") -> datetime:
        """The start of the window that ends at ``end``: the boundary before it."""
        return self._last_before(end, timezone, inclusive=False)


def _transition(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    """The instant in ``(before, after]`` at which the UTC offset of ``tz`` changes (to the second)."""
    target = after.astimezone(tz).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == target:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, UTC)


def naive_utc(moment: datetime) -> datetime:
    """A moment as naive UTC, the store's representation."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware_utc(moment: datetime) -> datetime:
    """A moment read from the store (naive UTC) as an aware datetime; aware ones pass through."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_window(window: Window | timedelta) -> Window:
    """A :class:`Window` from a window or a fixed length."""
    return window if isinstance(window, Window) else Window(length=window)


def latest_window_end(now: datetime, window: Window | timedelta, timezone: str = "UTC") -> datetime:
    """The end of the latest window that is complete at ``now``."""
    return as_window(window).floor(now, timezone)


def window_start(end: datetime, window: Window | timedelta, timezone: str = "UTC") -> datetime:
    """The start of the window that ends at ``end`` (the boundary before it; DST-safe)."""
    return as_window(window).start(end, timezone)


def window_ends(
    after: datetime, until: datetime, window: Window | timedelta, timezone: str = "UTC"
) -> list[datetime]:
    """Ends of the complete windows with ``after < end <= until``, oldest first."""
    return as_window(window).ends(after, until, timezone)


def local_shift(moment: datetime, length: timedelta | int, timezone: str = "UTC") -> datetime:
    """``moment`` minus ``length`` of wall-clock time (an ``int``: calendar months) in ``timezone``.

    A trailing reference of ``"7d"`` before a window starting at local midnight starts at local
    midnight a week earlier, whatever the clocks did in between; one of ``"1mo"`` before a
    window starting on March 1 starts on February 1 (a day past the month's end is its last
    day). A skipped wall time resolves to the instant of the jump.
    """
    tz = ZoneInfo(timezone)
    local = moment.astimezone(tz).replace(tzinfo=None)
    if isinstance(length, int):
        index = local.year * 12 + local.month - 1 - length
        year, month = index // 12, index % 12 + 1
        last = (date(year + month // 12, month % 12 + 1, 1) - DAY).day
        wall = local.replace(year=year, month=month, day=min(local.day, last))
    else:
        wall = local - length
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return _transition(second, first, tz) if second < first else first
