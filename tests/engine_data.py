"""Shared seeded data for the engine tests: the same rows as Parquet datasets and in the store.

Includes NaN and nulls, values exactly on a reference edge, a category unseen in the
reference, a shifted feature in the current window and an empty window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

START = datetime(2026, 10, 1, tzinfo=UTC)
NOW = START + timedelta(days=30)
DAY = timedelta(days=1)
#: Days with predictions: 0-2 the reference, 3 shifted, 4 empty, 5 like the reference.
DAYS = (0, 1, 2, 3, 5)

DRIFT = {
    "columns": {"amount": {"method": "psi"}, "age": {"method": "psi"}, "country": {"method": "jensenshannon"}}
}


def predictions(day: int, n: int = 1500) -> pd.DataFrame:
    rng = np.random.default_rng(100 + day)
    shift = 0.5 if day == 3 else 0.0
    amount = rng.normal(100 + shift * 10, 10, n).round(1)
    amount[rng.random(n) < 0.03] = np.nan
    amount[:20] = 100.0  # exactly on the median edge of the reference
    age = np.where(rng.random(n) < 0.05, np.nan, rng.integers(18, 90, n)).astype(float)
    countries = rng.choice(["US", "DE", "FR", "BR"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    countries[rng.random(n) < 0.04] = None
    if day == 3:
        countries[:30] = "JP"  # unseen in the reference
    score = rng.random(n)
    return pd.DataFrame(
        {
            "id": [f"{day}-{i}" for i in range(n)],
            "timestamp": pd.to_datetime(
                [START + timedelta(days=day, seconds=int(s)) for s in rng.integers(0, 86400, n)], utc=True
            ),
            "prediction": (score > 0.5).astype(int),
            "score": score,
            "latency_ms": rng.gamma(2.0, 10.0, n).round(2),
            "amount": amount,
            "age": age,
            "country": countries,
        }
    )


def outcomes(frame: pd.DataFrame, share: float = 0.9) -> pd.DataFrame:
    rng = np.random.default_rng(len(frame))
    kept = frame[rng.random(len(frame)) < share]
    labels = (rng.random(len(kept)) < kept["score"].to_numpy()).astype(int)
    return pd.DataFrame(
        {"id": kept["id"].to_numpy(), "timestamp": kept["timestamp"] + timedelta(hours=2), "label": labels}
    )


def write_datasets(root: Path) -> tuple[Path, Path, list[pd.DataFrame]]:
    """Hive-partitioned Parquet predictions (``day=N``) and a folder of outcome files."""
    frames = [predictions(d) for d in DAYS]
    for day, frame in zip(DAYS, frames, strict=True):
        part = root / "predictions" / f"day={day}"
        part.mkdir(parents=True)
        frame.to_parquet(part / "part-0.parquet", index=False, coerce_timestamps="us")
        (root / "outcomes").mkdir(exist_ok=True)
        outcomes(frame).to_parquet(
            root / "outcomes" / f"day-{day}.parquet", index=False, coerce_timestamps="us"
        )
    return root / "predictions", root / "outcomes", frames


EDGES = {"x": np.array([-1.0, 0.0, 0.1, 2.5])}


def edge_frame() -> pd.DataFrame:
    """Values on and next to every edge, NaN, None, an unseen category, a null category."""
    x = [-2.0, -1.0, np.nextafter(-1.0, 0), 0.0, -0.0, 0.1, np.nextafter(0.1, 0), 2.5, 3.0, np.nan, None]
    c = ["a", "b", "a", None, "zz", "a", "b", "b", None, "a", "c"]
    return pd.DataFrame({"id": [f"r{i}" for i in range(len(x))], "x": x, "c": c})
