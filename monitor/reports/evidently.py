"""Evidently's own data-drift report for a window, beside driftwatch's (``[reports] evidently``).

For users who know Evidently: the same window through ``DataDriftPreset``, saved as its own
HTML file that the run report links. Evidently costs seconds to import and memory in
proportion to the rows, so it is opt-in and runs on at most ``max_rows`` rows per window
(a uniform random sample, fixed seed); its numbers are Evidently's, with its own method
choices and thresholds (see the README for where driftwatch deliberately differs).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from monitor.config import ModelConfig

log = logging.getLogger("driftwatch.reports.evidently")


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=max_rows, random_state=seed) if len(frame) > max_rows else frame


def write_evidently_report(
    model: ModelConfig,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    path: Path,
    *,
    max_rows: int = 50_000,
    seed: int = 0,
) -> Path | None:
    """Write Evidently's data-drift report of the window to ``path``; ``None`` if it cannot run."""
    if reference.empty or current.empty:
        return None
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric, categorical = list(model.features.numeric), list(model.features.categorical)
    columns = numeric + categorical
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)

    def dataset(frame: pd.DataFrame) -> Dataset:
        data = _sample(frame[columns], max_rows, seed).reset_index(drop=True)
        for col in categorical:
            data[col] = data[col].astype("string").fillna("(missing)").astype(str)
        return Dataset.from_pandas(data, data_definition=definition)

    try:
        snapshot = Report([DataDriftPreset()]).run(dataset(current), dataset(reference))
        path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(path))
    except Exception as exc:  # Evidently is an add-on: its failure must not fail the run
        log.warning('Evidently report for model "%s" failed: %s: %s', model.name, type(exc).__name__, exc)
        return None
    return path
