"""Drift between a reference and a current window, per column and per dataset.

``column_drift`` (notebook entry point), ``dataset_drift`` (the ``drift`` check),
``binned_drift`` + ``reference_edges`` (windows aggregated in SQL), ``drift_result`` (the
check result from per-column results, however computed), and the registry
``METHODS`` of statistical methods named as in Evidently 0.7. The verdict rule is written
once in :mod:`checks.drift.verdict`, its noise floors in :mod:`checks.drift.noise`.
"""

from checks.drift.binned import binned_drift
from checks.drift.binning import bin_counts, reference_edges
from checks.drift.column import EFFECT_THRESHOLDS, ColumnDrift, Histogram, column_drift, infer_kind
from checks.drift.dataset import dataset_drift
from checks.drift.methods import ALIASES, METHODS, Method, default_method
from checks.drift.summary import drift_result

__all__ = [
    "ALIASES",
    "EFFECT_THRESHOLDS",
    "METHODS",
    "ColumnDrift",
    "Histogram",
    "Method",
    "bin_counts",
    "binned_drift",
    "column_drift",
    "dataset_drift",
    "default_method",
    "drift_result",
    "infer_kind",
    "reference_edges",
]
