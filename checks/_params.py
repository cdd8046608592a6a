"""Parameter and input validation shared by all checks (one place, one message style).

Every message names the parameter as the caller spelled it, the function, what is allowed and
the value received, in plain form (``1.5``, never ``np.float64(1.5)``). A value outside its
allowed set or range raises :class:`InvalidParameter` (a ``ValueError``); a value of the wrong
type raises :class:`InvalidParameterType` (a ``TypeError``, and an ``InvalidParameter``).

>>> check_one_of("strategy", "equal", {"uniform", "quantile"}, "reliability_curve")
Traceback (most recent call last):
...
checks._params.InvalidParameter: 'strategy' of reliability_curve must be one of ['quantile', ...]; got 'equal'
>>> check_interval("current_threshold", np.float64(1.5), "threshold_check", low=0.0, high=1.0)
Traceback (most recent call last):
...
checks._params.InvalidParameter: 'current_threshold' of threshold_check must be >= 0.0 and <= 1.0; got 1.5
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd


class InvalidParameter(ValueError):
    """A check was called with a parameter outside its allowed set or range."""


class InvalidParameterType(InvalidParameter, TypeError):
    """A check was called with a parameter of the wrong type."""


def plain(value: Any) -> Any:
    """``value`` as a plain Python object for messages: numpy scalars and arrays unwrapped.

    >>> plain(np.float64(1.5)), plain(np.array([1, 2])), plain("a")
    (1.5, [1, 2], 'a')
    """
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    if isinstance(value, tuple | list):
        return type(value)(plain(v) for v in value)
    return value


def check_one_of(name: str, value: Any, allowed: Iterable[Any], func: str) -> None:
    """Raise :class:`InvalidParameter` unless ``value`` is in ``allowed``."""
    allowed = sorted(allowed, key=str)
    if value not in allowed:
        raise InvalidParameter(f"{name!r} of {func} must be one of {allowed}; got {plain(value)!r}")


def check_interval(
    name: str,
    value: Any,
    func: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
    integer: bool = False,
) -> None:
    """Raise unless ``value`` is a real number (an integer if asked) with ``low <= value <= high``.

    ``closed`` says which bounds are included (``"both"``, ``"left"``, ``"right"``, ``"neither"``);
    NaN is never within range.

    >>> check_interval("n_bins", 0, "ece", low=1)
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameter: 'n_bins' of ece must be >= 1; got 0
    >>> check_interval("n_resamples", 2.5, "performance", low=1, integer=True)
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameterType: 'n_resamples' of performance must be an integer; got 2.5 (float)
    """
    kind = numbers.Integral if integer else numbers.Real
    if not isinstance(value, kind) or isinstance(value, bool | np.bool_):
        what = "an integer" if integer else "a number"
        raise InvalidParameterType(
            f"{name!r} of {func} must be {what}; got {plain(value)!r} ({type(value).__name__})"
        )
    lo_ok = low is None or (value >= low if closed in ("both", "left") else value > low)
    hi_ok = high is None or (value <= high if closed in ("both", "right") else value < high)
    if not (lo_ok and hi_ok):
        parts = []
        if low is not None:
            parts.append(f">= {low}" if closed in ("both", "left") else f"> {low}")
        if high is not None:
            parts.append(f"<= {high}" if closed in ("both", "right") else f"< {high}")
        raise InvalidParameter(f"{name!r} of {func} must be {' and '.join(parts)}; got {plain(value)!r}")


def check_open_unit(name: str, value: Any, func: str) -> None:
    """A level, rate or confidence: a number strictly between 0 and 1.

    >>> check_open_unit("confidence", 1.0, "wilson_interval")
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameter: 'confidence' of wilson_interval must be > 0.0 and < 1.0; got 1.0
    """
    check_interval(name, value, func, low=0.0, high=1.0, closed="neither")


def check_n_resamples(value: Any, func: str, *, low: int = 1, name: str = "n_resamples") -> None:
    """A number of resamples or simulations: an integer of at least ``low``."""
    check_interval(name, value, func, low=low, integer=True)


def as_float_array(values: Any, name: str, func: str, *, allow_nan: bool = False) -> np.ndarray:
    """A 1-d float64 array from a list, ndarray or Series; NaN rejected unless allowed."""
    try:
        arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterType(f"{name!r} of {func} must hold numbers") from None
    if arr.ndim != 1:
        raise InvalidParameter(f"{name!r} of {func} must be 1-dimensional; got shape {arr.shape}")
    if not allow_nan and not np.all(np.isfinite(arr)):
        raise InvalidParameter(f"{name!r} of {func} contains NaN or infinite values")
    return arr


def _offending(values: np.ndarray, bad: np.ndarray) -> str:
    """Up to three offending values, plain (``[2.0, -1.0]``)."""
    shown = plain(np.unique(values[bad])[:3])
    return f"{shown}{' ...' if np.unique(values[bad]).size > 3 else ''}"


def binary_labels(values: Any, name: str, func: str) -> np.ndarray:
    """Outcomes of a binary model as a float array holding only 0 and 1 (the one 0/1 check).

    >>> binary_labels([0, 1, 2], "y_true", "calibration_check")
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameter: 'y_true' of calibration_check must hold only 0 and 1; got [2.0]
    """
    y = as_float_array(values, name, func)
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise InvalidParameter(f"{name!r} of {func} must hold only 0 and 1; got {_offending(y, bad)}")
    return y


def probabilities(values: Any, name: str, func: str) -> np.ndarray:
    """Probabilities as a float array, each in [0, 1].

    >>> probabilities([0.2, 1.5], "y_score", "calibration_check")
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameter: 'y_score' of calibration_check must lie in [0, 1]; got [1.5]
    """
    p = as_float_array(values, name, func)
    bad = (p < 0) | (p > 1)
    if bad.any():
        raise InvalidParameter(f"{name!r} of {func} must lie in [0, 1]; got {_offending(p, bad)}")
    return p


def check_same_length(func: str, **arrays: Sequence[Any] | np.ndarray) -> None:
    """Raise unless every array has the same length, naming the two that differ.

    >>> check_same_length("threshold_check", y_true=[0, 1], y_score=[0.5])
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameter: 'y_true' and 'y_score' of threshold_check differ in length: 2 != 1
    """
    (first, a), *rest = arrays.items()
    for other, b in rest:
        if len(b) != len(a):
            raise InvalidParameter(
                f"{first!r} and {other!r} of {func} differ in length: {len(a)} != {len(b)}"
            )


def check_columns(frame: Any, columns: Iterable[str], name: str, func: str) -> None:
    """Raise unless ``frame`` is a DataFrame holding every one of ``columns``.

    >>> check_columns(pd.DataFrame({"a": [1]}), ["a", "label"], "current", "performance")
    Traceback (most recent call last):
    ...
    checks._params.InvalidParameter: 'current' of performance lacks columns ['label']
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterType(f"{name!r} of {func} must be a DataFrame; got {type(frame).__name__}")
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise InvalidParameter(f"{name!r} of {func} lacks columns {absent}")
