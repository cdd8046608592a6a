"""Human durations in config (``"0s"``, ``"30s"``, ``"5m"``, ``"4h"``, ``"2d"``, ``"1w"``).

It lives in ``alerts/`` because ``alerts/`` must not import ``monitor/``; ``monitor.config``
imports it from here. :data:`Duration` allows zero (``group_wait = "0s"`` is meaningful);
:data:`PositiveDuration` does not (a window, an interval).

>>> parse_duration("90m")
datetime.timedelta(seconds=5400)
>>> parse_duration("0s")
datetime.timedelta(0)
>>> format_duration(timedelta(days=2))
'2d'
>>> parse_duration("every 5 mins")
Traceback (most recent call last):
...
ValueError: 'every 5 mins' is not a valid duration (expected e.g. '30s', '5m', '1h', '1d', '2w')
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse ``"<number><unit>"`` with unit one of s, m, h, d, w (zero allowed)."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a valid duration (expected e.g. '30s', '5m', '1h', '1d', '2w')")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_duration(delta: timedelta) -> str:
    """The shortest exact ``"<n><unit>"`` spelling of ``delta``."""
    seconds = int(delta.total_seconds())
    for unit, size in sorted(_UNITS.items(), key=lambda kv: -kv[1]):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _to_duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(value)


#: A ``timedelta`` field that accepts ``"5m"`` in config and serialises back to it.
Duration = Annotated[
    timedelta, BeforeValidator(_to_duration), PlainSerializer(format_duration, return_type=str)
]


def _to_positive_duration(value: Any) -> timedelta:
    delta = _to_duration(value)
    if delta <= timedelta(0):
        raise ValueError(f"{value!r} must be a positive duration")
    return delta


#: Like :data:`Duration`, but zero is rejected.
PositiveDuration = Annotated[
    timedelta, BeforeValidator(_to_positive_duration), PlainSerializer(format_duration, return_type=str)
]
