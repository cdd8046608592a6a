"""``[models.data]`` is validated at start-up with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, parse_config


def parse(data: dict, tmp_path: Path | None = None):  # type: ignore[no-untyped-def]
    model = {"name": "fraud", "features": {"numeric": ["amount"]}, "data": data}
    return parse_config({"models": [model]}, "c.toml", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"engine": "duckdb", "predictions": "p", "master": "local[*]"}, "duckdb engine is embedded"),
        ({"engine": "spark", "predictions": "p"}, "exactly one of master"),
        ({"engine": "spark", "predictions": "p", "master": "local[*]", "remote": "sc://h"}, "exactly one"),
        ({"engine": "sqlite", "predictions": "p"}, "models[0].data.engine"),
        ({"engine": "duckdb"}, "models[0].data.predictions"),
        ({"engine": "duckdb", "predictions": "p", "path": "x"}, "unknown key"),
    ],
)
def test_bad_data_sections_are_refused_with_their_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(data)
    assert message in str(info.value) and "models[0].data" in str(info.value)


def test_an_in_place_model_has_no_sources() -> None:
    model = {
        "name": "fraud",
        "features": {"numeric": ["amount"]},
        "data": {"engine": "duckdb", "predictions": "p"},
        "sources": [{"path": "x.csv"}],
    }
    with pytest.raises(ConfigError, match="has no sources"):
        parse_config({"models": [model]}, "c.toml")


def test_relative_paths_resolve_against_the_config_but_urls_and_tables_stay(tmp_path: Path) -> None:
    duck = parse({"engine": "duckdb", "predictions": "logs/*.parquet", "outcomes": "s3://b/o"}, tmp_path)
    assert duck.models[0].data.predictions == str(tmp_path / "logs/*.parquet")
    assert duck.models[0].data.outcomes == "s3://b/o"
    spark = parse({"engine": "spark", "master": "local[2]", "predictions": "lake.preds"}, tmp_path)
    assert spark.models[0].data.predictions == "lake.preds"


def test_a_relative_spark_file_path_resolves_like_the_engine_reads_it(tmp_path: Path) -> None:
    """Config and engine agree on what is a table: a bare file name or glob is a path."""
    for value in ("preds.parquet", "preds*.csv"):
        spark = parse({"engine": "spark", "master": "local[2]", "predictions": value}, tmp_path)
        assert spark.models[0].data.predictions == str(tmp_path / value)
