"""A loaded reference is reused while its stored rows and labels are unchanged; typed window reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from checks.importance import DependenceSample, estimate_dependence
from monitor.config import Config, ModelConfig
from monitor.engines.reference import REFERENCES, ReferenceCache, load_reference
from monitor.ingest import ingest_frame
from monitor.pipeline import runner as runner_module
from monitor.pipeline.check_suite import reference_importance, reference_seed
from monitor.pipeline.runner import Runner
from monitor.service.daemon import Daemon
from monitor.store import Store, open_store
from monitor.store.windows import read_window
from tests.conftest import DAY, LIGHT, START, make_config, model_dict, traffic

N = 120
FIXED = {"start": "2026-10-01T00:00:00Z", "end": "2026-10-03T00:00:00Z"}  # days 0 and 1


def put(store: Store, model: ModelConfig, frame: pd.DataFrame, *, labels: bool = True) -> None:
    ingest_frame(store, model, "predictions", frame, source="test", now=START + 5 * DAY)
    if labels:
        ingest_frame(
            store, model, "outcomes", frame[["id", "timestamp", "label"]], source="test", now=START + 5 * DAY
        )


@pytest.fixture
def opened(store_url: str, tmp_path: Path) -> Iterator[tuple[Store, Config]]:
    config = make_config(store_url, tmp_path, [model_dict(**{**LIGHT, "reference": FIXED})])
    store = open_store(config)
    yield store, config
    store.dispose()


def test_a_fixed_reference_is_read_once_for_every_window_and_job(opened) -> None:  # type: ignore[no-untyped-def]
    store, config = opened
    model = config.models[0]
    for day in range(4):
        put(store, model, traffic(day, N))
    cache = ReferenceCache()
    runner = Runner(store, config, clock=lambda: START + 4 * DAY + timedelta(hours=1), references=cache)
    done = runner.cycle(model)
    assert len(done) == 4 and (cache.misses, cache.hits) == (1, 3)
    assert {r.reference["rows"] for r in done} == {2 * N}

    again = Runner(store, config, clock=lambda: START + 4 * DAY + timedelta(hours=2), references=cache)
    reused = cache.load(store, model, START + 3 * DAY, now=START + 5 * DAY)
    fresh = load_reference(store, model, START + 3 * DAY, now=START + 5 * DAY)
    assert again.references is cache and (cache.misses, cache.hits) == (1, 4)
    pd.testing.assert_frame_equal(reused.frame, fresh.frame)
    assert reused.description == fresh.description

    reused.frame["extra"] = 1.0  # a caller's copy: the kept frame is untouched
    assert "extra" not in cache.load(store, model, START + 3 * DAY, now=START + 5 * DAY).frame


def test_late_labels_and_replaced_labels_of_reference_rows_are_read_again(opened) -> None:  # type: ignore[no-untyped-def]
    store, config = opened
    model = config.models[0]
    frame = traffic(0, N)
    put(store, model, frame, labels=False)
    cache = ReferenceCache()

    def reference() -> pd.DataFrame:
        return cache.load(store, model, START + 3 * DAY, now=START + 5 * DAY).frame

    assert reference()["label"].isna().all() and reference()["label"].isna().all()
    assert (cache.misses, cache.hits) == (1, 1)

    ingest_frame(
        store,
        model,
        "outcomes",
        frame[["id", "timestamp", "label"]].iloc[:50],
        source="t",
        now=START + 5 * DAY,
    )
    assert reference()["label"].notna().sum() == 50 and cache.misses == 2

    # A label corrected in place (``on_conflict = "replace"``) at the same clock value.
    replacing = model.model_copy(update={"on_conflict": "replace"})
    flipped = frame[["id", "timestamp", "label"]].iloc[:1].assign(label=lambda f: 1 - f["label"])
    ingest_frame(store, replacing, "outcomes", flipped, source="t", now=START + 5 * DAY)
    got = cache.load(store, replacing, START + 3 * DAY, now=START + 5 * DAY).frame
    assert got.set_index("event_id").loc[frame["id"].iloc[0], "label"] == flipped["label"].iloc[0]


def test_a_trailing_reference_is_kept_per_span_and_the_cache_is_bounded(
    store_url: str, tmp_path: Path
) -> None:
    config = make_config(store_url, tmp_path, [model_dict(**{**LIGHT, "reference": {"trailing": "2d"}})])
    store = open_store(config)
    try:
        model = config.models[0]
        for day in range(4):
            put(store, model, traffic(day, N))
        one = ReferenceCache()
        one.load(store, model, START + 2 * DAY, now=START + 5 * DAY)
        cache = ReferenceCache(max_bytes=one.weight * 5 // 2)  # room for two spans of this size
        for start in (START + 2 * DAY, START + 3 * DAY, START + 2 * DAY, START + 3 * DAY):
            cache.load(store, model, start, now=START + 5 * DAY)
        assert (cache.misses, cache.hits, len(cache)) == (2, 2, 2)
        cache.load(store, model, START + 4 * DAY, now=START + 5 * DAY)  # evicts day 2's span
        cache.load(store, model, START + 2 * DAY, now=START + 5 * DAY)
        assert (cache.misses, cache.hits, len(cache)) == (4, 2, 2)

        small = ReferenceCache(max_bytes=one.weight - 1)  # a reference heavier than the bound is not kept
        small.load(store, model, START + 2 * DAY, now=START + 5 * DAY)
        assert len(small) == 0
    finally:
        store.dispose()


def test_the_daemon_reuses_references_across_cycles_until_a_reload_changes_the_model(
    store_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    base = f'[store]\nurl = "{store_url}"\n[reports]\ndir = "{tmp_path / "reports"}"\n'
    model = (
        '[[models]]\nname = "fraud"\nwindow = "1d"\n[models.features]\nnumeric = ["amount", "age"]\n'
        "[models.reference]\nstart = 2026-10-01T00:00:00Z\nend = 2026-10-03T00:00:00Z\n"
        "[models.drift]\nenabled = {}\n[models.performance]\nenabled = false\n"
    )
    path.write_text(base + model.format("false"), encoding="utf-8")
    clock = [START + 3 * DAY + timedelta(minutes=5)]
    daemon = Daemon(make_config(store_url, tmp_path), config_path=path, clock=lambda: clock[0], serve=False)
    try:
        assert daemon.reload()
        fraud = daemon.config.models[0]
        for day in range(4):
            put(daemon.store(), fraud, traffic(day, N))
        REFERENCES.clear()
        misses, hits = REFERENCES.misses, REFERENCES.hits
        assert len(daemon.check_job("fraud") or []) == 3  # days 0, 1, 2
        assert (REFERENCES.misses - misses, REFERENCES.hits - hits) == (1, 2)

        clock[0] += DAY  # the next cycle: day 3, same reference
        assert len(daemon.check_job("fraud") or []) == 1
        assert (REFERENCES.misses - misses, REFERENCES.hits - hits) == (1, 3)

        path.write_text(base + model.format("true"), encoding="utf-8")  # the model changed
        assert daemon.reload()
        clock[0] += DAY
        put(daemon.store(), daemon.config.models[0], traffic(4, N))
        assert len(daemon.check_job("fraud") or []) == 1
        assert (REFERENCES.misses - misses, REFERENCES.hits - hits) == (2, 3)
    finally:
        daemon.shutdown(timedelta(seconds=5))
        REFERENCES.clear()


def test_a_window_is_read_as_typed_columns_with_missing_values(store_url: str, tmp_path: Path) -> None:
    config = make_config(store_url, tmp_path, [model_dict(**LIGHT, error_column="error")])
    store = open_store(config)
    model = config.models[0]
    frame = traffic(0, N)
    frame["age"] = frame["age"].where(np.arange(N) % 3 != 0)
    frame["country"] = frame["country"].where(np.arange(N) % 4 != 0, None)
    frame["error"] = np.where(np.arange(N) % 5 == 0, None, np.arange(N) % 2 == 0)
    put(store, model, frame.drop(index=range(0, N, 2)), labels=True)
    put(store, model, frame.iloc[0:N:2], labels=False)

    got = read_window(store, model, START, START + DAY).set_index("event_id").loc[frame["id"]]

    assert (
        str(got["ts"].dtype) == "datetime64[ns, UTC]" and str(got["label_ts"].dtype) == "datetime64[ns, UTC]"
    )
    assert got["ts"].tolist() == [pd.Timestamp(t) for t in frame["timestamp"]]
    for col in ("score", "amount", "age", "latency_ms", "label", "prediction"):
        assert got[col].dtype == np.float64, col
    np.testing.assert_array_equal(got["age"].to_numpy(), frame["age"].to_numpy())
    assert got["country"].isna().tolist() == frame["country"].isna().tolist()
    assert got["label"].isna().tolist() == [i % 2 == 0 for i in range(N)]
    assert got["label_ts"].isna().tolist() == [i % 2 == 0 for i in range(N)]
    assert got["error"].tolist() == [None if i % 5 == 0 else i % 2 == 0 for i in range(N)]
    assert (got["label"].dropna().to_numpy() == frame["label"].iloc[1::2].to_numpy()).all()

    empty = read_window(store, model, START - DAY, START)
    assert empty.empty and str(empty["ts"].dtype) == "datetime64[ns, UTC]"
    assert empty["score"].dtype == np.float64
    store.dispose()


def counted_importance(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the seed of every importance estimate the runner makes."""
    seeds: list[int] = []

    def estimate(model: ModelConfig, frame: pd.DataFrame, seed: int, **options: Any) -> dict[str, Any]:
        seeds.append(seed)
        return reference_importance(model, frame, seed, **options)

    monkeypatch.setattr(runner_module, "reference_importance", estimate)
    return seeds


def test_the_importance_is_estimated_once_per_reference_with_its_own_seed(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifting = {**LIGHT, "reference": FIXED, "drift": {"enabled": True}}
    config = make_config(store_url, tmp_path, [model_dict(**drifting)])
    store = open_store(config)
    seeds = counted_importance(monkeypatch)
    try:
        model = config.models[0]
        for day in range(4):
            put(store, model, traffic(day, N))
        runner = Runner(
            store, config, clock=lambda: START + 4 * DAY + timedelta(hours=1), references=ReferenceCache()
        )
        done = runner.cycle(model)
        assert len(done) == 4 and len(seeds) == 1  # four windows, one reference, one estimate
        assert all(r.reference["importance_source"] == "estimated" for r in done)
        assert len({json.dumps(r.reference["importance"], sort_keys=True) for r in done}) == 1
        fresh = load_reference(store, model, START + 3 * DAY, now=START + 5 * DAY)
        assert seeds == [reference_seed(model.name, fresh.description)]
        assert (
            done[0].reference["importance"]
            == reference_importance(model, fresh.frame, seeds[0])["importance"]
        )

        put(store, model, traffic(1, N, seed=99, prefix="late"))  # the reference's rows changed
        again = runner.check_window(model, START + 4 * DAY, force=True)
        assert again is not None and len(seeds) == 2 and seeds[1] == seeds[0]  # same span, same seed
        assert again.reference["importance"] != done[-1].reference["importance"]
    finally:
        store.dispose()


def test_trailing_and_file_references_and_configured_importance(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference_file = tmp_path / "reference.csv"
    traffic(0, 2 * N, prefix="f").to_csv(reference_file, index=False)
    models = [
        model_dict(
            **{**LIGHT, "name": "trailing", "reference": {"trailing": "1d"}, "drift": {"enabled": True}}
        ),
        model_dict(
            **{
                **LIGHT,
                "name": "file",
                "reference": {"file": str(reference_file)},
                "drift": {"enabled": True},
            }
        ),
        model_dict(
            **{**LIGHT, "name": "configured", "drift": {"enabled": True}, "importance": {"amount": 3.0}}
        ),
    ]
    config = make_config(store_url, tmp_path, models)
    store = open_store(config)
    seeds = counted_importance(monkeypatch)
    try:
        for model in config.models:
            for day in range(4):
                put(store, model, traffic(day, N))
        runner = Runner(
            store, config, clock=lambda: START + 4 * DAY + timedelta(hours=1), references=ReferenceCache()
        )
        trailing = runner.cycle(config.models[0])[1:]  # the first window has no day before it
        assert len(trailing) == 3 and len(set(seeds)) == 3  # a new span: a new estimate, with its own seed
        estimates = {json.dumps(r.reference["importance"], sort_keys=True) for r in trailing}
        assert len(estimates) == 3

        seeds.clear()
        files = runner.cycle(config.models[1])
        assert len(files) == 4 and len(seeds) == 1  # one file, one estimate
        assert len({json.dumps(r.reference["importance"], sort_keys=True) for r in files}) == 1

        configured = runner.cycle(config.models[2])
        assert {r.reference["importance_source"] for r in configured} == {"configured"}
        assert all(r.reference["importance"] == {"amount": 3.0} for r in configured)
    finally:
        store.dispose()


def test_the_estimate_is_kept_in_the_store_for_the_next_process(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process (an empty reference cache) reads the estimate of the same rows back."""
    config = make_config(
        store_url, tmp_path, [model_dict(**{**LIGHT, "reference": FIXED, "drift": {"enabled": True}})]
    )
    store = open_store(config)
    made: list[str] = []

    def estimate(sample: DependenceSample) -> dict[str, float]:
        made.append(sample.digest())
        return estimate_dependence(sample)

    monkeypatch.setattr(runner_module, "estimate_dependence", estimate)
    clock = lambda: START + 4 * DAY + timedelta(hours=1)  # noqa: E731
    try:
        model = config.models[0]
        for day in range(4):
            put(store, model, traffic(day, N))
        first = Runner(store, config, clock=clock, references=ReferenceCache()).cycle(model)
        assert len(made) == 1
        second = Runner(store, config, clock=clock, references=ReferenceCache())
        again = second.check_window(model, START + 4 * DAY, force=True)
        assert len(made) == 1  # read back, not estimated
        assert again is not None and again.reference["importance"] == first[-1].reference["importance"]
        assert list(again.reference["importance"]) == list(first[-1].reference["importance"])

        monkeypatch.setattr(runner_module, "version", lambda package: "99.0")  # an upgraded estimator
        upgraded = Runner(store, config, clock=clock, references=ReferenceCache())
        assert upgraded.check_window(model, START + 4 * DAY, force=True) is not None
        assert made == [made[0], made[0]]  # the same sample, estimated again
        monkeypatch.undo()
        monkeypatch.setattr(runner_module, "estimate_dependence", estimate)

        put(store, model, traffic(1, N, seed=99, prefix="late"))  # the reference's rows changed
        third = Runner(store, config, clock=clock, references=ReferenceCache())
        changed = third.check_window(model, START + 4 * DAY, force=True)
        assert len(made) == 3 and made[2] != made[0]
        assert changed is not None and changed.reference["importance"] != first[-1].reference["importance"]
    finally:
        store.dispose()
