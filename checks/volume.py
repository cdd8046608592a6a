"""Traffic volume: a window with far fewer predictions than the reference rate predicts.

The expected count of a window is the reference's rate of predictions times the window's
length, taken at the same phase of the traffic's cycle: for a window shorter than a week
and a reference of at least a week, from the reference's rows at the same time of the week
(a quiet Sunday is compared with Sundays); for a window shorter than a day and a reference of
at least a day, at the same time of day (a night hour with night hours); else over the whole
reference.

A window is a finding when its count is both *material* (below ``min_share`` of the
expected count) and *significant* under a Poisson model of both counts: given the window's
``n`` and the ``k`` matching reference rows, equal rates make ``n`` binomial with
``n + k`` trials and probability ``r / (1 + r)`` (``r`` the ratio of the window's exposure to
the reference's), the conditional test of two Poisson rates [1]_. Unlike a Poisson test
against the expectation as if it were known, it counts the reference's own noise (a
reference of a single past Sunday is weak evidence). For a large reference it is the Poisson
probability ``P(X <= n)`` with mean ``k * r``. Zero rows where rows were expected is
"traffic stopped"; fewer is "traffic dropped". Real traffic varies more than a Poisson
process, which the materiality bar absorbs: a busy window is never flagged for a few percent
of shortfall, however significant.

>>> times = pd.Series(pd.date_range("2026-01-01", periods=48, freq="h", tz="UTC"))
>>> e = expected_rows(times, (pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-03", tz="UTC")),
...                   (pd.Timestamp("2026-01-03", tz="UTC"), pd.Timestamp("2026-01-04", tz="UTC")))
>>> (e.reference_rows, e.ratio, e.rows)
(48, 0.5, 24.0)
>>> traffic_volume(0, e)[1].message
'traffic stopped: no predictions where the reference rate predicts 24'

References
----------
.. [1] Przyborowski, J., Wilenski, H. (1940). Homogeneity of results in testing samples
   from Poisson series. Biometrika 31, 313-323.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy import stats

from checks._params import InvalidParameter, check_interval
from checks.result import Finding

DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
Span = tuple[pd.Timestamp, pd.Timestamp]


@dataclass(frozen=True)
class Expectation:
    """What the reference predicts for a window: ``reference_rows * ratio`` rows.

    ``reference_rows`` is the count of reference rows at the window's phase (as stored, so
    its Poisson noise is known); ``ratio`` the window's exposure over theirs, times the rows
    each reference row stands for.
    """

    reference_rows: int
    ratio: float
    phase: str = "none"

    @property
    def rows(self) -> float:
        return self.reference_rows * self.ratio


def expected_rows(
    reference_times: pd.Series, reference: Span, window: Span, *, weight: float = 1.0
) -> Expectation:
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
    span, length = reference[1] - reference[0], window[1] - window[0]
    if span <= pd.Timedelta(0) or length <= pd.Timedelta(0):
        raise InvalidParameter(
            f"reference and window of expected_rows must have positive length; got {span}, {length}"
        )
    check_interval("weight", weight, "expected_rows", low=1.0)
    for period, phase in ((WEEK, "week"), (DAY, "day")):
        if length < period <= span:
            offset = (pd.to_datetime(reference_times, utc=True) - window[0]) % period
            return Expectation(int((offset < length).sum()), weight * (period / span), phase)
    return Expectation(len(reference_times), weight * (length / span))


def traffic_volume(
    n: int, expected: Expectation, *, min_share: float = 0.5, alpha: float = 0.01
) -> tuple[dict[str, Any], Finding | None]:
    """Whether ``n`` predictions fall far and significantly below ``expected``.

    Returns
    -------
    metrics : dict
        ``expected_rows``, ``traffic_share`` (``n / expected_rows``), ``traffic_p_value``
        (conditional binomial test of equal Poisson rates, one-sided) and ``traffic_phase``.
    finding : Finding or None
        Subject ``"traffic"``, method ``"traffic_volume"``, severity ``alert``.
    """
    func = "traffic_volume"
    check_interval("n", n, func, low=0)
    check_interval("min_share", min_share, func, low=0.0, high=1.0)
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="right")
    k, ratio = expected.reference_rows, expected.ratio
    share = n / expected.rows if expected.rows > 0 else None
    p = float(stats.binom.cdf(n, n + k, ratio / (1 + ratio))) if k > 0 else 1.0
    metrics = {
        "expected_rows": expected.rows,
        "traffic_share": share,
        "traffic_p_value": p,
        "traffic_phase": expected.phase,
    }
    if share is None or share >= min_share or p >= alpha:
        return metrics, None
    if n == 0:
        message = f"traffic stopped: no predictions where the reference rate predicts {expected.rows:,.0f}"
    else:
        message = (
            f"traffic dropped to {share:.0%} of what the reference rate predicts: "
            f"{n:,} predictions where {expected.rows:,.0f} were expected"
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
        evidence={
            "n": n,
            "expected_rows": expected.rows,
            "reference_rows": k,
            "phase": expected.phase,
            "test": "conditional binomial test of two Poisson rates",
        },
    )
