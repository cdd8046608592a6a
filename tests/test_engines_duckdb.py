"""The DuckDB engine: same counts as in memory (and PostgreSQL), same verdicts as the stored path."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from checks.drift.window_summary import in_hash_sample, summarise_frame
from checks.result import jsonable
from monitor.config import Config
from monitor.engines import event_time_range, open_engine, sql, window_counts
from monitor.ingest import ingest_frame
from monitor.pipeline.runner import Runner
from monitor.store import open_store
from tests.conftest import make_config, model_dict
from tests.engine_data import DAY, DRIFT, EDGES, NOW, START, edge_frame, outcomes, write_datasets

pytest.importorskip("duckdb")


def test_boundary_convention_is_the_same_in_memory_and_in_duckdb(tmp_path: Path) -> None:
    frame = edge_frame()
    frame.to_parquet(tmp_path / "f.parquet", index=False)
    expected = summarise_frame(frame, EDGES, ["c"])
    # by hand: x < -1 | [-1, 0) | [0, 0.1) | [0.1, 2.5) | >= 2.5; -0.0 == 0.0; NaN and None missing
    assert expected.numeric["x"].counts == (1, 2, 3, 1, 2) and expected.numeric["x"].missing == 2
    assert dict(expected.categorical["c"].counts) == {"a": 4, "b": 3, "c": 1, "zz": 1}
    import duckdb

    con = duckdb.connect()
    source = f"read_parquet({sql.string(str(tmp_path / 'f.parquet'))})"
    row = con.execute(sql.numeric_query(sql.DUCKDB, source, "TRUE", {"x": "x"}, EDGES)).fetchall()[0]
    cats = con.execute(sql.category_query(sql.DUCKDB, source, "TRUE", {"c": "c"})).fetchall()
    assert sql.window_summary(row, cats, ["x"], ["c"], EDGES) == expected


@pytest.mark.postgres
def test_boundary_convention_is_the_same_in_postgresql(pg_url: str) -> None:
    frame = edge_frame()
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE f (id text, x float8, c text)"))
        for r in frame.itertuples():
            x = None if r.x is None or (isinstance(r.x, float) and np.isnan(r.x)) else float(r.x)
            conn.execute(text("INSERT INTO f VALUES (:i, :x, :c)"), {"i": r.id, "x": x, "c": r.c})
        conn.execute(text("INSERT INTO f VALUES ('nan', 'NaN'::float8, NULL)"))  # a real NaN
        row = conn.execute(text(sql.numeric_query(sql.POSTGRESQL, "f", "TRUE", {"x": "x"}, EDGES))).one()
        cats = conn.execute(text(sql.category_query(sql.POSTGRESQL, "f", "TRUE", {"c": "c"}))).all()
        cut = sql.POSTGRESQL.in_sample("id", 0.5)
        sampled = {r[0] for r in conn.execute(text(f"SELECT id FROM f WHERE {cut}"))}
    engine.dispose()
    got = sql.window_summary(row, cats, ["x"], ["c"], EDGES)
    expected = summarise_frame(frame, EDGES, ["c"])
    assert got.numeric["x"].counts == expected.numeric["x"].counts
    assert got.numeric["x"].missing == expected.numeric["x"].missing + 1  # the extra NaN row
    assert dict(got.categorical["c"].counts) == dict(expected.categorical["c"].counts)
    ids = [*frame["id"], "nan"]
    assert sampled == {i for i, keep in zip(ids, in_hash_sample(ids, 0.5), strict=True) if keep}


def test_hash_sample_picks_the_same_rows_in_duckdb_as_by_hand(tmp_path: Path) -> None:
    import duckdb

    ids = [f"id-{i}" for i in range(4000)]
    pd.DataFrame({"id": ids}).to_parquet(tmp_path / "ids.parquet", index=False)
    source = f"read_parquet({sql.string(str(tmp_path / 'ids.parquet'))})"
    cond = sql.DUCKDB.in_sample('"id"', 0.1)
    got = {r[0] for r in duckdb.connect().execute(f"SELECT id FROM {source} WHERE {cond}").fetchall()}
    keep = in_hash_sample(ids, 0.1)
    assert got == {i for i, k in zip(ids, keep, strict=True) if k}
    assert 300 < len(got) < 500  # about 10%


def configs(tmp_path: Path) -> tuple[Config, Config]:
    """The same model in place (DuckDB over hive-partitioned Parquet) and stored (SQLite)."""
    preds, outs, _ = write_datasets(tmp_path / "data")
    data = {"engine": "duckdb", "predictions": str(preds), "outcomes": str(outs)}
    common = {"drift": DRIFT, "reference": {"trailing": "3d"}}
    in_place = make_config(
        f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "a", [model_dict(data=data, **common)]
    )
    stored = make_config(f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "b", [model_dict(**common)])
    return in_place, stored


def _stored_store(config: Config, frames: list[pd.DataFrame]):  # type: ignore[no-untyped-def]
    store = open_store(config)
    model = config.models[0]
    for frame in frames:
        ingest_frame(store, model, "predictions", frame, source="t", now=NOW)
        ingest_frame(store, model, "outcomes", outcomes(frame), source="t", now=NOW)
    return store


def test_in_place_runs_match_the_in_memory_runs(tmp_path: Path) -> None:
    in_place, stored = configs(tmp_path)
    _, _, frames = write_datasets(tmp_path / "again")
    a, b = open_store(in_place), _stored_store(stored, frames)
    try:
        for day in (4, 5, 6):  # shifted, empty, stationary
            end = START + day * DAY
            run_a = Runner(a, in_place, clock=lambda: NOW).check_window(in_place.models[0], end)
            run_b = Runner(b, stored, clock=lambda: NOW).check_window(stored.models[0], end)
            assert run_a is not None and run_b is not None
            assert [(c.check, c.status) for c in run_a.checks] == [(c.check, c.status) for c in run_b.checks]
            drift_a, drift_b = run_a.check("drift"), run_b.check("drift")
            if day == 5:
                assert drift_a.status == "skipped" and drift_a.reason == drift_b.reason
                continue
            cols_a = {r.column: jsonable(r) for r in drift_a.details["columns"]}
            cols_b = {r.column: jsonable(r) for r in drift_b.details["columns"]}
            assert cols_a.keys() == cols_b.keys() == {"amount", "age", "country", "score", "label"}
            for name in ("amount", "age", "country"):  # binned methods: identical counts and statistic
                hist_a, hist_b = cols_a[name]["histogram"], cols_b[name]["histogram"]
                if name == "country":
                    assert hist_a["bins"] == hist_b["bins"]
                else:
                    assert hist_a["bins"] == pytest.approx(hist_b["bins"])
                assert hist_a["reference"] == pytest.approx(hist_b["reference"], abs=1e-12)
                assert hist_a["current"] == pytest.approx(hist_b["current"], abs=1e-12)
                assert cols_a[name]["statistic"] == pytest.approx(cols_b[name]["statistic"], rel=1e-9)
                assert cols_a[name]["missing_current"] == pytest.approx(cols_b[name]["missing_current"])
            for name in cols_a:
                assert cols_a[name]["drifted"] == cols_b[name]["drifted"], name
            assert drift_a.status == drift_b.status
            assert drift_a.metrics["engine"] == "duckdb"
            if day == 4:
                assert cols_a["amount"]["drifted"] and "JP" in cols_a["country"]["histogram"]["bins"]
            else:
                assert not any(r["drifted"] for r in cols_a.values())
            for check in ("data_quality", "latency", "performance", "calibration"):
                assert run_a.check(check).metrics == pytest.approx(run_b.check(check).metrics), check
    finally:
        a.dispose()
        b.dispose()


def test_new_data_is_read_from_the_engine(tmp_path: Path) -> None:
    in_place, _ = configs(tmp_path)
    model = in_place.models[0]
    store = open_store(in_place)
    try:
        first, last = event_time_range(store, model)
        assert first is not None and last is not None
        assert START <= first < START + DAY and START + 5 * DAY <= last < START + 6 * DAY
        counts = window_counts(store, model, START + 3 * DAY, START + 4 * DAY)
        assert counts.predictions == 1500 and 0 < counts.labelled < 1500
        assert window_counts(store, model, START + 4 * DAY, START + 5 * DAY).predictions == 0
        runner = Runner(store, in_place, clock=lambda: START + 6 * DAY + 3600e-6 * DAY)
        assert runner.due_windows(model) == [START + (d + 1) * DAY for d in range(6)]
    finally:
        store.dispose()


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    config = make_config(
        "sqlite://",
        tmp_path,
        [model_dict(data={"engine": "duckdb", "predictions": str(tmp_path / "nowhere" / "*.parquet")})],
    )
    with open_engine(config.models[0]) as engine, pytest.raises(ValueError, match=r'model "fraud".*DuckDB'):
        engine.time_range()


def test_check_and_backfill_commands_on_an_in_place_model(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from monitor.cli import main

    write_datasets(tmp_path / "data")
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "dw.db"}"
[reports]
dir = "{tmp_path / "reports"}"
[[models]]
name = "fraud"
features = {{ numeric = ["amount", "age"], categorical = ["country"] }}
window = "1d"
reference = {{ trailing = "3d" }}
[models.drift.columns]
amount = {{ method = "psi" }}
[models.data]
engine = "duckdb"
predictions = "data/predictions"
outcomes = "data/outcomes/*.parquet"
""",
        encoding="utf-8",
    )
    assert main(["--config", str(path), "check", "--at", (START + 4 * DAY).isoformat(), "--json"]) in (0, 1)
    document = json.loads(capsys.readouterr().out)
    drift = next(c for c in document["models"][0]["checks"] if c["check"] == "drift")
    assert drift["metrics"]["engine"] == "duckdb" and drift["metrics"]["n_current"] == 1500
    code = main(
        [
            "--config",
            str(path),
            "backfill",
            "--from",
            START.isoformat(),
            "--to",
            (START + 6 * DAY).isoformat(),
        ]
    )
    assert code == 0
    config = make_config(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path)
    store = open_store(config)
    try:
        from monitor.store.runs import load_runs

        ends = sorted(r.window_end for r in load_runs(store.engine, "fraud", limit=20))
    finally:
        store.dispose()
    assert ends == [START + d * DAY for d in range(1, 7)]


def test_daemon_catches_up_an_in_place_model_without_copying_rows(store_url: str, tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from monitor.service.daemon import Daemon

    in_place, _ = configs(tmp_path)
    config = in_place.model_copy(update={"store": in_place.store.model_copy(update={"url": store_url})})
    daemon = Daemon(config, clock=lambda: START + 6 * DAY + timedelta(hours=3), serve=False)
    try:
        done = daemon.check_job("fraud")
        assert [r.window_end for r in done] == [START + d * DAY for d in range(1, 7)]
        assert {r.window_end: r.check("drift").status for r in done}[START + 4 * DAY] == "warn"
        assert daemon.check_job("fraud") == []  # each window once
        store = open_store(config)
        with store.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(store.events("fraud"))).scalar_one()
        store.dispose()
        assert stored == 0  # nothing copied into the store
    finally:
        daemon.shutdown(timedelta(seconds=1))


def test_a_file_reference_gives_the_same_drift_as_the_same_rows_in_place(tmp_path: Path) -> None:
    in_place, _ = configs(tmp_path)
    _, _, frames = write_datasets(tmp_path / "again")
    reference_file = tmp_path / "reference.parquet"
    pd.concat(frames[:3], ignore_index=True).to_parquet(reference_file, index=False)
    model = in_place.models[0]
    by_file = model.model_copy(
        update={"reference": model.reference.model_copy(update={"trailing": None, "file": reference_file})}
    )
    runs = []
    for i, m in enumerate((model, by_file)):
        config = make_config(f"sqlite:///{tmp_path / f'r{i}.db'}", tmp_path / f"r{i}", [m.model_dump()])
        store = open_store(config)
        try:
            runs.append(
                Runner(store, config, clock=lambda: NOW).check_window(config.models[0], START + 4 * DAY)
            )
        finally:
            store.dispose()
    trailing, file = ({r.column: jsonable(r) for r in run.check("drift").details["columns"]} for run in runs)
    assert runs[1].reference["kind"] == "file"
    for name in ("amount", "age", "country", "score"):
        assert file[name]["histogram"] == trailing[name]["histogram"], name
        assert file[name]["drifted"] == trailing[name]["drifted"]
    assert file["amount"]["drifted"]


def test_latency_quantiles_of_a_window_are_exact_in_duckdb(tmp_path: Path) -> None:
    in_place, _ = configs(tmp_path)
    model = in_place.models[0]
    frame = pd.read_parquet(tmp_path / "data" / "predictions" / "day=3")
    values = frame["latency_ms"].to_numpy(dtype=float)
    with open_engine(model) as engine:
        got = engine.latency(START + 3 * DAY, START + 4 * DAY)
        empty = engine.latency(START + 4 * DAY, START + 5 * DAY)
    expected = np.percentile(values, [50, 95, 99])
    assert [got["p50_ms"], got["p95_ms"], got["p99_ms"]] == pytest.approx(expected, rel=1e-12)
    assert got["max_ms"] == values.max() and got["quantile_rank_error"] == 0.0
    assert empty == {
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "max_ms": None,
        "quantile_rank_error": 0.0,
    }


def test_a_sampled_in_place_window_reports_its_exact_latency_quantiles(tmp_path: Path) -> None:
    in_place, _ = configs(tmp_path)
    config = in_place.model_copy(update={"store": in_place.store.model_copy(update={"sample_rows": 500})})
    frame = pd.read_parquet(tmp_path / "data" / "predictions" / "day=3")
    store = open_store(config)
    try:
        run = Runner(store, config, clock=lambda: NOW).check_window(config.models[0], START + 4 * DAY)
    finally:
        store.dispose()
    assert run is not None
    latency = run.check("latency").metrics
    assert latency["n"] < 1500  # the other figures are the sample's
    assert latency["p95_ms"] == pytest.approx(np.percentile(frame["latency_ms"], 95), rel=1e-12)
    assert latency["quantile_rank_error"] == 0.0


def test_reference_summaries_are_kept_in_the_store_until_the_reference_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.engines import window
    from monitor.engines.base import InPlaceEngine
    from monitor.store.schema import summary_cache

    in_place, _ = configs(tmp_path)
    model = in_place.models[0]
    scans: list[tuple] = []
    summarise = InPlaceEngine.summarise
    monkeypatch.setattr(
        InPlaceEngine, "summarise", lambda self, *a: scans.append(a[:2]) or summarise(self, *a)
    )

    def drift(day: int):  # type: ignore[no-untyped-def]
        store = open_store(in_place)  # a new store each time: a restarted process
        try:
            with open_engine(model) as engine:
                span, cur = (
                    (START + (day - 3) * DAY, START + day * DAY),
                    (START + day * DAY, START + (day + 1) * DAY),
                )
                empty = pd.DataFrame({"label": pd.Series(dtype=float)})
                ref = window.Reference(empty, {})
                return window.drift_in_place(engine, model, ref, span, cur, empty, cache=store, now=NOW)
        finally:
            store.dispose()

    first = drift(3)
    reference_scans = [s for s in scans if s[0] == START]
    assert len(reference_scans) == 2  # the edges' moments, then the summary
    scans.clear()
    again = drift(3)
    assert [s[0] for s in scans] == [START + 3 * DAY]  # only the current window
    assert again.details["columns"] == first.details["columns"]

    # the reference changes (a late file for day 1): summarised again, and the cache follows
    extra = pd.read_parquet(tmp_path / "data" / "predictions" / "day=1").assign(id=lambda f: "x" + f["id"])
    extra.to_parquet(tmp_path / "data" / "predictions" / "day=1" / "part-1.parquet", index=False)
    scans.clear()
    changed = drift(3)
    assert [s[0] for s in scans] == [START, START, START + 3 * DAY]
    assert changed.metrics["n_reference"] == first.metrics["n_reference"] + len(extra)
    store = open_store(in_place)
    with store.engine.connect() as conn:
        assert conn.execute(summary_cache.select()).all()[0].model == "fraud"
    store.dispose()


def test_windows_waiting_for_labels_are_counted_through_one_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.engines
    from monitor.pipeline import due

    in_place, _ = configs(tmp_path)
    model = in_place.models[0]
    ends = [START + d * DAY for d in (1, 2, 3, 4)]
    # runs of days 0-3 waiting for labels at a coverage below maturity; the label wait not over
    monkeypatch.setattr(
        due, "runs_awaiting_labels", lambda engine, name: [(i, e, 0.0) for i, e in enumerate(ends)]
    )
    opened = []
    real = monitor.engines.open_engine
    monkeypatch.setattr(monitor.engines, "open_engine", lambda m: opened.append(m.name) or real(m))
    store = open_store(in_place)
    try:
        relabel = due.windows_with_new_labels(store, in_place, model, START + 5 * DAY)
    finally:
        store.dispose()
    assert opened == ["fraud"]
    assert relabel == [0, 1, 2, 3]  # 90% of each day is labelled: mature now
