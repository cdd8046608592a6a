"""The recent runs of every model, as the report index reads them, kept between check jobs.

Each check job rewrites the index, which lists every model's recent runs; reading and parsing
every model's stored results again after each job would make a cycle's cost grow with the
square of the number of models. :class:`RunHistory` keeps each model's runs in memory and
reads a model again only when one query over the runs table (count, newest id, newest
``finished_at``, summed attempts per model) changed, or when the caller says it changed. The
kept runs carry the ``details`` of their newest unskipped run only (what the index shows);
the others' details, the bulk of a stored result, are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, func, select

from checks.result import ModelRun
from monitor.store.runs import load_runs
from monitor.store.schema import runs as runs_table


def _versions(engine: Engine, models: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    query = (
        select(
            runs_table.c.model,
            func.count(),
            func.max(runs_table.c.id),
            func.max(runs_table.c.finished_at),
            func.sum(runs_table.c.attempts),
        )
        .where(runs_table.c.state == "done", runs_table.c.model.in_(list(models)))
        .group_by(runs_table.c.model)
    )
    with engine.connect() as conn:
        return {row[0]: tuple(row[1:]) for row in conn.execute(query)}


def _slim(runs: list[ModelRun]) -> list[ModelRun]:
    """The runs without the details of their checks, except the newest unskipped run's."""
    keep = next((i for i in range(len(runs) - 1, -1, -1) if runs[i].status != "skipped"), len(runs) - 1)
    return [
        run if i == keep else replace(run, checks=tuple(replace(c, details={}) for c in run.checks))
        for i, run in enumerate(runs)
    ]


class RunHistory:
    """Each model's ``limit`` most recent finished runs (oldest first), reread when they change."""

    def __init__(self, limit: int = 60) -> None:
        self.limit = limit
        self.reads = 0  # models read from the store (the others came from memory)
        self._kept: dict[tuple[str, str], tuple[tuple[Any, ...], list[ModelRun]]] = {}
        self._lock = threading.Lock()

    def runs(
        self, engine: Engine, models: Sequence[str], *, changed: Collection[str] = ()
    ) -> dict[str, list[ModelRun]]:
        """The recent runs of each of ``models``.

        Those in ``changed`` are read from the store and returned whole (their pages are
        rewritten from them); the others may come from memory, without details but those of
        their newest unskipped run.
        """
        url = str(engine.url)  # the password masked
        versions = _versions(engine, models)
        out = {}
        for model in models:
            version = versions.get(model, ())
            with self._lock:
                kept = self._kept.get((url, model))
            if kept is not None and kept[0] == version and model not in changed:
                out[model] = kept[1]
                continue
            out[model] = load_runs(engine, model, limit=self.limit)
            self.reads += 1
            with self._lock:
                self._kept[(url, model)] = (version, _slim(out[model]))
        with self._lock:  # forget models no longer configured
            for key in [k for k in self._kept if k[0] == url and k[1] not in out]:
                del self._kept[key]
        return out


#: Shared by the runners of one process (the daemon makes a runner per job).
HISTORY = RunHistory()
