"""From per-column drift to the ``drift`` check result: multiple testing and the alert policy.

Policy (what the statuses mean):

* A column **drifted** by the rule of :mod:`checks.drift.verdict` (constant reference;
  method; material beyond the noise floor; significant), its significance test surviving
  the Benjamini-Hochberg procedure at ``fdr`` over all the columns tested in the window
  (features, prediction and label together). Each row says which clause decided
  (``clause``, ``reason``) and the smallest effect the window detects with 80% power at
  level ``fdr / n_columns`` (``minimum_detectable_effect``, ``minimum_detectable_shift_sd``).
* Each drifted column gives a ``warn`` finding (subject ``feature:<name>``, ``prediction``
  or ``label``).
* The window is **alert** (a ``model`` finding) when the share of drifted features reaches
  ``drift_share`` (Evidently's dataset-drift rule, default 0.5), or, when feature
  importances are given, when the drifted features carry at least ``drift_share`` of the
  total importance ("heavy drift in important features").

``details["columns"]`` lists every tested column as a :class:`checks.details.DriftRow`, most
drifted first: sorted by effect size relative to its threshold (with the default thresholds,
by effect size).

The per-column results may come from rows in memory (:func:`checks.drift.column_drift`) or
from counts aggregated in SQL (:func:`checks.drift.binned_drift`).

>>> from checks.drift import binned_drift
>>> flat = binned_drift([500, 500], [500, 500], method="tvd", kind="categorical", column="country")
>>> moved = binned_drift([500, 500], [300, 700], method="tvd", kind="categorical", column="device")
>>> res = drift_result([("feature", flat), ("feature", moved)], n_reference=1000, n_current=1000)
>>> res.status, [f.subject for f in res.findings]
('alert', ['feature:device', 'model'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy.stats import false_discovery_control

from checks._params import InvalidParameter, check_interval, check_one_of
from checks.details import DriftRow
from checks.drift import verdict
from checks.drift.column import EFFECT_MEASURES, ColumnDrift
from checks.drift.methods import METHODS
from checks.result import CheckResult, Finding, worst_status

ROLES = ("feature", "prediction", "label")


def drift_result(
    columns: Sequence[tuple[str, ColumnDrift]],
    *,
    n_reference: int,
    n_current: int,
    skipped: Sequence[tuple[str, str, str]] = (),
    importance: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    fdr: float = 0.05,
    missing: Mapping[str, tuple[float, float]] | None = None,
) -> CheckResult:
    """Combine per-column drift into the ``drift`` check result.

    Parameters
    ----------
    columns : sequence of (role, ColumnDrift)
        Every tested column with its role, ``"feature"``, ``"prediction"`` or ``"label"``;
        each ``ColumnDrift.column`` names the column.
    n_reference, n_current : int
        Rows in the two windows.
    skipped : sequence of (column, role, reason), default=()
        Declared columns that could not be tested (they count in the share's denominator).
    importance : mapping of str to float, default=None
        Feature importances (any non-negative scale, normalised over the features).
    drift_share : float, default=0.5
    fdr : float, default=0.05
        False discovery rate of the Benjamini-Hochberg procedure across ``columns``.
    missing : mapping of str to (float, float), default=None
        Share of missing values per column in the reference and current windows.

    Returns
    -------
    CheckResult
    """
    check_interval("drift_share", drift_share, "drift_result", low=0.0, high=1.0, closed="right")
    check_interval("fdr", fdr, "drift_result", low=0.0, high=1.0, closed="neither")
    for role, _ in columns:
        check_one_of("role", role, ROLES, "drift_result")
    features = [d.column for role, d in columns if role == "feature"]
    features += [c for c, role, _ in skipped if role == "feature"]
    weights = _normalised_importance(importance, [str(f) for f in features])
    adjusted = false_discovery_control([d.significance_p_value for _, d in columns]) if columns else []
    rows = [
        _row(role, drift, float(p_adj), fdr, len(columns), weights, (missing or {}).get(str(drift.column)))
        for (role, drift), p_adj in zip(columns, adjusted, strict=True)
    ]
    rows.sort(key=lambda r: (-r["effect_size"] / max(r["effect_threshold"], 1e-12), str(r["column"])))
    return _result(rows, skipped, n_reference, n_current, len(features), weights, drift_share, fdr)


def _normalised_importance(importance: Mapping[str, float] | None, features: list[str]) -> dict[str, float]:
    if importance is None:
        return {}
    unknown = sorted(set(importance) - set(features))
    if unknown:
        raise InvalidParameter(f"'importance' of drift_result names unknown features: {unknown}")
    values = {f: float(importance.get(f, 0.0)) for f in features}
    if any(not math.isfinite(v) or v < 0 for v in values.values()) or sum(values.values()) <= 0:
        raise InvalidParameter("'importance' of drift_result must be finite, non-negative and not all zero")
    total = sum(values.values())
    return {f: v / total for f, v in values.items()}


def _row(
    role: str,
    drift: ColumnDrift,
    p_adjusted: float,
    fdr: float,
    n_columns: int,
    weights: Mapping[str, float],
    missing: tuple[float, float] | None,
) -> dict[str, Any]:
    name = str(drift.column)
    row = drift.to_dict()
    row.update(
        subject=f"feature:{name}" if role == "feature" else role,
        role=role,
        significance_p_adjusted=p_adjusted,
        significant=p_adjusted < fdr,
        importance=weights.get(name) if role == "feature" else None,
        missing_reference=None if missing is None else missing[0],
        missing_current=None if missing is None else missing[1],
    )
    return verdict.apply(row, alpha=fdr, adjusted=True, n_columns=n_columns)


def _result(
    rows: list[dict[str, Any]],
    skipped: Sequence[tuple[str, str, str]],
    n_reference: int,
    n_current: int,
    n_columns: int,
    weights: Mapping[str, float],
    drift_share: float,
    fdr: float,
) -> CheckResult:
    features = [r for r in rows if r["role"] == "feature"]
    drifted = [r for r in rows if r["drifted"]]
    n_drifted = sum(r["role"] == "feature" for r in drifted)
    share = n_drifted / n_columns if n_columns else 0.0
    metrics: dict[str, Any] = {
        "n_reference": n_reference,
        "n_current": n_current,
        "n_columns": n_columns,
        "n_tested": len(features),
        "n_drifted": n_drifted,
        "share_drifted": share,
        "dataset_drifted": bool(n_columns and share >= drift_share),
        "prediction_drifted": _role_drifted(rows, "prediction"),
        "label_drifted": _role_drifted(rows, "label"),
    }
    findings = [_column_finding(r) for r in drifted]
    if metrics["dataset_drifted"]:
        findings.append(_model_finding("drift_share", share, drift_share, drifted, n_drifted, n_columns))
    if weights:
        weighted = sum(weights[r["column"]] for r in drifted if r["role"] == "feature")
        metrics["importance_share_drifted"] = weighted
        if n_drifted and weighted >= drift_share:
            findings.append(
                _model_finding("importance_share", weighted, drift_share, drifted, n_drifted, n_columns)
            )
    return CheckResult(
        check="drift",
        status=worst_status([f.severity for f in findings]),
        metrics=metrics,
        findings=tuple(findings),
        details={
            "columns": [DriftRow.of(r) for r in rows],
            "skipped_columns": [{"column": c, "role": role, "reason": why} for c, role, why in skipped],
            "drift_share": drift_share,
            "fdr": fdr,
            "effect_measures": EFFECT_MEASURES,
        },
    )


def _role_drifted(rows: list[dict[str, Any]], role: str) -> bool | None:
    matching = [r["drifted"] for r in rows if r["role"] == role]
    return matching[0] if matching else None


def _column_finding(row: dict[str, Any]) -> Finding:
    method = METHODS[row["method"]]
    measure = row["effect_measure"]
    if row["clause"] == "constant_reference":
        message = f"{row['subject']} {row['reason']}"
    else:
        message = (
            f"{row['subject']} drifted: {method.display_name} {row['score']:.3g} "
            f"(threshold {row['threshold']:g}), "
            f"{measure} {row['effect_corrected']:.3g} beyond noise floor {row['noise_floor']:.2g} "
            f"(raw {row['effect_size']:.3g}; >= {row['effect_threshold']:g}), "
            f"{row['significance_method']} p = {row['significance_p_adjusted']:.2g} (BH-adjusted)"
        )
    evidence = {
        "kind": row["kind"],
        "test_statistic": row["statistic"],
        "effect_measure": measure,
        "effect_threshold": row["effect_threshold"],
        "noise_floor": row["noise_floor"],
        "effect_corrected": row["effect_corrected"],
        "clause": row["clause"],
        "reason": row["reason"],
        "constant_reference": row["constant_reference"],
        "minimum_detectable_effect": row["minimum_detectable_effect"],
        "minimum_detectable_shift_sd": row["minimum_detectable_shift_sd"],
        "significance_method": row["significance_method"],
        "significance_p_value": row["significance_p_value"],
        "p_value_adjustment": "benjamini-hochberg",
        "n_reference": row["n_reference"],
        "n_current": row["n_current"],
        "importance": row["importance"],
    }
    return Finding(
        subject=row["subject"],
        method=row["method"],
        statistic=row["score"],
        threshold=row["threshold"],
        p_value=row["significance_p_adjusted"],
        effect_size=row["effect_size"],
        severity="warn",
        message=message,
        evidence=evidence,
    )


def _model_finding(
    rule: str, value: float, drift_share: float, drifted: list[dict[str, Any]], n_drifted: int, n_columns: int
) -> Finding:
    names = [r["column"] for r in drifted if r["role"] == "feature"]
    what = "of the features" if rule == "drift_share" else "of the feature importance"
    return Finding(
        subject="model",
        method=rule,
        statistic=float(value),
        threshold=drift_share,
        severity="alert",
        message=f"{value:.0%} {what} drifted ({n_drifted} of {n_columns} features): "
        + ", ".join(map(str, names)),
        evidence={"drifted_features": names, "n_drifted": n_drifted, "n_columns": n_columns},
    )
