"""Segments whose error got worse than the rest of the window did, or is worse than the rest.

For each configured segment column the current window is split into segments:

- numeric columns with more than ``numeric_bins`` distinct values are cut at the reference
  window's quantiles (the current window's when there is no reference), with open outer
  bins so that values outside the reference range still land in a segment;
- other columns keep their ``top_k`` most frequent values (in the current window) and pool
  the rest into ``"__other__"``; missing values form ``"__missing__"``.

Per segment the check reports the metric (``"error_rate"``: share of rows where the
prediction differs from the label; ``"mae"``: mean absolute error), its support and a
confidence interval (Wilson score for error rates, percentile bootstrap for MAE). Each
segment with at least ``min_support`` rows, in a window whose rest has as many, gets one
one-sided test:

- **with a reference** (the segment and the rest of the reference holding ``min_support``
  rows each): did the segment get worse *relative to the rest of the window*? A global
  degradation raises every segment and is the performance check's finding, not a segment's;
  a segment that was always worse than the rest is not news. The tested quantity is the
  change of the segment-to-rest ratio of the metric, the ratio of ratios
  ``(m_seg / m_rest) / (m_ref_seg / m_ref_rest)``, by a Wald z-test of the difference of the
  two log ratios [4]_: each log ratio's variance is the delta-method ``s^2 / (n m^2)`` summed
  over its two groups, which for error rates is Katz's ``1/k - 1/n`` [5]_ (a stratum with an
  empty cell gets 0.5 added to its four cells). On the ratio scale a degradation that
  multiplies every segment's error by the same factor changes nothing. The materiality is
  the segment's ``excess`` over its ``expected_value``, what it would be had it changed like
  the rest (``m_ref_seg * m_rest / m_ref_rest``, the empty cells corrected as in the test:
  the segment's value over the ratio of ratios), and a flagged segment must also be worse
  than it was in the reference by as much (the rest improving alone is no degradation);
- **otherwise** (no reference, a segment too small in the reference such as a new category,
  or a log ratio undefined because a regression group has no error at all): is the segment
  worse than the rest of the current window, by a pooled two-proportion z-test (error rate)
  or Welch's t-test on absolute errors (MAE) [3]_? This is all that can be asked without
  history, and it also flags segments that were always worse. The materiality is the
  ``excess`` over the rest.

With a reference the segment must *also* be worse than it was itself: its own change is
tested one-sided against the same segment in the reference (the two-proportion z-test or
Welch's t-test above), and the segment's p-value is the larger of the two
(an intersection-union test [6]_: both must reject). So the rest of the window improving
while the segment stays as it was flags nothing, and a segment that was already weak in
the reference and did not get worse is never flagged.

All tests of all columns form one family, adjusted by Benjamini-Hochberg at level ``fdr``
[1]_. A segment is flagged when its test is significant after adjustment AND its excess (and,
with a reference, its rise over its reference value) is at least ``min_delta``.

A flagged segment is an ``alert`` only when it deserves a page: it holds at least
``alert_min_rows`` rows and ``alert_min_share`` of the window (support), its metric is at
least ``min_ratio`` times what it is compared with -- with a reference both its ratio of
ratios and its ratio to its own reference value, otherwise its ratio to the rest -- and its
BH-adjusted p-value is at most ``alert_fdr`` (stricter than ``fdr``: with 30 segments per
window a 5% false discovery rate would still page in about 1% of stationary windows).
Other flagged segments are ``warn``: a segment of 77 rows, or one whose error went from
0.218 to 0.245, is worth a look, not a page.

References
----------
.. [1] Benjamini, Y., Hochberg, Y. (1995). Controlling the false discovery rate: a practical
   and powerful approach to multiple testing. JRSS B, 57(1), 289-300.
.. [2] Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
   inference. JASA, 22(158), 209-212.
.. [3] Welch, B. L. (1947). The generalization of "Student's" problem when several different
   population variances are involved. Biometrika, 34(1-2), 28-35.
.. [4] Altman, D. G., Bland, J. M. (2003). Interaction revisited: the difference between two
   estimates. BMJ, 326(7382), 219.
.. [5] Katz, D., Baptista, J., Azen, S. P., Pike, M. C. (1978). Obtaining confidence intervals
   for the risk ratio in cohort studies. Biometrics, 34(3), 469-474.
.. [6] Berger, R. L., Hsu, J. C. (1996). Bioequivalence trials, intersection-union tests and
   equivalence confidence sets. Statistical Science, 11(4), 283-319.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from checks._params import InvalidParameter, check_interval, check_n_resamples, check_one_of, check_open_unit
from checks.bootstrap import bootstrap_ci
from checks.details import SegmentRow
from checks.result import CheckResult, Finding, Severity, worst_status
from checks.segmentation import segmentation

TASKS = ("binary", "multiclass", "regression")
METRIC_FOR_TASK = {"binary": "error_rate", "multiclass": "error_rate", "regression": "mae"}
DEFAULT_MIN_DELTA_ERROR_RATE = 0.02
DEFAULT_MIN_DELTA_MAE_FRACTION = 0.1
DEFAULT_ALERT_MIN_ROWS = 300
DEFAULT_ALERT_MIN_SHARE = 0.01
DEFAULT_MIN_RATIO = 1.5
DEFAULT_ALERT_FDR = 0.01


def wilson_interval(k: float, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n``.

    >>> [round(v, 4) for v in wilson_interval(5, 50)]
    [0.0435, 0.2136]
    """
    check_open_unit("confidence", confidence, "wilson_interval")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    low = 0.0 if k == 0 else max(0.0, float(centre - half))
    return low, 1.0 if k == n else min(1.0, float(centre + half))


def _normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (``scipy.stats.norm.sf`` without its per-call overhead)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _losses(
    frame: pd.DataFrame, y_true: str, prediction: str, metric: str, score: bool, cut: float
) -> pd.Series:
    truth, pred = frame[y_true], frame[prediction]
    if score:
        pred = (pred >= cut).astype(truth.dtype)
    if metric == "error_rate":
        return (pred != truth).astype(np.float64)
    return (pred.astype(np.float64) - truth.astype(np.float64)).abs()


@dataclass(frozen=True)
class _Group:
    """Sufficient statistics of a group's per-row losses: count, sum and sum of squares."""

    n: int
    total: float
    squares: float

    @classmethod
    def of(cls, x: np.ndarray) -> _Group:
        return cls(x.size, float(x.sum()), float((x * x).sum()))

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def std(self) -> float:
        return math.sqrt(max(0.0, (self.squares - self.total**2 / self.n) / (self.n - 1)))


def _sums(codes: np.ndarray, x: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keep = codes >= 0
    codes, x = codes[keep], x[keep]
    return (
        np.bincount(codes, minlength=size),
        np.bincount(codes, weights=x, minlength=size),
        np.bincount(codes, weights=x * x, minlength=size),
    )


def _one_sided_p(metric: str, seg: _Group, other: _Group) -> float:
    """P-value of H1: the segment's mean loss is greater than the other group's."""
    if metric == "error_rate":
        pooled = (seg.total + other.total) / (seg.n + other.n)
        se = math.sqrt(pooled * (1 - pooled) * (1 / seg.n + 1 / other.n))
        if se == 0:
            return 1.0
        return _normal_sf((seg.mean - other.mean) / se)
    result = stats.ttest_ind_from_stats(
        seg.mean, seg.std, seg.n, other.mean, other.std, other.n, equal_var=False, alternative="greater"
    )
    return 1.0 if math.isnan(result.pvalue) else float(result.pvalue)


def _log_ratio(metric: str, seg: _Group, rest: _Group) -> tuple[float, float] | None:
    """Log of the segment's mean loss over the rest's, and its delta-method variance.

    None when a regression group has no error (the log of 0 is undefined).
    """
    if metric == "error_rate":
        cells = (seg.total, seg.n - seg.total, rest.total, rest.n - rest.total)
        a, b, c, d = (v + 0.5 for v in cells) if min(cells) == 0 else cells
        return math.log(a / (a + b)) - math.log(c / (c + d)), 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    if seg.total <= 0 or rest.total <= 0:
        return None
    variance = sum(g.std**2 / (g.n * g.mean**2) for g in (seg, rest))
    return math.log(seg.mean / rest.mean), variance


def _ratio_of_ratios_test(
    metric: str, seg: _Group, rest: _Group, ref_seg: _Group, ref_rest: _Group
) -> tuple[float, float] | None:
    """The ratio of ratios and the one-sided p-value of H1: it is above 1 (None when undefined)."""
    now, before = _log_ratio(metric, seg, rest), _log_ratio(metric, ref_seg, ref_rest)
    if now is None or before is None:
        return None
    change, se = now[0] - before[0], math.sqrt(now[1] + before[1])
    return math.exp(change), 1.0 if se == 0 else _normal_sf(change / se)


def segment_check(
    frame: pd.DataFrame,
    reference_frame: pd.DataFrame | None = None,
    *,
    segments: list[str],
    y_true: str,
    y_pred: str | None = None,
    y_score: str | None = None,
    task: str = "binary",
    metric: str | None = None,
    threshold: float = 0.5,
    numeric_bins: int = 4,
    top_k: int = 20,
    min_support: int = 50,
    fdr: float = 0.05,
    min_delta: float | None = None,
    alert_min_rows: int = DEFAULT_ALERT_MIN_ROWS,
    alert_min_share: float = DEFAULT_ALERT_MIN_SHARE,
    min_ratio: float = DEFAULT_MIN_RATIO,
    alert_fdr: float = DEFAULT_ALERT_FDR,
    confidence: float = 0.95,
    n_resamples: int = 500,
    seed: int = 0,
) -> CheckResult:
    """Find segments whose error got, or is, significantly and materially worse (see the module docstring).

    Parameters
    ----------
    frame : DataFrame
        The current window: segment columns, the label column and the prediction column.
    reference_frame : DataFrame or None, default=None
        The reference window with the same columns. With it a segment is flagged when it got
        worse relative to the rest of the window (ratio of ratios); without it, when it is
        worse than the rest of the current window, and numeric bins use the current window's
        quantiles.
    segments : list of str
        Segment columns.
    y_true : str
        Label column; rows without a label are ignored.
    y_pred : str, optional
        Prediction column (class label, or value for regression).
    y_score : str, optional
        Score column of a binary model, used when ``y_pred`` is not given: the prediction is
        ``score >= threshold``.
    task : {"binary", "multiclass", "regression"}, default="binary"
    metric : {"error_rate", "mae"}, optional
        Default ``"error_rate"`` for classification, ``"mae"`` for regression.
    threshold : float, default=0.5
    numeric_bins : int, default=4
    top_k : int, default=20
    min_support : int, default=50
        Fewer rows than this in the segment or the rest of the window leaves the segment
        untested; fewer in the segment or the rest of the reference leaves it compared with
        the rest of the window only.
    fdr : float, default=0.05
        Benjamini-Hochberg false discovery rate over every test of the call.
    min_delta : float, optional
        Smallest material excess of the metric over its expected value and its reference
        value (with a reference) or over the rest's (without); default 0.02 for error rates,
        and 10% of the window's MAE (the reference's when given) for MAE.
    alert_min_rows : int, default=300
        A flagged segment with fewer rows is a ``warn``, never an ``alert``.
    alert_min_share : float, default=0.01
        Likewise for a flagged segment holding less than this share of the window's rows.
    min_ratio : float, default=1.5
        A flagged segment is an ``alert`` only when its metric is at least this many times
        its comparison value (with a reference: its ratio of ratios and its ratio to its own
        reference value; otherwise its ratio to the rest of the window).
    alert_fdr : float, default=0.01
        A flagged segment is an ``alert`` only when its BH-adjusted p-value is at most this.
    confidence : float, default=0.95
        Level of the per-segment intervals.
    n_resamples : int, default=500
        Bootstrap resamples of the MAE intervals.
    seed : int, default=0

    Returns
    -------
    CheckResult
        ``check="segments"``; one finding per flagged segment (subject
        ``"segment:<column>=<value>"``, statistic the segment's metric), ``alert`` or
        ``warn`` by the alert rules; the status is the worst severity. ``details["segments"]``
        lists every segment, flagged first and then by excess; ``details["binning"]`` says
        how each column was split.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"country": rng.choice(["DE", "FR", "IT"], 3000), "y": rng.integers(0, 2, 3000)})
    >>> df["pred"] = np.where((df.country == "IT") & (rng.uniform(size=3000) < 0.3), 1 - df.y, df.y)
    >>> result = segment_check(df, segments=["country"], y_true="y", y_pred="pred")
    >>> [f.subject for f in result.findings]
    ['segment:country=IT']
    >>> result = segment_check(df, df, segments=["country"], y_true="y", y_pred="pred")
    >>> result.status, result.details["segments"][0].comparison  # IT was just as bad before
    ('ok', 'reference')
    """
    func = "segment_check"
    check_one_of("task", task, TASKS, func)
    metric = metric or METRIC_FOR_TASK[task]
    check_one_of("metric", metric, {METRIC_FOR_TASK[task]}, func)
    check_interval("numeric_bins", numeric_bins, func, low=2)
    check_interval("top_k", top_k, func, low=1)
    check_interval("min_support", min_support, func, low=2)
    check_interval("fdr", fdr, func, low=0.0, high=1.0, closed="neither")
    check_open_unit("confidence", confidence, func)
    check_interval("threshold", threshold, func, low=0.0, high=1.0)
    check_n_resamples(n_resamples, func)
    check_interval("alert_min_rows", alert_min_rows, func, low=1)
    check_interval("alert_min_share", alert_min_share, func, low=0.0, high=1.0)
    check_interval("min_ratio", min_ratio, func, low=1.0)
    check_interval("alert_fdr", alert_fdr, func, low=0.0, high=1.0, closed="right")
    if min_delta is not None:
        check_interval("min_delta", min_delta, func, low=0.0)
    prediction = y_pred if y_pred is not None else y_score
    if prediction is None:
        raise InvalidParameter(f"{func} needs 'y_pred' or (binary) 'y_score'")
    if y_pred is None and task != "binary":
        raise InvalidParameter(f"'y_score' of {func} stands in for 'y_pred' only for task 'binary'")
    needed = [*segments, y_true, prediction]
    for name, df in (("frame", frame), ("reference_frame", reference_frame)):
        absent = [c for c in needed if df is not None and c not in df.columns]
        if absent:
            raise InvalidParameter(f"{name!r} of {func} lacks columns {absent}")

    def labelled(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        df = df[df[y_true].notna() & df[prediction].notna()]
        return df, _losses(df, y_true, prediction, metric, y_pred is None, threshold)

    cur, loss = labelled(frame)
    if cur.empty:
        return CheckResult.skipped("segments", "no labelled rows in the current window", n=0)
    ref, ref_loss = labelled(reference_frame) if reference_frame is not None else (None, None)
    if ref is not None and ref.empty:
        ref, ref_loss = None, None
    if min_delta is None:
        basis = loss if ref_loss is None else ref_loss
        min_delta = (
            DEFAULT_MIN_DELTA_ERROR_RATE
            if metric == "error_rate"
            else DEFAULT_MIN_DELTA_MAE_FRACTION * float(basis.mean())
        )

    x = loss.to_numpy(dtype=np.float64)
    whole = _Group.of(x)
    ref_x = None if ref_loss is None else ref_loss.to_numpy(dtype=np.float64)
    ref_whole = None if ref_x is None else _Group.of(ref_x)
    rows: list[dict[str, Any]] = []
    tests: list[tuple[int, float]] = []  # (row index, raw p)
    binning: dict[str, Any] = {}
    for column in segments:
        split = segmentation(
            cur[column],
            None if ref is None else ref[column],
            numeric_bins=numeric_bins,
            top_k=top_k,
            sort=True,
        )
        binning[column], codes, values = split.how, split.codes, split.labels
        sums = _sums(codes, x, len(values))
        ref_sums = None
        if ref_x is not None and split.reference_codes is not None:
            ref_sums = _sums(split.reference_codes, ref_x, len(values))
        for j, value in enumerate(values):
            seg = _Group(int(sums[0][j]), float(sums[1][j]), float(sums[2][j]))
            pair = (seg, _minus(whole, seg))
            ref_pair = None
            if ref_sums is not None and ref_whole is not None:
                ref_seg = _Group(int(ref_sums[0][j]), float(ref_sums[1][j]), float(ref_sums[2][j]))
                ref_pair = (ref_seg, _minus(ref_whole, ref_seg))
            row = _segment_row(
                column, str(value), x[codes == j], metric, confidence, n_resamples, seed, len(x)
            )
            row.update(_comparison_values(pair, ref_pair))
            p = _test(metric, row, pair, ref_pair, min_support)
            if p is not None:
                tests.append((len(rows), p))
            rows.append(row)

    support_rule = {
        "alert_min_rows": alert_min_rows,
        "alert_min_share": alert_min_share,
        "min_ratio": min_ratio,
        "alert_fdr": alert_fdr,
    }
    adjusted = stats.false_discovery_control([p for _, p in tests], method="bh") if tests else []
    for (i, p), q in zip(tests, adjusted, strict=True):
        row = rows[i]
        row["p_value"], row["p_adjusted"] = p, float(q)
        rises = [row["excess"]]
        if row["comparison"] == "reference":
            rises.append(row["value_metric"] - row["reference_value"])
        if q <= fdr and min(rises) >= min_delta and min(rises) > 0:
            row["flagged"] = True
            row["flagged_against"] = [row["comparison"]]
            row["severity"] = _severity(row, support_rule)

    rows.sort(key=_severity_key)
    findings = tuple(_finding(r, metric, min_delta, fdr, support_rule) for r in rows if r["flagged"])
    metrics = {
        "n": len(cur),
        "metric": metric,
        "overall": float(loss.mean()),
        "reference_overall": None if ref_loss is None else float(ref_loss.mean()),
        "n_segments": len(rows),
        "n_tests": len(tests),
        "n_flagged": len(findings),
        "n_alerts": sum(f.severity == "alert" for f in findings),
        "min_delta": float(min_delta),
    }
    return CheckResult(
        check="segments",
        status=worst_status([f.severity for f in findings]),
        metrics=metrics,
        findings=findings,
        details={
            "segments": [SegmentRow.of(r) for r in rows],
            "binning": binning,
            "fdr": fdr,
            "min_support": min_support,
            **support_rule,
        },
    )


def _severity(row: dict[str, Any], rules: dict[str, Any]) -> Severity:
    """``alert`` when the flagged segment has the support, ratio and significance of a page, else ``warn``."""
    value = row["value_metric"]
    if row["comparison"] == "reference":
        own = value / row["reference_value"] if row["reference_value"] > 0 else math.inf
        ratio = min(row["ratio_of_ratios"], own)
    else:
        ratio = value / row["rest_value"] if row["rest_value"] > 0 else math.inf
    row["alert_ratio"] = ratio
    supported = row["support"] >= rules["alert_min_rows"] and row["share"] >= rules["alert_min_share"]
    significant = row["p_adjusted"] <= rules["alert_fdr"]
    return "alert" if supported and significant and ratio >= rules["min_ratio"] else "warn"


def _minus(whole: _Group, part: _Group) -> _Group:
    return _Group(whole.n - part.n, whole.total - part.total, whole.squares - part.squares)


def _mean(group: _Group) -> float | None:
    return group.mean if group.n else None


def _comparison_values(pair: tuple[_Group, _Group], ref_pair: tuple[_Group, _Group] | None) -> dict[str, Any]:
    """The rest's and the reference's values and the gaps between them (None where a group is empty)."""
    seg, rest = pair
    ref_seg, ref_rest = ref_pair if ref_pair is not None else (_Group(0, 0.0, 0.0), _Group(0, 0.0, 0.0))
    value, rest_value = seg.mean, _mean(rest)
    reference_value, reference_rest_value = _mean(ref_seg), _mean(ref_rest)
    gap = None if rest_value is None else value - rest_value
    reference_gap = (
        None
        if reference_value is None or reference_rest_value is None
        else reference_value - reference_rest_value
    )
    return {
        "rest_value": rest_value,
        "rest_support": rest.n,
        "reference_value": reference_value,
        "reference_support": ref_seg.n,
        "reference_rest_value": reference_rest_value,
        "reference_rest_support": ref_rest.n,
        "gap": gap,
        "reference_gap": reference_gap,
        "gap_change": None if gap is None or reference_gap is None else gap - reference_gap,
    }


def _test(
    metric: str,
    row: dict[str, Any],
    pair: tuple[_Group, _Group],
    ref_pair: tuple[_Group, _Group] | None,
    min_support: int,
) -> float | None:
    """Run the segment's one test; record its comparison, ratio of ratios, expected value and excess."""
    seg, rest = pair
    if seg.n < min_support or rest.n < min_support:
        return None
    if ref_pair is not None and min(g.n for g in ref_pair) >= min_support:
        result = _ratio_of_ratios_test(metric, seg, rest, *ref_pair)
        if result is not None:
            ratio_of_ratios, p = result
            row["comparison"], row["ratio_of_ratios"] = "reference", ratio_of_ratios
            row["expected_value"] = seg.mean / ratio_of_ratios
            row["excess"] = seg.mean - row["expected_value"]
            row["p_ratio"], row["p_own"] = p, _one_sided_p(metric, seg, ref_pair[0])
            return max(p, row["p_own"])
    row["comparison"], row["excess"] = "rest", seg.mean - rest.mean
    return _one_sided_p(metric, seg, rest)


def _segment_row(
    column: str,
    value: str,
    x: np.ndarray,
    metric: str,
    confidence: float,
    n_resamples: int,
    seed: int,
    n: int,
) -> dict[str, Any]:
    if metric == "error_rate":
        low, high = wilson_interval(float(x.sum()), x.size, confidence=confidence)
    elif x.size > 1:
        low, high = bootstrap_ci(
            lambda counts, v: counts @ v / v.size, x, n_resamples=n_resamples, confidence=confidence,
            seed=seed, weighted=True,
        )  # fmt: skip
    else:
        low = high = float(x[0])
    return {
        "column": column,
        "value": value,
        "support": int(x.size),
        "share": x.size / n,
        "metric": metric,
        "value_metric": float(x.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "comparison": None,
        "ratio_of_ratios": None,
        "expected_value": None,
        "excess": None,
        "p_value": None,
        "p_ratio": None,
        "p_own": None,
        "p_adjusted": None,
        "flagged": False,
        "flagged_against": [],
        "severity": None,
        "alert_ratio": None,
    }


def _severity_key(row: dict[str, Any]) -> tuple[bool, float, int]:
    """Flagged first, then by the largest excess (untested segments last), then by support."""
    excess = -math.inf if row["excess"] is None else row["excess"]
    return (not row["flagged"], -excess, -row["support"])


def _below_alert_rule(row: dict[str, Any], rules: dict[str, Any]) -> str:
    """Which of the alert rules a flagged segment misses (support rows, support share, ratio)."""
    missed = []
    if row["support"] < rules["alert_min_rows"]:
        missed.append(f"{row['support']} rows < {rules['alert_min_rows']}")
    if row["share"] < rules["alert_min_share"]:
        missed.append(f"{row['share']:.1%} of the window < {rules['alert_min_share']:.1%}")
    if row["alert_ratio"] < rules["min_ratio"]:
        missed.append(f"ratio {row['alert_ratio']:.2f} < {rules['min_ratio']:g}")
    if row["p_adjusted"] > rules["alert_fdr"]:
        missed.append(f"BH-adjusted p {row['p_adjusted']:.2g} > {rules['alert_fdr']:g}")
    return ", ".join(missed)


def _finding(
    row: dict[str, Any], metric: str, min_delta: float, fdr: float, rules: dict[str, Any]
) -> Finding:
    name, value, q = f"{row['column']}={row['value']}", row["value_metric"], row["p_adjusted"]
    if row["comparison"] == "reference":
        baseline, reference = row["expected_value"], row["reference_value"]
        message = (
            f"{metric} of {name} is {value:.4g} vs {reference:.4g} in the reference, while the rest of "
            f"the window went from {row['reference_rest_value']:.4g} to {row['rest_value']:.4g}: "
            f"{row['excess']:+.4g} beyond the rest's change (n={row['support']}, BH-adjusted p={q:.2g})"
        )
        ratio = value / reference if reference > 0 else None
    else:
        baseline = row["rest_value"]
        message = (
            f"{metric} of {name} is {value:.4g} vs {baseline:.4g} in the rest of the window "
            f"(n={row['support']}, BH-adjusted p={q:.2g})"
        )
        ratio = value / baseline if baseline > 0 else None
    if row["severity"] == "warn":
        message += f"; a warning, not an alert: {_below_alert_rule(row, rules)}"
    keys = ("support", "share", "ci_low", "ci_high", "reference_value", "rest_value", "reference_rest_value")
    return Finding(
        subject=f"segment:{name}",
        method=metric,
        statistic=value,
        threshold=baseline + min_delta,
        p_value=q,
        effect_size=row["excess"],
        severity=row["severity"],
        message=message,
        evidence={
            "comparison": row["comparison"],
            "comparison_value": baseline,
            "flagged_against": list(row["flagged_against"]),
            "ratio": ratio,
            "ratio_of_ratios": row["ratio_of_ratios"],
            **{k: row[k] for k in keys},
            "gap": row["gap"],
            "reference_gap": row["reference_gap"],
            "gap_change": row["gap_change"],
            "p_raw": row["p_value"],
            "p_ratio": row["p_ratio"],
            "p_own": row["p_own"],
            "alert_ratio": row["alert_ratio"],
            "fdr": fdr,
            "min_delta": min_delta,
        },
    )
