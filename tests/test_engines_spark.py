"""The Spark engine (local mode): the contract's counts; the same runs as DuckDB (check, backfill, daemon).

One JVM per test process (the engine keeps its session); few tests, each doing a lot.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from checks.drift.window_summary import in_hash_sample, summarise_frame
from checks.result import jsonable
from monitor.config import Config
from monitor.engines import sql
from monitor.engines.spark_engine import spark_session
from monitor.pipeline.runner import Runner
from monitor.store import open_store
from tests.conftest import make_config, model_dict
from tests.engine_data import DAY, EDGES, NOW, START, edge_frame, write_datasets

pytest.importorskip("pyspark")
pytest.importorskip("duckdb")


def test_spark_counts_follow_the_contract(tmp_path: Path) -> None:
    frame = edge_frame()
    frame.to_parquet(tmp_path / "f.parquet", index=False)
    spark = spark_session(make_config("sqlite://", tmp_path, [model_dict(data=SPARK)]).models[0].data)
    spark.read.parquet(str(tmp_path / "f.parquet")).createOrReplaceTempView("edges_t")
    row = tuple(spark.sql(sql.numeric_query(sql.SPARK, "edges_t", "TRUE", {"x": "x"}, EDGES)).collect()[0])
    cats = [
        tuple(r) for r in spark.sql(sql.category_query(sql.SPARK, "edges_t", "TRUE", {"c": "c"})).collect()
    ]
    assert sql.window_summary(row, cats, ["x"], ["c"], EDGES) == summarise_frame(frame, EDGES, ["c"])
    cond = sql.SPARK.in_sample("`id`", 0.5)
    got = {r[0] for r in spark.sql(f"SELECT id FROM edges_t WHERE {cond}").collect()}
    keep = in_hash_sample(frame["id"], 0.5)
    assert got == {i for i, k in zip(frame["id"], keep, strict=True) if k}
    # latency quantiles: percentile_approx, a data value within its stated rank error
    latency = np.random.default_rng(0).gamma(2.0, 10.0, 20_000)
    spark.createDataFrame(pd.DataFrame({"ms": latency})).createOrReplaceTempView("lat_t")
    got_q = sql.window_latency(
        sql.SPARK, spark.sql(sql.latency_query(sql.SPARK, "lat_t", "TRUE", "ms")).collect()[0]
    )
    assert got_q["quantile_rank_error"] == 1e-4 and got_q["max_ms"] == latency.max()
    for key, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        assert abs(np.mean(latency <= got_q[key]) - q) <= 1e-4 + 1 / latency.size, key


SPARK = {"engine": "spark", "master": "local[2]", "predictions": "data/predictions"}


def config_file(tmp_path: Path, engine: dict[str, str], name: str) -> Path:
    lines = "\n".join(f'{k} = "{v}"' for k, v in engine.items())
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / f"{name}.db"}"
[reports]
dir = "{tmp_path / f"reports-{name}"}"
[daemon]
max_catchup_windows = 1
[[models]]
name = "fraud"
features = {{ numeric = ["amount", "age"], categorical = ["country"] }}
window = "1d"
reference = {{ trailing = "3d" }}
[models.drift.columns]
amount = {{ method = "psi" }}
age = {{ method = "psi" }}
country = {{ method = "jensenshannon" }}
[models.data]
outcomes = "data/outcomes/*.parquet"
{lines}
""",
        encoding="utf-8",
    )
    return path


def _drift_rows(config: Config, end) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    store = open_store(config)
    try:
        run = Runner(store, config, clock=lambda: NOW).check_window(config.models[0], end, force=True)
    finally:
        store.dispose()
    assert run is not None
    return {
        "status": run.status,
        **{r.column: jsonable(r) for r in run.check("drift").details.get("columns", [])},
    }


def test_spark_model_through_backfill_check_and_daemon_matches_duckdb(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from monitor.cli import main
    from monitor.config import load_config
    from monitor.service.daemon import Daemon
    from monitor.store.runs import load_runs

    write_datasets(tmp_path / "data")
    spark_path = config_file(tmp_path, SPARK, "spark")
    duck_path = config_file(tmp_path, {"engine": "duckdb", "predictions": "data/predictions"}, "duck")
    spark, duck = load_config(spark_path), load_config(duck_path)

    # backfill: the shifted window and the empty one
    assert main(["--config", str(spark_path), "backfill", "--from", (START + 3 * DAY).isoformat(),
                 "--to", (START + 5 * DAY).isoformat()]) == 0  # fmt: skip
    store = open_store(spark)
    runs = {r.window_end: r for r in load_runs(store.engine, "fraud", limit=10)}
    store.dispose()
    assert sorted(runs) == [START + 4 * DAY, START + 5 * DAY]
    assert runs[START + 5 * DAY].check("drift").status == "skipped"
    expected = _drift_rows(duck, START + 4 * DAY)
    got = {r.column: jsonable(r) for r in runs[START + 4 * DAY].check("drift").details["columns"]}
    assert got.keys() == expected.keys() - {"status"}
    for name, row in got.items():
        assert row["drifted"] == expected[name]["drifted"], name
        assert row["histogram"]["current"] == pytest.approx(expected[name]["histogram"]["current"], abs=1e-12)
        assert row["statistic"] == pytest.approx(expected[name]["statistic"], rel=1e-9)
    assert got["amount"]["drifted"] and runs[START + 4 * DAY].check("drift").metrics["engine"] == "spark"

    # check: the stationary window, as JSON
    assert main(["--config", str(spark_path), "check", "--at", (START + 6 * DAY).isoformat(), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    drift = next(c for c in document["models"][0]["checks"] if c["check"] == "drift")
    assert drift["status"] == "ok" and drift["metrics"]["n_current"] == 1500

    # daemon: the next window comes due when its day ends (catch-up bounded to one window)
    daemon = Daemon(spark, clock=lambda: START + 7 * DAY + timedelta(hours=3), serve=False)
    try:
        done = daemon.check_job("fraud")
    finally:
        daemon.shutdown(timedelta(seconds=1))
    assert [r.window_end for r in done] == [START + 7 * DAY]
    assert done[0].check("drift").status == "skipped"  # no predictions on day 6


def test_a_session_being_started_elsewhere_is_waited_for_boundedly(tmp_path: Path) -> None:
    from monitor.engines import spark_engine
    from monitor.engines.base import InPlaceError

    remote = {"engine": "spark", "remote": "sc://h:1/;token=s3cret", "predictions": "data/predictions"}
    config = make_config("sqlite://", tmp_path, [model_dict(data=remote)])
    model = config.models[0]
    with spark_engine._LOCK:  # another thread is starting a session
        with pytest.raises(spark_engine.SessionTimeout, match=r"no Spark session after 0\.01 s") as err:
            spark_engine.spark_session(model.data, wait=0.01)
        assert "s3cret" not in str(err.value)
        spark_engine.SESSION_WAIT_SECONDS, saved = 0.01, spark_engine.SESSION_WAIT_SECONDS
        try:
            with pytest.raises(InPlaceError, match='model "fraud"'):
                spark_engine.SparkEngine(model, model.data)
        finally:
            spark_engine.SESSION_WAIT_SECONDS = saved
