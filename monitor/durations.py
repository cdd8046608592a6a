"""Human durations in config (``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"2w"``).

>>> parse_duration("90m")
datetime.timedelta(seconds=5400)
>>> format_duration(parse_duration("1d"))
'1d'
>>> parse_duration("every 5 mins")
Traceback (most recent call last):
...
ValueError: 'every 5 mins' is not a valid duration (expected e.g. '30s', '5m', '1h', '1d', '2w')
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse ``"<number><unit>"`` with unit one of s, m, h, d, w."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a valid duration (expected e.g. '30s', '5m', '1h', '1d', '2w')")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} must be a positive duration")
    return timedelta(seconds=value)


def format_duration(delta: timedelta) -> str:
    """The shortest exact ``"<n><unit>"`` spelling of ``delta``."""
    seconds = int(delta.total_seconds())
    for unit, size in sorted(_UNITS.items(), key=lambda kv: -kv[1]):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
