"""Window arithmetic: which windows exist, which is the latest complete one.

Windows are aligned to midnight in the configured time zone: a ``"1h"`` window runs from
hh:00 to hh+1:00, a ``"1d"`` window from midnight to midnight, a ``"7d"`` window from
Monday to Monday. Windows shorter than a day must divide 24 h; longer ones must be whole
days. All returned moments are aware UTC datetimes.

>>> from datetime import datetime, timedelta, UTC
>>> latest_window_end(datetime(2026, 11, 3, 0, 5, tzinfo=UTC), timedelta(days=1))
datetime.datetime(2026, 11, 3, 0, 0, tzinfo=datetime.timezone.utc)
>>> [e.hour for e in window_ends(datetime(2026, 11, 3, 0, 0, tzinfo=UTC),
...                               datetime(2026, 11, 3, 3, 0, tzinfo=UTC), timedelta(hours=1))]
[1, 2, 3]
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
MONDAY = datetime(1970, 1, 5)


class WindowError(ValueError):
    """A window length that cannot be aligned to the calendar."""


def check_window(window: timedelta) -> None:
    """Raise :class:`WindowError` unless ``window`` divides a day or is whole days."""
    if window < DAY and DAY % window != timedelta(0):
        raise WindowError(f"a window shorter than a day must divide 24h evenly; got {window}")
    if window > DAY and window % DAY != timedelta(0):
        raise WindowError(f"a window longer than a day must be whole days; got {window}")


def _floor_local(moment: datetime, window: timedelta, tz: ZoneInfo) -> datetime:
    local = moment.astimezone(tz).replace(tzinfo=None)
    if window <= DAY:
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        steps = (local - midnight) // window
        floored = midnight + steps * window
    else:
        floored = MONDAY + ((local - MONDAY) // window) * window
    return floored.replace(tzinfo=tz).astimezone(UTC)


def latest_window_end(now: datetime, window: timedelta, timezone: str = "UTC") -> datetime:
    """The end of the latest window that is complete at ``now``."""
    check_window(window)
    return _floor_local(now, window, ZoneInfo(timezone))


def window_start(end: datetime, window: timedelta, timezone: str = "UTC") -> datetime:
    """The start of the window that ends at ``end`` (computed in local time: DST-safe)."""
    tz = ZoneInfo(timezone)
    local_end = end.astimezone(tz).replace(tzinfo=None)
    return (local_end - window).replace(tzinfo=tz).astimezone(UTC)


def window_ends(after: datetime, until: datetime, window: timedelta, timezone: str = "UTC") -> list[datetime]:
    """Ends of the complete windows with ``after < end <= until``, oldest first."""
    check_window(window)
    tz = ZoneInfo(timezone)
    end = _floor_local(until, window, tz)
    ends = []
    while end > after:
        ends.append(end)
        local = end.astimezone(tz).replace(tzinfo=None) - window
        end = local.replace(tzinfo=tz).astimezone(UTC)
    return ends[::-1]
