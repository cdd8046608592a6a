"""Late labels: a past window is re-evaluated when its labels mature or grow, updated in place."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.config import Config
from monitor.ingest import ingest_frame
from monitor.pipeline.runner import Runner
from monitor.store import Store, open_store
from monitor.store.schema import runs
from tests.conftest import DAY, LIGHT, START, make_config, model_dict, traffic

N = 400
LATE = START + 3 * DAY  # the end of day 2's window


@pytest.fixture
def labelled(store_url: str, tmp_path: Path) -> Iterator[tuple[Store, Config]]:
    model = model_dict(**{**LIGHT, "performance": {"enabled": True, "n_resamples": 200}})
    model["labels"] = {"min_count": 50, "min_coverage": 0.5, "max_delay": "10d"}
    config = make_config(store_url, tmp_path, [model])
    store = open_store(config)
    for day in range(3):  # two labelled reference days, then day 2 whose labels come late
        frame = traffic(day, N)
        ingest_frame(store, store.models["fraud"], "predictions", frame, source="test", now=START + 3 * DAY)
        if day < 2:
            outcomes = frame[["id", "timestamp", "label"]]
            ingest_frame(
                store, store.models["fraud"], "outcomes", outcomes, source="test", now=START + 3 * DAY
            )
    yield store, config
    store.dispose()


def label(store: Store, share_from: float, share_to: float) -> None:
    """Outcomes arrive for rows ``[share_from, share_to)`` of day 2."""
    frame = traffic(2, N).iloc[int(share_from * N) : int(share_to * N)]
    ingest_frame(
        store,
        store.models["fraud"],
        "outcomes",
        frame[["id", "timestamp", "label"]],
        source="test",
        now=START + 3 * DAY,
    )


def state(store: Store) -> tuple[int, float, str]:
    with store.engine.connect() as conn:
        late = runs.c.window_end == LATE.replace(tzinfo=None)
        count = conn.execute(select(func.count()).select_from(runs).where(late)).scalar_one()
        row = conn.execute(select(runs.c.label_coverage, runs.c.result).where(late)).one()
    performance = next(c for c in row.result["checks"] if c["check"] == "performance")
    return count, row.label_coverage, performance["status"]


def test_a_window_is_reevaluated_when_its_labels_mature_or_grow_never_duplicated(labelled) -> None:
    store, config = labelled
    model = config.models[0]
    runner = Runner(store, config, clock=lambda: START + 3 * DAY + timedelta(hours=1))
    assert [r.window_end for r in runner.cycle(model)][-1] == LATE
    assert state(store) == (1, 0.0, "skipped")

    label(store, 0.0, 0.3)  # 30%: coverage grew but the window is still immature
    assert runner.windows_with_new_labels(model) == []
    label(store, 0.3, 0.6)  # 60%: newly mature
    (run,) = runner.cycle(model)
    assert state(store)[0] == 1 and state(store)[1] == pytest.approx(0.6) and state(store)[2] != "skipped"

    label(store, 0.6, 0.62)  # +2%: below the gain that is worth a re-evaluation
    assert runner.windows_with_new_labels(model) == []
    label(store, 0.62, 0.8)  # +20%
    assert len(runner.cycle(model)) == 1
    assert state(store)[:2] == (1, pytest.approx(0.8))

    final = Runner(store, config, clock=lambda: START + 13 * DAY + timedelta(hours=1))
    assert run.run_id in final.windows_with_new_labels(model)  # the label wait is over
    final.cycle(model)
    assert final.windows_with_new_labels(model) == [] and state(store)[0] == 1
