"""Parameter and input validation shared by all checks (one place, one message style).

>>> check_one_of("strategy", "equal", {"uniform", "quantile"}, "reliability_curve")
Traceback (most recent call last):
...
checks._params.InvalidParameter: 'strategy' of reliability_curve must be one of ['quantile', ...]; got 'equal'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd


class InvalidParameter(ValueError):
    """A check was called with a parameter outside its allowed set or range."""


def check_one_of(name: str, value: Any, allowed: Iterable[Any], func: str) -> None:
    """Raise :class:`InvalidParameter` unless ``value`` is in ``allowed``."""
    allowed = sorted(allowed, key=str)
    if value not in allowed:
        raise InvalidParameter(f"{name!r} of {func} must be one of {allowed}; got {value!r}")


def check_interval(
    name: str,
    value: float,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
) -> None:
    """Raise :class:`InvalidParameter` unless ``low <= value <= high`` (bounds per ``closed``).

    >>> check_interval("n_bins", 0, "ece", low=1)
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameter: 'n_bins' of ece must be >= 1; got 0
    """
    lo_ok = low is None or (value >= low if closed in ("both", "left") else value > low)
    hi_ok = high is None or (value <= high if closed in ("both", "right") else value < high)
    if not (lo_ok and hi_ok):
        parts = []
        if low is not None:
            parts.append(f">= {low}" if closed in ("both", "left") else f"> {low}")
        if high is not None:
            parts.append(f"<= {high}" if closed in ("both", "right") else f"< {high}")
        raise InvalidParameter(f"{name!r} of {func} must be {' and '.join(parts)}; got {value!r}")


def as_float_array(values: Any, name: str, func: str, *, allow_nan: bool = False) -> np.ndarray:
    """A 1-d float64 array from a list, ndarray or Series; NaN rejected unless allowed."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidParameter(f"{name!r} of {func} must be 1-dimensional; got shape {arr.shape}")
    if not allow_nan and not np.all(np.isfinite(arr)):
        raise InvalidParameter(f"{name!r} of {func} contains NaN or infinite values")
    return arr
