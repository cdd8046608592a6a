"""The ``drift`` check on two in-memory windows: every monitored column against the reference.

Each column is compared with :func:`checks.drift.column_drift`; the verdicts are combined
across columns by :func:`checks.drift.summary.drift_result` (Benjamini-Hochberg, the share
and importance rules, findings).

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b"], 2000)})
>>> cur = pd.DataFrame({"x": rng.normal(1.0, 1, 2000), "c": rng.choice(["a", "b"], 2000)})
>>> res = dataset_drift(ref, cur, numeric=["x"], categorical=["c"])
>>> res.status, res.metrics["n_drifted"], res.findings[0].subject
('alert', 1, 'feature:x')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from checks._params import InvalidParameter, check_interval
from checks.drift.column import EFFECT_THRESHOLDS, ColumnDrift, column_drift, infer_kind
from checks.drift.methods import ALIASES, METHODS
from checks.drift.summary import drift_result
from checks.result import CheckResult


def dataset_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    prediction: str | None = None,
    label: str | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    effect_size_thresholds: Mapping[str, float] | None = None,
    importance: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    fdr: float = 0.05,
    n_bins: int | None = None,
) -> CheckResult:
    """Drift of the features, the prediction and the label between two windows.

    Parameters
    ----------
    reference, current : DataFrame
        The reference and current windows.
    numeric, categorical : sequence of str, default=()
        Feature columns by kind.
    prediction : str, default=None
        The prediction or score column (finding subject ``prediction``); kind inferred.
    label : str, default=None
        The label column, tested when both windows have labels (subject ``label``).
    methods : mapping of str to str, default=None
        Method per column (names of :data:`checks.drift.METHODS`); Evidently's default
        choice for the others.
    thresholds : mapping of str to float, default=None
        Method threshold per column; the method's default for the others.
    effect_size_thresholds : mapping of str to float, default=None
        Effect-size threshold per kind (``"numeric"``, ``"categorical"``) or per column
        (a column's own wins); :data:`checks.drift.EFFECT_THRESHOLDS` otherwise.
    importance : mapping of str to float, default=None
        Feature importances (any non-negative scale, normalised over the features).
    drift_share : float, default=0.5
        Share of drifted features (or of drifted importance) that makes the window alert.
    fdr : float, default=0.05
        False discovery rate of the Benjamini-Hochberg procedure across columns.
    n_bins : int, default=None
        Bins of numeric columns (:func:`checks.drift.reference_edges`).

    Returns
    -------
    CheckResult
        ``check="drift"``; metrics ``n_reference``, ``n_current``, ``n_columns``,
        ``n_drifted``, ``share_drifted``, ``dataset_drifted``, ``prediction_drifted``,
        ``label_drifted`` and, with importances, ``importance_share_drifted``.
    """
    roles = _roles(reference, current, numeric, categorical, prediction, label)
    methods, thresholds = dict(methods or {}), dict(thresholds or {})
    effect_thresholds = dict(effect_size_thresholds or {})
    _check_keys("methods", methods, roles)
    _check_keys("thresholds", thresholds, roles)
    _check_keys("effect_size_thresholds", effect_thresholds, roles, extra=set(EFFECT_THRESHOLDS))
    check_interval("drift_share", drift_share, "dataset_drift", low=0.0, high=1.0, closed="right")
    check_interval("fdr", fdr, "dataset_drift", low=0.0, high=1.0, closed="neither")
    if len(reference) == 0 or len(current) == 0:
        return CheckResult.skipped(
            "drift", "empty reference or current window", n_reference=len(reference), n_current=len(current)
        )

    # Column by column: selecting ``frame[columns]`` would copy every column of both windows.
    missing = {
        name: (float(reference[name].isna().mean()), float(current[name].isna().mean())) for name in roles
    }
    tested: list[tuple[str, ColumnDrift]] = []
    skipped: list[tuple[str, str, str]] = []
    for name, (role, kind) in roles.items():
        if max(missing[name]) == 1.0:
            which = "reference" if missing[name][0] == 1.0 else "current"
            skipped.append((name, role, f"no non-missing value in the {which} window"))
            continue
        drift = column_drift(
            reference[name],
            current[name],
            method=methods.get(name),
            threshold=thresholds.get(name),
            kind=kind,
            effect_threshold=effect_thresholds.get(name, effect_thresholds.get(kind)),
            n_bins=n_bins,
            column=name,
        )
        tested.append((role, drift))

    return drift_result(
        tested,
        n_reference=len(reference),
        n_current=len(current),
        skipped=skipped,
        importance=importance,
        drift_share=drift_share,
        fdr=fdr,
        missing=missing,
    )


def _roles(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    prediction: str | None,
    label: str | None,
) -> dict[str, tuple[str, str]]:
    """Column -> (role, kind), with every column checked to exist and appear once."""
    named = [*numeric, *categorical, *(c for c in (prediction, label) if c is not None)]
    duplicates = sorted({c for c in named if named.count(c) > 1})
    if duplicates:
        raise InvalidParameter(f"columns given twice to dataset_drift: {duplicates}")
    for frame, which in ((reference, "reference"), (current, "current")):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidParameter(
                f"{which!r} of dataset_drift must be a DataFrame; got {type(frame).__name__}"
            )
        missing = [c for c in named if c not in frame.columns]
        if missing:
            raise InvalidParameter(f"columns missing from the {which} window: {missing}")
    roles = {c: ("feature", "numeric") for c in numeric} | {
        c: ("feature", "categorical") for c in categorical
    }
    if prediction is not None:
        roles[prediction] = ("prediction", infer_kind(reference[prediction]))
    if label is not None:
        roles[label] = ("label", infer_kind(reference[label]))
    return roles


def _check_keys(
    name: str, mapping: Mapping[str, Any], roles: Mapping[str, Any], *, extra: set[str] | None = None
) -> None:
    unknown = sorted(set(mapping) - set(roles) - (extra or set()))
    if unknown:
        raise InvalidParameter(f"{name!r} of dataset_drift names unknown columns: {unknown}")
    if name == "methods":
        bad = {c: m for c, m in mapping.items() if m not in METHODS and m not in ALIASES}
        if bad:
            raise InvalidParameter(
                f"'methods' of dataset_drift names unknown methods {bad}; known: {sorted(METHODS)}"
            )
