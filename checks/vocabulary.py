"""The names driftwatch speaks: checks, drift methods (and aliases), metrics, threshold objectives.

One place, no dependencies: config validation, the checks, the policy, alerts and reports
read these names instead of spelling them again, and tests hold the check registries
(:data:`checks.drift.METHODS`, :data:`checks.performance.METRICS`) to them.

>>> resolve("kss", DRIFT_METHODS, "drift method", aliases=DRIFT_METHOD_ALIASES)
Traceback (most recent call last):
...
ValueError: unknown drift method 'kss' (did you mean 'ks'?); known: anderson, chisquare, ...
>>> resolve("ed", DRIFT_METHODS, "drift method", aliases=DRIFT_METHOD_ALIASES)
'energy'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

#: Checks in report order (``CheckResult.check``).
CHECKS = (
    "drift",
    "data_quality",
    "latency",
    "performance",
    "estimated_performance",
    "calibration",
    "segments",
    "threshold",
    "class_prior",
)

#: The checks that report performance metrics (realised from labels, and estimated before).
PERFORMANCE_CHECKS = ("performance", "estimated_performance")

#: Drift methods, named as in Evidently 0.7 (:data:`checks.drift.METHODS` implements them).
DRIFT_METHODS = (
    "ks",
    "wasserstein",
    "cramer_von_mises",
    "anderson",
    "mannw",
    "energy",
    "psi",
    "jensenshannon",
    "kl_div",
    "hellinger",
    "tvd",
    "chisquare",
    "z",
)

#: Evidently's registered names that differ from driftwatch's.
DRIFT_METHOD_ALIASES: Mapping[str, str] = {"ed": "energy", "TVD": "tvd"}

#: Performance metrics (:data:`checks.performance.METRICS` defines their direction and default
#: ``min_delta``).
METRICS = (
    "roc_auc",
    "pr_auc",
    "f1",
    "precision",
    "recall",
    "accuracy",
    "macro_f1",
    "r2",
    "log_loss",
    "brier",
    "rmse",
    "mae",
    "mape",
)

#: Objectives of the decision-threshold check.
THRESHOLD_OBJECTIVES = ("f1", "cost", "precision_at", "recall_at")

#: Objectives that need a ``target`` (the precision or recall to reach).
TARGET_OBJECTIVES = ("precision_at", "recall_at")


def resolve(name: str, known: Iterable[str], what: str, *, aliases: Mapping[str, str] | None = None) -> str:
    """``name`` as a known name (an alias resolved), or a :class:`ValueError` naming the closest.

    >>> resolve("roc_aucc", METRICS, "metric")
    Traceback (most recent call last):
    ...
    ValueError: unknown metric 'roc_aucc' (did you mean 'roc_auc'?); known: accuracy, brier, ...
    """
    names = tuple(known)
    aliases = aliases or {}
    if name in names:
        return name
    if name in aliases:
        return aliases[name]
    close = difflib.get_close_matches(str(name), [*names, *aliases], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown {what} {name!r}{hint}; known: {', '.join(sorted(names))}")
