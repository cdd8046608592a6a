"""Engines that check a model's data where it lives (``[models.data]``): DuckDB, Spark.

A model with ``[models.data]`` is never ingested: its windows are counted, summarised and
sampled by the engine (:mod:`monitor.engines.window`); the store keeps only its runs,
findings and outbox. :func:`window_counts` and :func:`event_time_range` answer for either
kind of model, so scheduling and catch-up read new data from the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from monitor.config import ModelConfig
from monitor.store import Store
from monitor.store import windows as stored

if TYPE_CHECKING:
    from monitor.engines.base import InPlaceEngine


def open_engine(model: ModelConfig) -> InPlaceEngine:
    """The engine of an in-place model (its module, and the engine's package, imported here)."""
    assert model.data is not None
    if model.data.engine == "duckdb":
        from monitor.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine(model, model.data)
    from monitor.engines.spark_engine import SparkEngine

    return SparkEngine(model, model.data)


Counter = Callable[[datetime, datetime], stored.WindowCounts]


@contextmanager
def window_counter(store: Store, model: ModelConfig) -> Iterator[Counter]:
    """Counts of any number of windows of ``model`` through one engine (an in-place model) or the store."""
    if model.data is None:
        yield partial(stored.window_counts, store, model)
        return
    with open_engine(model) as engine:
        yield engine.counts


def window_counts(store: Store, model: ModelConfig, start: datetime, end: datetime) -> stored.WindowCounts:
    """Rows of a window, from the engine for an in-place model, else from the store."""
    with window_counter(store, model) as count:
        return count(start, end)


def event_time_range(store: Store, model: ModelConfig) -> tuple[datetime | None, datetime | None]:
    """First and last prediction timestamps, from the engine for an in-place model."""
    if model.data is None:
        return stored.event_time_range(store, model)
    with open_engine(model) as engine:
        return engine.time_range()
