"""Traffic volume: a window with far fewer predictions than the reference rate predicts.

The expected count of a window is the reference's rate of predictions times the window's
length. For a window shorter than a day (and a reference of at least a day) the rate is
taken at the same time of day, so a quiet night hour is compared with the reference's night
hours, not with its daily average.

A window is a finding when its count is both *material* (below ``min_share`` of the
expected count) and *significant*: under a Poisson model with the expected count as its
mean, a count this low or lower has probability below ``alpha``. Zero rows where rows were
expected is "traffic stopped"; fewer is "traffic dropped". Real traffic varies more than a
Poisson process, which the materiality bar absorbs: a busy window is never flagged for a
few percent of shortfall, however significant.

>>> round(expected_rows(pd.Series(pd.date_range("2026-01-01", periods=48, freq="h", tz="UTC")),
...     (pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-03", tz="UTC")),
...     (pd.Timestamp("2026-01-03", tz="UTC"), pd.Timestamp("2026-01-04", tz="UTC"))), 6)
24.0
>>> traffic_volume(0, 24.0)[1].message
'traffic stopped: no predictions where the reference rate predicts 24'
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy import stats

from checks._params import InvalidParameter, check_interval
from checks.result import Finding

DAY_SECONDS = 86_400.0
Span = tuple[pd.Timestamp, pd.Timestamp]


def expected_rows(reference_times: pd.Series, reference: Span, window: Span, *, weight: float = 1.0) -> float:
    """The number of predictions the reference's rate predicts for ``window``.

    Parameters
    ----------
    reference_times : pandas.Series of shape (n_reference,)
        Timestamps (aware) of the reference's predictions.
    reference, window : tuple of pandas.Timestamp
        Start and end of the reference period and of the window.
    weight : float, default=1.0
        Rows each reference row stands for (``1 / fraction`` for a sampled reference).
    """
    span = (reference[1] - reference[0]).total_seconds()
    length = (window[1] - window[0]).total_seconds()
    if span <= 0 or length <= 0:
        raise InvalidParameter(
            f"reference and window of expected_rows must have positive length; got {span}, {length}"
        )
    check_interval("weight", weight, "expected_rows", low=1.0)
    if length < DAY_SECONDS <= span:
        phase = (pd.to_datetime(reference_times, utc=True) - window[0]).dt.total_seconds() % DAY_SECONDS
        return weight * float((phase < length).sum()) * DAY_SECONDS / span
    return weight * len(reference_times) * length / span


def traffic_volume(
    n: int, expected: float, *, min_share: float = 0.5, alpha: float = 0.01
) -> tuple[dict[str, Any], Finding | None]:
    """Whether ``n`` predictions fall far and significantly below ``expected``.

    Returns
    -------
    metrics : dict
        ``expected_rows``, ``traffic_share`` (``n / expected``), ``traffic_p_value``
        (Poisson ``P(X <= n)``).
    finding : Finding or None
        Subject ``"traffic"``, method ``"traffic_volume"``, severity ``alert``.
    """
    func = "traffic_volume"
    check_interval("n", n, func, low=0)
    check_interval("expected", expected, func, low=0.0)
    check_interval("min_share", min_share, func, low=0.0, high=1.0)
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="right")
    share = n / expected if expected > 0 else None
    p = float(stats.poisson.cdf(n, expected)) if expected > 0 else 1.0
    metrics = {"expected_rows": expected, "traffic_share": share, "traffic_p_value": p}
    if share is None or share >= min_share or p >= alpha:
        return metrics, None
    if n == 0:
        message = f"traffic stopped: no predictions where the reference rate predicts {expected:,.0f}"
    else:
        message = (
            f"traffic dropped to {share:.0%} of what the reference rate predicts: "
            f"{n:,} predictions where {expected:,.0f} were expected"
        )
    return metrics, Finding(
        subject="traffic",
        method="traffic_volume",
        statistic=share,
        threshold=min_share,
        p_value=p,
        effect_size=1.0 - share,
        severity="alert",
        message=message,
        evidence={"n": n, "expected_rows": expected, "test": "Poisson P(X <= n)"},
    )
