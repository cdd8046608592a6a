"""A model checked in place ([models.data]) refuses rows sent to the store, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from monitor.api import Driftwatch
from monitor.cli import main
from monitor.config import load_config
from monitor.ingest import InPlaceModelError
from monitor.store import open_store
from monitor.store.schema import ingested_files

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "dw.db"}"

[[models]]
name = "fraud"
features = {{ numeric = ["amount"] }}

[models.data]
engine = "duckdb"
predictions = "logs/*.parquet"
""",
        encoding="utf-8",
    )
    return config


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b"],
            "timestamp": ["2026-11-01T00:00:00Z"] * 2,
            "prediction": [0, 1],
            "score": [0.1, 0.9],
        }
        | {"amount": [1.0, 2.0]}
    )


def test_ingesting_files_for_an_in_place_model_exits_2_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "events.csv"
    frame().to_csv(data, index=False)
    assert main(["--config", str(config), "ingest", str(data)]) == 2
    err = capsys.readouterr().err
    assert 'model "fraud" is checked in place ([models.data] engine = "duckdb")' in err
    assert f"{tmp_path / 'logs' / '*.parquet'}" in err
    store = open_store(loaded := load_config(config))
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(ingested_files)).scalar_one() == 0
    finally:
        store.dispose()
    assert loaded.models[0].data is not None


def test_the_python_api_refuses_rows_for_an_in_place_model(tmp_path: Path) -> None:
    with (
        Driftwatch(write_config(tmp_path), clock=lambda: NOW) as dw,
        pytest.raises(InPlaceModelError, match="checked in place"),
    ):
        dw.log_predictions("fraud", frame())
