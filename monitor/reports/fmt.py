"""Number formatting for reports: short, aligned, and honest about missing values.

>>> num(0.123456), num(0.00123456), num(12345.67), num(3.2e-9), num(None), num(float("nan"))
('0.1235', '0.001235', '12,346', '3.200e-09', '—', '—')
>>> pvalue(3.2e-9), pvalue(0.0412), pct(0.2844)
('3.2e-09', '0.041', '28.4%')
"""

from __future__ import annotations

import math
import numbers
from datetime import UTC, datetime
from typing import Any

import numpy as np

MISSING = "—"


def as_float(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (bools, strings and non-finite values are not numbers)."""
    if isinstance(value, bool | np.bool_ | str) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; integers stay integers, text stays text."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    f = as_float(value)
    if f is None:
        return MISSING
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < 1e9:
        return f"{int(f):,}"
    if 10**digits <= abs(f) < 1e9:
        return f"{f:,.0f}"
    if 1e-3 <= abs(f) < 10**digits:
        return f"{f:.{digits}g}"
    return f"{f:.{digits - 1}e}"


def pvalue(value: Any, *, resamples: int | None = None, raw: Any = None) -> str:
    """A p-value: two significant digits, scientific below 0.001.

    A bootstrap p-value (``resamples`` = B) cannot go below ``1 / (B + 1)``: when the raw
    value ``raw`` (default ``value``; pass it when ``value`` is adjusted) sits at that
    floor, the page says so instead of printing the floor as if it were measured.

    >>> pvalue(1 / 501, resamples=500), pvalue(0.006, resamples=500, raw=1 / 501), pvalue(0.3, resamples=500)
    ('< 0.002 (500 resamples)', '< 0.006 (500 resamples)', '0.30')
    """
    f = as_float(value)
    if f is None:
        return MISSING
    r = as_float(raw if raw is not None else value)
    if resamples and r is not None and r <= (1 + 1e-9) / (resamples + 1):
        mag = 10 ** math.floor(math.log10(f))
        return f"< {math.ceil(f / mag - 1e-9) * mag:.1g} ({resamples:,} resamples)"
    return f"{f:.1e}" if 0 < f < 1e-3 else f"{f:.3f}" if f < 0.1 else f"{f:.2f}"


def pct(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage."""
    f = as_float(value)
    return MISSING if f is None else f"{100 * f:.{digits}f}%"


def ms(value: Any) -> str:
    """Milliseconds."""
    f = as_float(value)
    return MISSING if f is None else f"{f:,.0f} ms" if f >= 100 else f"{f:.3g} ms"


def when(value: datetime) -> str:
    """A timestamp in UTC, minutes resolution (naive datetimes are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def label(key: str) -> str:
    """A metric key as a heading: ``share_drifted`` -> ``Share drifted``."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]
