"""Latency, errors and throughput of a window: against SLOs and against a reference window.

Two kinds of findings:

* **SLO breach** (severity ``alert``): a latency percentile above its SLO, the error rate
  above ``max_error_rate``, or the throughput below ``min_throughput_per_min``.
* **Regression versus the reference** (severity ``warn``): it must be *material* (the
  current value at least ``1 + min_relative_increase`` times the reference value) and
  *significant* at ``alpha``. For a latency quantile ``q`` (p50, p95, p99) the test is the
  two-sample quantile test (Mood's median test generalised to the quantile ``q``): with
  ``t`` the reference's ``q``-quantile, the counts of requests above ``t`` in the current
  and reference windows are compared with a one-sided Fisher exact test. Under "no
  regression at ``q``" the current share above ``t`` is no larger than the reference share
  (about ``1 - q``); using the reference count rather than the nominal ``1 - q`` accounts
  for ``t`` being estimated. The error rate uses the same one-sided Fisher test on error
  counts. Materiality keeps a large-n, statistically significant but tiny slowdown quiet.

Latencies are one per request; NaN marks a request without a latency (e.g. it failed before
one was recorded): it counts in ``n`` and the throughput but not in the percentiles.
Percentiles are ``numpy.percentile`` (linear interpolation).

>>> rng = np.random.default_rng(0)
>>> ref = rng.lognormal(3.0, 0.5, 5000)
>>> r = latency_check(ref, ref * 1.5, window_seconds=3600, slo_p99_ms=80)
>>> sorted(f.subject for f in r.findings)
['latency:p50', 'latency:p95', 'latency:p99', 'latency:p99']

References
----------
.. [1] Mood, A. M. (1950). Introduction to the Theory of Statistics, McGraw-Hill, §16.4 (the
   median test); Conover, W. J. (1999). Practical Nonparametric Statistics, 3rd ed.,
   §4.3 (the median test extended to any quantile).
.. [2] Beyer, B. et al. (2016). Site Reliability Engineering, O'Reilly, ch. 4 (SLOs on latency
   percentiles and error rate).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from checks._params import InvalidParameter, as_float_array, check_interval
from checks.details import LatencySLO
from checks.result import CheckResult, Finding

QUANTILES: dict[str, float] = {"p50": 50.0, "p95": 95.0, "p99": 99.0}


def _requests(latency: Any, errors: Any, name: str, func: str) -> tuple[np.ndarray, int, int]:
    """Finite latencies, number of requests, number of errored requests."""
    x = as_float_array(latency, name, func, allow_nan=True)
    if np.isinf(x).any() or (x < 0).any():
        raise InvalidParameter(f"{name!r} of {func} must hold non-negative finite latencies or NaN")
    n = len(x)
    if errors is None:
        n_errors = 0
    elif np.ndim(errors) == 0:
        n_errors = int(errors)
    else:
        flags = np.asarray(errors, dtype=bool)
        if flags.shape != (n,):
            raise InvalidParameter(
                f"errors for {name!r} of {func} must be a count or one flag per request; "
                f"got shape {flags.shape} for {n} requests"
            )
        n_errors = int(flags.sum())
    if not 0 <= n_errors <= n:
        raise InvalidParameter(f"error count for {name!r} of {func} must be within [0, {n}]; got {n_errors}")
    return x[np.isfinite(x)], n, n_errors


def _summary(x: np.ndarray, n: int, n_errors: int, window_seconds: float | None) -> dict[str, float | None]:
    pct = np.percentile(x, list(QUANTILES.values())) if x.size else [None] * len(QUANTILES)
    out: dict[str, float | None] = {
        f"{k}_ms": None if v is None else float(v) for k, v in zip(QUANTILES, pct, strict=True)
    }
    out["max_ms"] = float(x.max()) if x.size else None
    out["error_rate"] = n_errors / n if n else None
    out["throughput_per_min"] = n / window_seconds * 60.0 if window_seconds else None
    return out


def _fisher_greater(cur_hits: int, cur_n: int, ref_hits: int, ref_n: int) -> float:
    """One-sided Fisher exact p-value that the current hit rate exceeds the reference hit rate."""
    table = [[cur_hits, cur_n - cur_hits], [ref_hits, ref_n - ref_hits]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def latency_check(
    reference_latency_ms: Any,
    current_latency_ms: Any,
    *,
    current_errors: Any = None,
    reference_errors: Any = None,
    window_seconds: float,
    reference_window_seconds: float | None = None,
    slo_p50_ms: float | None = None,
    slo_p95_ms: float | None = None,
    slo_p99_ms: float | None = None,
    max_error_rate: float | None = None,
    min_throughput_per_min: float | None = None,
    min_relative_increase: float = 0.2,
    alpha: float = 0.01,
    window_quantiles: Mapping[str, float | None] | None = None,
    quantile_rank_error: float = 0.0,
) -> CheckResult:
    """Latency percentiles, error rate and throughput of the current window against SLOs and a reference.

    Parameters
    ----------
    reference_latency_ms : array-like of shape (n_reference,) or None
        One latency per request of the reference window; ``None`` for SLO checks only.
    current_latency_ms : array-like of shape (n,)
        One latency per request of the current window (NaN: no latency recorded).
    current_errors, reference_errors : array-like of bool of shape (n,), int, or None
        Per-request error flags or the number of errored requests.
    window_seconds : float
        Length of the current window, for the throughput.
    reference_window_seconds : float, optional
        Length of the reference window, for its throughput (reported, not tested).
    slo_p50_ms, slo_p95_ms, slo_p99_ms : float, optional
        Latency SLOs; a percentile above its SLO is an ``alert``.
    max_error_rate : float, optional
        Error-rate SLO.
    min_throughput_per_min : float, optional
        Throughput floor (requests per minute); no traffic at all breaches it.
    min_relative_increase : float, default=0.2
        Materiality of a regression versus the reference (0.2: 20% slower / more errors).
    alpha : float, default=0.01
        Level of the one-sided regression tests.
    window_quantiles : mapping of str to float, optional
        ``p50_ms``, ``p95_ms``, ``p99_ms`` and ``max_ms`` of the whole window when
        ``current_latency_ms`` is a sample of it (computed where the window lives): they
        replace the sample's in the metrics and the SLO findings.
    quantile_rank_error : float, default=0.0
        Rank error of ``window_quantiles`` as a share of the window's requests (0: exact;
        ``1 / accuracy`` for Spark's ``percentile_approx``), reported with them.

    Returns
    -------
    CheckResult
        ``check="latency"``; metrics ``p50_ms, p95_ms, p99_ms, max_ms, error_rate,
        throughput_per_min, n, n_errors`` and their ``reference_`` counterparts (with
        ``window_quantiles``: ``quantile_rank_error`` too); findings with subject
        ``"latency:p95"``, ``"errors"`` or ``"throughput"``.
    """
    func = "latency_check"
    check_interval("window_seconds", window_seconds, func, low=0.0, closed="neither")
    check_interval("min_relative_increase", min_relative_increase, func, low=0.0)
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    if reference_window_seconds is not None:
        check_interval("reference_window_seconds", reference_window_seconds, func, low=0.0, closed="neither")
    for name, slo in (("slo_p50_ms", slo_p50_ms), ("slo_p95_ms", slo_p95_ms), ("slo_p99_ms", slo_p99_ms)):
        if slo is not None:
            check_interval(name, slo, func, low=0.0, closed="neither")
    if max_error_rate is not None:
        check_interval("max_error_rate", max_error_rate, func, low=0.0, high=1.0)
    if min_throughput_per_min is not None:
        check_interval("min_throughput_per_min", min_throughput_per_min, func, low=0.0)
    cur, n, n_err = _requests(current_latency_ms, current_errors, "current_latency_ms", func)
    metrics: dict[str, Any] = {**_summary(cur, n, n_err, window_seconds), "n": n, "n_errors": n_err}
    if window_quantiles is not None:
        check_interval("quantile_rank_error", quantile_rank_error, func, low=0.0, high=1.0)
        metrics.update(
            {key: window_quantiles.get(key) for key in (*(f"{q}_ms" for q in QUANTILES), "max_ms")}
        )
        metrics["quantile_rank_error"] = quantile_rank_error
    findings: list[Finding] = []
    ref: np.ndarray | None = None
    if reference_latency_ms is not None:
        ref, n_ref, ref_err = _requests(reference_latency_ms, reference_errors, "reference_latency_ms", func)
        ref_summary = _summary(ref, n_ref, ref_err, reference_window_seconds)
        metrics.update({f"reference_{k}": v for k, v in ref_summary.items()})
        metrics.update(reference_n=n_ref, reference_n_errors=ref_err)
    if n == 0 and min_throughput_per_min is None:
        return CheckResult.skipped("latency", "no requests in the current window", **metrics)

    slos = {"p50": slo_p50_ms, "p95": slo_p95_ms, "p99": slo_p99_ms}
    for key, slo in slos.items():
        value = metrics[f"{key}_ms"]
        if slo is not None and value is not None and value > slo:
            findings.append(
                Finding(
                    subject=f"latency:{key}",
                    method=f"{key}_slo",
                    statistic=value,
                    threshold=slo,
                    effect_size=value / slo - 1.0,
                    severity="alert",
                    message=f"{key} latency {value:.1f} ms is above its SLO of {slo:g} ms",
                    evidence={"n": n, "window_seconds": window_seconds},
                )
            )
    if max_error_rate is not None and n and metrics["error_rate"] > max_error_rate:
        findings.append(
            Finding(
                subject="errors",
                method="error_rate_slo",
                statistic=metrics["error_rate"],
                threshold=max_error_rate,
                severity="alert",
                message=f"error rate {metrics['error_rate']:.2%} is above its SLO of {max_error_rate:.2%}",
                evidence={"n": n, "n_errors": n_err},
            )
        )
    throughput = metrics["throughput_per_min"]
    if min_throughput_per_min is not None and throughput < min_throughput_per_min:
        findings.append(
            Finding(
                subject="throughput",
                method="throughput_slo",
                statistic=throughput,
                threshold=min_throughput_per_min,
                severity="alert",
                message=f"throughput {throughput:.1f}/min is below the floor {min_throughput_per_min:g}/min",
                evidence={"n": n, "window_seconds": window_seconds},
            )
        )
    if ref is not None and n:
        findings.extend(_regressions(cur, ref, metrics, min_relative_increase, alpha))
    statuses = {f.severity for f in findings}
    status = "alert" if "alert" in statuses else "warn" if statuses else "ok"
    slo = {f"{key}_ms": bound for key, bound in slos.items() if bound is not None}
    if max_error_rate is not None:
        slo["error_rate"] = max_error_rate
    details = {"slo": LatencySLO(**slo)} if slo else {}
    return CheckResult(
        check="latency", status=status, metrics=metrics, findings=tuple(findings), details=details
    )


def _regressions(
    cur: np.ndarray, ref: np.ndarray, metrics: dict[str, Any], min_relative_increase: float, alpha: float
) -> list[Finding]:
    """Material and significant increases of p50/p95/p99 and of the error rate versus the reference."""
    out: list[Finding] = []
    factor = 1.0 + min_relative_increase
    for key in QUANTILES:
        value, ref_value = metrics[f"{key}_ms"], metrics[f"reference_{key}_ms"]
        if value is None or ref_value is None or value < factor * ref_value or ref_value <= 0:
            continue
        cur_above, ref_above = int(np.count_nonzero(cur > ref_value)), int(np.count_nonzero(ref > ref_value))
        p = _fisher_greater(cur_above, cur.size, ref_above, ref.size)
        if p < alpha:
            out.append(
                Finding(
                    subject=f"latency:{key}",
                    method=f"{key}_regression",
                    statistic=value,
                    threshold=factor * ref_value,
                    p_value=p,
                    effect_size=value / ref_value - 1.0,
                    severity="warn",
                    message=f"{key} latency rose from {ref_value:.1f} ms to {value:.1f} ms",
                    evidence={
                        "reference": ref_value,
                        "share_above_reference_current": cur_above / cur.size,
                        "share_above_reference_reference": ref_above / ref.size,
                        "n": cur.size,
                        "n_reference": ref.size,
                        "test": "one-sided Fisher exact test on counts above the reference quantile",
                    },
                )
            )
    rate, ref_rate = metrics["error_rate"], metrics["reference_error_rate"]
    if rate is not None and ref_rate is not None and rate > 0 and rate >= factor * ref_rate:
        n, n_ref = metrics["n"], metrics["reference_n"]
        p = _fisher_greater(metrics["n_errors"], n, metrics["reference_n_errors"], n_ref)
        if p < alpha:
            out.append(
                Finding(
                    subject="errors",
                    method="error_rate_regression",
                    statistic=rate,
                    threshold=factor * ref_rate,
                    p_value=p,
                    effect_size=rate - ref_rate,
                    severity="warn",
                    message=f"error rate rose from {ref_rate:.2%} to {rate:.2%}",
                    evidence={
                        "reference": ref_rate,
                        "n": n,
                        "n_reference": n_ref,
                        "test": "one-sided Fisher exact",
                    },
                )
            )
    return out
