"""Calendar and DST windows through the store, the runner and the CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.ingest import ingest_frame
from monitor.pipeline.due import due_windows
from monitor.store import open_store
from tests.test_windows import deadline

HOUR = timedelta(hours=1)


def events(start: datetime, stop: datetime, per_hour: int, *, seed: int) -> pd.DataFrame:
    """``per_hour`` stationary prediction events in every hour of ``[start, stop)``."""
    rng = np.random.default_rng(seed)
    hours = int((stop - start) / HOUR)
    offsets = np.repeat(np.arange(hours) * 3600, per_hour) + rng.integers(0, 3600, hours * per_hour)
    n = len(offsets)
    score = rng.beta(2, 5, n)
    return pd.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "timestamp": [start + timedelta(seconds=int(s)) for s in offsets],
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": rng.lognormal(3.0, 0.5, n),
            "country": rng.choice(["US", "DE", "FR"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def setup(
    tmp_path: Path, url: str, *, timezone: str, window: str, reference: str, frame: pd.DataFrame
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "{url}"
[reports]
dir = "{tmp_path / "reports"}"
[daemon]
timezone = "{timezone}"
[[models]]
name = "fraud"
window = "{window}"
[models.features]
numeric = ["amount"]
categorical = ["country"]
[models.reference]
{reference}
[models.performance]
enabled = false
[models.calibration]
enabled = false
[models.segments_check]
enabled = false
[models.threshold_check]
enabled = false
""",
        encoding="utf-8",
    )
    config = load_config(path)
    store = open_store(config)
    ingest_frame(
        store, config.models[0], "predictions", frame, source="test", now=datetime(2027, 1, 1, tzinfo=UTC)
    )
    store.dispose()
    return path


def test_monthly_windows_check_calendar_months_in_local_time(store_url, tmp_path, capsys):
    frame = events(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC), 4, seed=1)
    path = setup(
        tmp_path,
        store_url,
        timezone="America/New_York",
        window="1mo",
        reference='trailing = "1mo"',
        frame=frame,
    )
    assert main(["--config", str(path), "check", "--json", "--at", "2026-03-05T00:00:00Z"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["models"]
    # February in New York: from 1 Feb 00:00 EST to 1 Mar 00:00 EST.
    assert run["window"] == {"start": "2026-02-01T05:00:00+00:00", "end": "2026-03-01T05:00:00+00:00"}
    quality = next(c for c in run["checks"] if c["check"] == "data_quality")
    assert quality["metrics"]["n_current"] == 28 * 24 * 4
    assert run["reference"]["start"] == "2026-01-01T05:00:00+00:00"  # January, the month before
    assert run["reference"]["end"] == "2026-02-01T05:00:00+00:00"
    assert run["reference"]["overlaps_window"] is False

    assert (
        main(
            [
                "--config",
                str(path),
                "backfill",
                "--from",
                "2026-01-01T00:00:00Z",
                "--to",
                "2026-03-06T00:00:00Z",
            ]
        )
        == 0
    )
    progress = capsys.readouterr().err
    assert "fraud: 3 window(s), each named by its end" in progress
    for end in ("2026-01-01 05:00", "2026-02-01 05:00", "2026-03-01 05:00"):
        assert end in progress


def test_window_overlapping_a_fixed_reference_says_so(store_url, tmp_path, capsys):
    frame = events(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 6, tzinfo=UTC), 4, seed=2)
    reference = "start = 2026-02-15T00:00:00Z\nend = 2026-03-15T00:00:00Z"
    path = setup(tmp_path, store_url, timezone="UTC", window="1mo", reference=reference, frame=frame)
    assert main(["--config", str(path), "check", "--json", "--at", "2026-03-05T00:00:00Z"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["models"]
    assert run["reference"]["overlaps_window"] is True
    assert run["reference"]["overlap_share"] == pytest.approx(14 / 28, abs=1e-4)
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "reports" / "fraud").rglob("*.html")]
    assert any("This window overlaps the reference period (50% of it" in p for p in pages)
    assert main(["--config", str(path), "check", "--at", "2026-03-05T00:00:00Z"]) == 0
    assert "50% of the window lies inside the reference period" in capsys.readouterr().out


def test_due_windows_and_backfill_across_the_spring_forward_night(store_url, tmp_path, capsys):
    frame = events(datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 3, 29, 6, tzinfo=UTC), 3, seed=3)
    path = setup(
        tmp_path, store_url, timezone="Europe/Berlin", window="1h", reference='trailing = "6h"', frame=frame
    )
    config = load_config(path)
    store = open_store(config)
    try:
        with deadline(20):
            due = due_windows(store, config, config.models[0], datetime(2026, 3, 29, 3, tzinfo=UTC))
    finally:
        store.dispose()
    assert due == [datetime(2026, 3, 28, 13, tzinfo=UTC) + k * HOUR for k in range(15)]
    argv = [
        "--config",
        str(path),
        "backfill",
        "--from",
        "2026-03-28T22:00:00Z",
        "--to",
        "2026-03-29T04:00:00Z",
    ]
    with deadline(120):
        assert main(argv) == 0
    progress = capsys.readouterr().err
    assert (
        "fraud: 6 window(s)" in progress
        and progress.count(": ok") + progress.count(": warn") + progress.count(": alert") == 6
    )


@pytest.mark.parametrize(
    ("model_keys", "expected"),
    [
        ('window = "7h"', "models[0].window: a window shorter than a day must divide 24h evenly; got 7h"),
        ('window = "1q"\nwindow_anchor = 2026-01-01T00:00:00', "models[0].window: window_anchor applies to"),
        (
            'window = "1d"\nwindow_anchor = 2026-01-01T06:00:00+02:00',
            "models[0].window_anchor: must be a local date-time",
        ),
        ('window = "monthly"', "models[0].window: 'monthly' is not a window length"),
    ],
)
def test_validate_names_the_window_key(tmp_path, capsys, model_keys: str, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[[models]]\nname = "fraud"\n{model_keys}\n[models.features]\nnumeric = ["amount"]\n',
        encoding="utf-8",
    )
    assert main(["--config", str(path), "validate"]) == 2
    assert expected in capsys.readouterr().err
