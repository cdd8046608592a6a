"""driftwatch's checks: pure statistics, DataFrames in, :class:`~checks.result.CheckResult` out.

One convention, as scikit-learn has one: each entry point is named after the check it
produces, takes the **reference** window first and the **current** window second, and every
other argument by keyword (columns by role, then options)::

    import checks
    checks.drift(reference, current, numeric=["amount"], categorical=["country"])
    checks.performance(reference, current, label="label", score="score")
    checks.calibration(reference, current, label="label", score="score")
    checks.segments(reference, current, by=["country"], label="label", score="score")

The functions that compute them work on arrays and live in their modules, under the names
the daemon calls (documented aliases of the entry points, same options and defaults):

==========================  ==================================================================
entry point                 array-level function
==========================  ==================================================================
``drift``                   :func:`checks.drift.dataset_drift` (per column:
                            :func:`checks.drift.column_drift`)
``data_quality``            :func:`checks.quality.data_quality`
``latency``                 :func:`checks.latency.latency_check`
``performance``             :func:`checks.performance.performance`,
                            :func:`checks.multiclass_performance.multiclass_performance`
``estimated_performance``   :func:`checks.estimation.estimate_performance`,
                            :func:`checks.multiclass_estimation.multiclass_estimate`
``calibration``             :func:`checks.calibration.calibration_check`,
                            :func:`checks.multiclass_calibration.multiclass_calibration_check`
``segments``                :func:`checks.segments.segment_check`
``threshold``               :func:`checks.threshold.threshold_check`
``class_prior``             :func:`checks.prior_shift.class_prior_shift`
==========================  ==================================================================

The package attributes ``checks.drift``, ``checks.performance``, ``checks.calibration``,
``checks.segments``, ``checks.threshold`` and ``checks.latency`` are always these functions,
whatever was imported before; import the modules of the same name by their full path
(``from checks.performance import METRICS``). The entry points load on first use: a process
that only reads results (``checks.result``) or names (``checks.vocabulary``) -- the daemon
with nothing due -- never imports pandas or scipy.

>>> import checks
>>> checks.performance.__module__, checks.drift.__name__
('checks.frames', 'drift')
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from checks.vocabulary import CHECKS

if TYPE_CHECKING:  # what static analysers and editors see; at run time _Package answers
    from checks._params import InvalidParameter, InvalidParameterType
    from checks.frames import (
        calibration,
        class_prior,
        data_quality,
        drift,
        estimated_performance,
        latency,
        performance,
        segments,
        threshold,
    )
    from checks.result import CheckResult, Finding

#: The entry points: one per check of :data:`checks.vocabulary.CHECKS`, named after it.
ENTRY_POINTS = CHECKS

__all__ = [
    "CheckResult",
    "Finding",
    "InvalidParameter",
    "InvalidParameterType",
    "calibration",
    "class_prior",
    "data_quality",
    "drift",
    "estimated_performance",
    "latency",
    "performance",
    "segments",
    "threshold",
]


class _Package(types.ModuleType):
    """The ``checks`` package: its entry points win over its submodules of the same name.

    Importing ``checks.performance`` (the module) sets the package attribute ``performance``
    to the module; looking the entry points up here first keeps ``checks.performance`` the
    function in every import order.
    """

    def __getattribute__(self, name: str) -> Any:
        if name in ENTRY_POINTS:
            from checks import frames

            return getattr(frames, name)
        if name in ("CheckResult", "Finding"):
            from checks import result

            return getattr(result, name)
        if name in ("InvalidParameter", "InvalidParameterType"):
            from checks import _params

            return getattr(_params, name)
        return super().__getattribute__(name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *__all__})


sys.modules[__name__].__class__ = _Package
