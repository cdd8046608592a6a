"""Data quality of the current window versus the reference, and the ingestion quarantine.

Per declared feature:

* **missing values** (``alert``): the current missing share rose by at least
  ``min_missing_increase`` (material) *and* a one-sided Fisher exact test of "the current
  missing share is larger" rejects at ``missing_alpha`` (significant). Each column is tested
  at ``missing_alpha``; the materiality bar is what keeps many columns from raising chance
  alarms.
* **new categories** (categorical): non-missing current values never seen in the reference;
  their share of the non-missing current values above ``new_category_share_threshold``. The
  finding names the new values with their shares.
* **vanished categories** (categorical, ``alert``): a reference category with at least
  ``vanished_category_share`` of the reference's values that does not occur in the window,
  where its absence is significant: a one-sided Fisher exact test of "the window holds fewer
  of it" (0 of ``n`` against ``k`` of ``N``; about ``P(0 | n, p) = (1 - p)^n`` for a large
  reference) rejects at ``vanished_alpha`` divided by the number of categories tested across
  the columns (Bonferroni). A category of 1% is flagged from about 500 rows; at 5,000 rows its
  absence has probability ``0.99^5000 ≈ 1e-22``. Both category findings name the vanished
  and the new values, so a renamed category reads as one story.
* **out of range** (numeric): non-missing current values outside the reference ``[min, max]``;
  their share above ``out_of_range_share_threshold``. For a continuous feature from an
  unchanged distribution a new value exceeds the reference maximum with probability
  ``1 / (n_reference + 1)`` (and likewise the minimum), so the default 1% threshold is quiet
  for references of a few hundred rows or more.
* **constant** (``warn``): a single distinct non-missing value in the current window (at
  least two rows) where the reference had several — a stuck upstream source.

New categories and out-of-range values are ``warn`` up to ``alert_share`` and ``alert`` from
it. The window's quarantined rows (schema violations set aside by ingestion) are an
``alert`` (subject ``"ingestion"``) when their share of the ingested rows exceeds
``max_quarantine_share``. With ``expected_rows`` (what the reference's rate predicts for the
window) a window far and significantly below it is an ``alert`` with subject ``"traffic"``
(:mod:`checks.volume`), also when the window has no rows at all.

>>> ref = pd.DataFrame({"amount": [1.0, 5.0, 9.0, 3.0], "country": ["FR", "DE", "FR", "DE"]})
>>> cur = pd.DataFrame({"amount": [2.0, 50.0, 4.0, 6.0], "country": ["FR", "US", "DE", "FR"]})
>>> r = data_quality(ref, cur, numeric=["amount"], categorical=["country"])
>>> [(f.subject, f.method, f.statistic) for f in r.findings]
[('feature:amount', 'out_of_range', 0.25), ('feature:country', 'new_categories', 0.25)]

References
----------
.. [1] Breck, E. et al. (2019). Data Validation for Machine Learning. SysML. (schema,
   out-of-domain values and missingness checks against a reference.)
.. [2] Agresti, A. (2013). Categorical Data Analysis, 3rd ed., Wiley, §3.5 (Fisher's exact test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

import pandas as pd
from scipy import stats

from checks._params import InvalidParameter, check_interval
from checks.details import QualityColumn
from checks.result import CheckResult, Finding, Severity
from checks.volume import Expectation, traffic_volume

TOP_NEW_CATEGORIES = 10
#: Categories named in a finding's message (the details list more).
NAMED_CATEGORIES = 3


def _share_severity(share: float, alert_share: float) -> Severity:
    return "alert" if share >= alert_share else "warn"


def _validate(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    func: str,
) -> None:
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise InvalidParameter(f"columns {both} of {func} are declared both numeric and categorical")
    for name, frame in (("reference", reference), ("current", current)):
        absent = [c for c in [*numeric, *categorical] if c not in frame.columns]
        if absent:
            raise InvalidParameter(f"{name} frame of {func} lacks declared columns {absent}")
        not_numeric = [c for c in numeric if not pd.api.types.is_numeric_dtype(frame[c])]
        if not_numeric:
            raise InvalidParameter(
                f"numeric columns {not_numeric} of the {name} frame of {func} are not numeric"
            )


def _missing(
    col: str, ref: pd.Series, cur: pd.Series, alpha: float, min_increase: float
) -> tuple[dict[str, Any], Finding | None]:
    ref_miss, cur_miss = int(ref.isna().sum()), int(cur.isna().sum())
    share_ref, share_cur = ref_miss / len(ref), cur_miss / len(cur)
    row: dict[str, Any] = {"missing_ref": share_ref, "missing_cur": share_cur, "missing_p_value": None}
    if share_cur - share_ref < min_increase or share_cur - share_ref <= 0:
        return row, None
    table = [[cur_miss, len(cur) - cur_miss], [ref_miss, len(ref) - ref_miss]]
    p = float(stats.fisher_exact(table, alternative="greater").pvalue)
    row["missing_p_value"] = p
    if p >= alpha:
        return row, None
    return row, Finding(
        subject=f"feature:{col}",
        method="missing_share",
        statistic=share_cur,
        threshold=share_ref + min_increase,
        p_value=p,
        effect_size=share_cur - share_ref,
        severity="alert",
        message=f"{col}: missing values rose from {share_ref:.1%} to {share_cur:.1%}",
        evidence={
            "missing_ref": share_ref,
            "n_reference": len(ref),
            "n": len(cur),
            "test": "one-sided Fisher exact",
        },
    )


def _named(shares: dict[str, float], total: int, label: str) -> str:
    text = ", ".join(f"{k!r} ({label}{v:.1%})" for k, v in list(shares.items())[:NAMED_CATEGORIES])
    rest = total - min(len(shares), NAMED_CATEGORIES)
    return text + (f" and {rest} more" if rest > 0 else "")


def _category_story(col: str, row: dict[str, Any]) -> str:
    """One message for a column's category changes, naming the values.

    ``country: absent from the window 'US' (was 40.0%); unseen in the reference 'USA' (39.8%)``
    """
    parts = []
    gone = row.get("vanished_categories")
    if gone:
        parts.append(f"absent from the window {_named(gone, len(gone), 'was ')}")
    if row.get("new_category_share"):
        new = _named(row["new_categories"], row["n_new_categories"], "")
        parts.append(f"unseen in the reference {new}, {row['new_category_share']:.1%} of values")
    return f"{col}: " + "; ".join(parts)


def _new_categories(
    col: str, known: pd.Index, cur: pd.Series, threshold: float, alert_share: float
) -> tuple[dict[str, Any], Finding | None]:
    present = cur.dropna()
    counts = present[~present.isin(known)].value_counts()
    share = float(counts.sum() / len(present)) if len(present) else 0.0
    top = {str(k): float(v / len(present)) for k, v in counts.head(TOP_NEW_CATEGORIES).items()}
    row = {"new_categories": top, "n_new_categories": len(counts), "new_category_share": share}
    if share <= threshold:
        return row, None
    return row, Finding(
        subject=f"feature:{col}",
        method="new_categories",
        statistic=share,
        threshold=threshold,
        effect_size=share,
        severity=_share_severity(share, alert_share),
        message=f"{col}: {len(counts)} categories unseen in the reference make up {share:.1%} of values",
        evidence={"n_new_categories": len(counts), "top": top, "n": len(present)},
    )


def _vanishing_candidates(counts: pd.Series, min_share: float) -> pd.Series:
    """Of the reference's category ``counts``, those with at least ``min_share`` of the values."""
    return counts[counts >= min_share * counts.sum()]


def _vanished_categories(
    col: str, counts: pd.Series, cur: pd.Series, min_share: float, alpha: float
) -> tuple[dict[str, Any], Finding | None]:
    """Reference categories (``counts``: the reference's, non-missing) absent from ``cur``."""
    present = cur.dropna()
    n, n_ref, big = len(present), int(counts.sum()), _vanishing_candidates(counts, min_share)
    gone: dict[str, float] = {}
    p_values: dict[str, float] = {}
    seen = set(pd.unique(present))
    for value, k in big.items():
        if value in seen or n == 0:
            continue
        # P(0 of n in the window | k of N in the reference, same share): one-sided Fisher.
        p = float(stats.fisher_exact([[0, n], [int(k), n_ref - int(k)]], alternative="less").pvalue)
        if p < alpha:
            gone[str(value)], p_values[str(value)] = float(k / n_ref), p
    row: dict[str, Any] = {
        "vanished_categories": gone,
        "vanished_p_value": max(p_values.values()) if p_values else None,
    }
    if not gone:
        return row, None
    lost = sum(gone.values())
    return row, Finding(
        subject=f"feature:{col}",
        method="vanished_categories",
        statistic=lost,
        threshold=min_share,
        p_value=max(p_values.values()),
        effect_size=lost,
        severity="alert",
        message=f"{col}: {len(gone)} reference categories absent from the window",
        evidence={
            "vanished": gone,
            "p_values": p_values,
            "n": n,
            "n_reference": n_ref,
            "alpha_per_category": alpha,
            "test": "one-sided Fisher exact, Bonferroni across categories",
        },
    )


def _out_of_range(
    col: str, ref: pd.Series, cur: pd.Series, threshold: float, alert_share: float
) -> tuple[dict[str, Any], Finding | None]:
    ref_present, present = ref.dropna(), cur.dropna()
    if ref_present.empty or present.empty:
        return {"out_of_range_share": None, "ref_min": None, "ref_max": None}, None
    lo, hi = float(ref_present.min()), float(ref_present.max())
    below, above = int((present < lo).sum()), int((present > hi).sum())
    share = (below + above) / len(present)
    row = {"out_of_range_share": share, "ref_min": lo, "ref_max": hi}
    if share <= threshold:
        return row, None
    return row, Finding(
        subject=f"feature:{col}",
        method="out_of_range",
        statistic=share,
        threshold=threshold,
        effect_size=share,
        severity=_share_severity(share, alert_share),
        message=f"{col}: {share:.1%} of values fall outside the reference range [{lo:g}, {hi:g}]",
        evidence={
            "ref_min": lo,
            "ref_max": hi,
            "share_below": below / len(present),
            "share_above": above / len(present),
            "cur_min": float(present.min()),
            "cur_max": float(present.max()),
            "n": len(present),
        },
    )


def _constant(col: str, ref: pd.Series, cur: pd.Series) -> tuple[dict[str, Any], Finding | None]:
    present = cur.dropna()
    ref_unique, cur_unique = int(ref.nunique()), int(present.nunique())
    constant = len(present) >= 2 and cur_unique == 1 and ref_unique > 1
    if not constant:
        return {"constant": False}, None
    value = present.iloc[0]
    return {"constant": True}, Finding(
        subject=f"feature:{col}",
        method="constant",
        statistic=float(cur_unique),
        threshold=1.0,
        severity="warn",
        message=f"{col}: every value in the window is {value!r} (the reference had {ref_unique} values)",
        evidence={"value": str(value), "reference_n_unique": ref_unique, "n": len(present)},
    )


def _column(
    col: str,
    kind: Literal["numeric", "categorical"],
    ref: pd.Series,
    cur: pd.Series,
    opts: dict[str, float],
    ref_counts: pd.Series | None = None,
) -> tuple[dict[str, Any], list[Finding]]:
    row: dict[str, Any] = {"column": col, "kind": kind}
    found: list[Finding | None] = []
    parts = [
        _missing(col, ref, cur, opts["missing_alpha"], opts["min_missing_increase"]),
        _constant(col, ref, cur),
    ]
    if kind == "categorical":
        counts = ref.value_counts() if ref_counts is None else ref_counts
        share, alpha = opts["vanished_category_share"], opts["vanished_alpha_each"]
        parts.append(
            _new_categories(col, counts.index, cur, opts["new_category_share_threshold"], opts["alert_share"])
        )
        parts.append(_vanished_categories(col, counts, cur, share, alpha))
        row.update(out_of_range_share=None, ref_min=None, ref_max=None)
    else:
        parts.append(_out_of_range(col, ref, cur, opts["out_of_range_share_threshold"], opts["alert_share"]))
        row.update(new_categories={}, n_new_categories=0, new_category_share=None)
        row.update(vanished_categories={}, vanished_p_value=None)
    for part_row, finding in parts:
        row.update(part_row)
        found.append(finding)
    story = _category_story(col, row)
    named = [
        replace(f, message=story) if f.method in {"new_categories", "vanished_categories"} else f
        for f in found
        if f is not None
    ]
    return row, named


def data_quality(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    quarantined: int = 0,
    n_ingested: int | None = None,
    missing_alpha: float = 0.01,
    min_missing_increase: float = 0.05,
    new_category_share_threshold: float = 0.01,
    out_of_range_share_threshold: float = 0.01,
    max_quarantine_share: float = 0.01,
    alert_share: float = 0.1,
    vanished_category_share: float = 0.01,
    vanished_alpha: float = 0.01,
    expected_rows: Expectation | None = None,
    n_rows: int | None = None,
    min_traffic_share: float = 0.5,
    traffic_alpha: float = 0.01,
) -> CheckResult:
    """Missing values, new and vanished categories, out-of-range and constant columns,
    quarantined rows and traffic volume.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        The reference and current windows; both hold every declared column.
    numeric, categorical : sequence of str, default=()
        Declared numeric and categorical features.
    quarantined : int, default=0
        Rows of the current window that ingestion quarantined.
    n_ingested : int, optional
        Rows ingested for the window, quarantined ones included; default
        ``len(current) + quarantined``.
    missing_alpha : float, default=0.01
        Level of the one-sided Fisher test on the missing share, per column.
    min_missing_increase : float, default=0.05
        Minimum absolute rise of the missing share (0.05: five percentage points).
    new_category_share_threshold, out_of_range_share_threshold : float, default=0.01
        Shares of non-missing current values above which these are findings.
    max_quarantine_share : float, default=0.01
        Quarantined share of the ingested rows above which ingestion is an ``alert``.
    alert_share : float, default=0.1
        New-category / out-of-range share from which the finding is ``alert`` (else ``warn``).
    vanished_category_share : float, default=0.01
        Reference share from which a category absent from the window can be a finding.
    vanished_alpha : float, default=0.01
        Level of the Fisher tests of vanished categories, Bonferroni-split across them.
    expected_rows : Expectation, optional
        What the reference's rate predicts for the window (:func:`checks.volume.expected_rows`);
        without it traffic volume is not checked.
    n_rows : int, optional
        Predictions in the window (default ``len(current)``; the exact count when
        ``current`` is a sample).
    min_traffic_share, traffic_alpha : float, default=0.5, 0.01
        A window below this share of ``expected_rows`` whose count is significantly low at
        ``traffic_alpha`` (:func:`checks.volume.traffic_volume`)
        is a finding.

    Returns
    -------
    CheckResult
        ``check="data_quality"``; findings with subject ``"feature:<name>"`` (methods
        ``missing_share``, ``new_categories``, ``vanished_categories``, ``out_of_range``,
        ``constant``), ``"ingestion"`` (``quarantine_share``) or ``"traffic"``
        (``traffic_volume``). ``details["columns"]`` has one dict per column: ``column, kind,
        missing_ref, missing_cur, missing_p_value, new_categories`` (top 10 ``{value:
        share}``), ``n_new_categories, new_category_share, vanished_categories`` (``{value:
        reference share}``), ``vanished_p_value, out_of_range_share, ref_min, ref_max,
        constant``. ``skipped`` when either window has no rows and there is nothing to report
        (no quarantined rows, no traffic finding).
    """
    func = "data_quality"
    opts = {
        "missing_alpha": missing_alpha,
        "min_missing_increase": min_missing_increase,
        "new_category_share_threshold": new_category_share_threshold,
        "out_of_range_share_threshold": out_of_range_share_threshold,
        "max_quarantine_share": max_quarantine_share,
        "alert_share": alert_share,
        "vanished_category_share": vanished_category_share,
        "vanished_alpha": vanished_alpha,
    }
    for name, value in opts.items():
        check_interval(name, value, func, low=0.0, high=1.0)
    check_interval(
        "vanished_category_share", vanished_category_share, func, low=0.0, closed="neither", high=1.0
    )
    check_interval("quarantined", quarantined, func, low=0)
    ingested = len(current) + quarantined if n_ingested is None else n_ingested
    if ingested < quarantined:
        raise InvalidParameter(
            f"'n_ingested' of {func} ({ingested}) is smaller than 'quarantined' ({quarantined})"
        )
    _validate(reference, current, numeric, categorical, func)

    quarantine_share = quarantined / ingested if ingested else 0.0
    metrics: dict[str, Any] = {
        "n_reference": len(reference),
        "n_current": len(current),
        "quarantined": quarantined,
        "n_ingested": ingested,
        "quarantine_share": quarantine_share,
    }
    findings: list[Finding] = []
    if quarantine_share > max_quarantine_share:
        findings.append(
            Finding(
                subject="ingestion",
                method="quarantine_share",
                statistic=quarantine_share,
                threshold=max_quarantine_share,
                effect_size=quarantine_share,
                severity="alert",
                message=f"{quarantined} of {ingested} rows ({quarantine_share:.1%}) were quarantined",
                evidence={"quarantined": quarantined, "n_ingested": ingested},
            )
        )
    if expected_rows is not None:
        volume, finding = traffic_volume(
            len(current) if n_rows is None else n_rows,
            expected_rows,
            min_share=min_traffic_share,
            alpha=traffic_alpha,
        )
        metrics.update(volume)
        findings.extend([finding] if finding else [])
    empty = "current" if current.empty else "reference" if reference.empty else None
    if empty is not None and not findings and not quarantined:
        return CheckResult.skipped(func, f"the {empty} window has no rows", **metrics)
    ref_counts = {c: reference[c].value_counts() for c in categorical}
    tested = sum(
        len(_vanishing_candidates(counts, vanished_category_share)) for counts in ref_counts.values()
    )
    opts["vanished_alpha_each"] = vanished_alpha / max(tested, 1)

    rows: list[dict[str, Any]] = []
    if empty is None:
        kinds: list[tuple[str, Literal["numeric", "categorical"]]] = [
            *((c, "numeric") for c in numeric),
            *((c, "categorical") for c in categorical),
        ]
        for col, kind in kinds:
            row, found = _column(col, kind, reference[col], current[col], opts, ref_counts.get(col))
            rows.append(row)
            findings.extend(found)
    by_method = [f.method for f in findings]
    metrics.update(
        n_columns=len(rows),
        columns_missing_increase=by_method.count("missing_share"),
        columns_new_categories=by_method.count("new_categories"),
        columns_vanished_categories=by_method.count("vanished_categories"),
        columns_out_of_range=by_method.count("out_of_range"),
        constant_columns=by_method.count("constant"),
        max_missing_share=max((r["missing_cur"] for r in rows), default=None),
    )
    severities = {f.severity for f in findings}
    status = "alert" if "alert" in severities else "warn" if severities else "ok"
    details: dict[str, Any] = {"columns": [QualityColumn.of(r) for r in rows]}
    if empty is not None:
        details["note"] = f"column checks not run: the {empty} window has no rows"
    return CheckResult(check=func, status=status, metrics=metrics, findings=tuple(findings), details=details)
