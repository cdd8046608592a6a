"""Real check output of every model kind: ``run_suite`` on seeded windows, as ModelRuns.

``suite_run(task, mature=...)`` runs every configured check of a binary, multiclass or
regression model (with segments and, for the binary model, the threshold check) on a
reference and a shifted current window; ``mature=False`` leaves the current window without
labels, so the label checks are skipped and the estimated performance runs instead.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from checks.result import ModelRun
from monitor.config import ModelConfig, parse_config
from monitor.pipeline.check_suite import run_suite
from tests.multiclass_world import CLASSES, world

END = datetime(2026, 10, 8, tzinfo=UTC)
N = 3000


def _model(task: str) -> ModelConfig:
    model: dict[str, Any] = {
        "name": f"m_{task}",
        "task": task,
        "features": {"numeric": ["x0", "x1"], "categorical": ["country"]},
        "segments": ["country"],
        "performance": {"n_resamples": 200},
        "latency": {"slo_p99_ms": 60.0},
    }
    if task == "multiclass":
        model |= {"classes": list(CLASSES), "threshold_check": {"enabled": False}}
    if task == "regression":
        model |= {"score_column": None, "threshold_check": {"enabled": False}}
    config = parse_config({"store": {"url": "sqlite:///unused.db"}, "models": [model]}, "suite-runs.toml")
    return config.models[0]


def _window(task: str, seed: int, shift: float, *, labelled: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    country = rng.choice(["DE", "FR", "US"], N, p=[0.5, 0.3, 0.2] if not shift else [0.3, 0.3, 0.4])
    frame: dict[str, Any] = {
        "ts": [END - timedelta(seconds=int(s)) for s in np.sort(rng.integers(1, 86_400, N))],
        "latency_ms": rng.gamma(2.0, 10.0 + 10 * shift, N),
        "error": False,
        "country": country,
    }
    if task == "multiclass":
        y, p, x = world(N, seed, sep=1.5 - shift)
        frame |= {"prediction": CLASSES[p.argmax(axis=1)], "label": y, "x0": x[:, 0], "x1": x[:, 1]}
        frame |= {f"p_{k}": p[:, k] for k in range(len(CLASSES))}
    else:
        x = rng.normal(shift, 1.0, (N, 2))
        noise = rng.normal(0.0, 1.0 + shift * (country == "US"), N)
        if task == "binary":
            score = 1 / (1 + np.exp(-(1.0 + shift) * (x[:, 0] - x[:, 1] + noise * 0.3)))
            y = (rng.uniform(size=N) < 1 / (1 + np.exp(-(x[:, 0] - x[:, 1])))).astype(float)
            frame |= {"score": score, "prediction": (score >= 0.5).astype(float), "label": y}
        else:
            y = 2 * x[:, 0] - x[:, 1] + rng.normal(0.0, 0.5, N)
            frame |= {"prediction": y + noise, "label": y}
        frame |= {"x0": x[:, 0], "x1": x[:, 1]}
    out = pd.DataFrame(frame)
    if not labelled:
        out["label"] = np.nan if task != "multiclass" else None
    return out


@functools.cache
def suite_run(task: str, *, mature: bool = True) -> ModelRun:
    """Every check of a ``task`` model on a shifted window, from real check output."""
    model = _model(task)
    ref = _window(task, seed=1, shift=0.0, labelled=True)
    cur = _window(task, seed=2, shift=0.5, labelled=mature)
    outcome = run_suite(model, ref, cur, quarantined=3, window_seconds=86_400, seed=7)
    return ModelRun(
        model=model.name,
        window_start=END - timedelta(days=1),
        window_end=END,
        reference={"start": (END - timedelta(days=8)).isoformat()},
        checks=tuple(outcome.checks),
        run_id=1,
    )
