"""Benchmark: driftwatch's dataset_drift vs Evidently 0.7's DataDriftPreset vs bare numpy/scipy.

Each tool runs in its own subprocess that builds the same seeded reference and current
frames (``--rows`` rows x 20 numeric + 5 categorical columns; three numeric columns shifted
by 0.5 standard deviations, two by 0.05, one categorical mix changed) and computes the same
statistics with the same per-column methods (``wasserstein`` for numeric, ``jensenshannon``
for categorical: Evidently's defaults above 1,000 rows). Wall time covers the drift
computation only; peak RSS is the child's ``ru_maxrss`` (read with ``os.wait4``, i.e.
``getrusage(RUSAGE_CHILDREN)`` of that child alone) and includes the frames, whose own
footprint is measured by a ``frames`` child that builds them and does nothing else.

    .venv/bin/python bench/drift.py --rows 100000     # seconds
    .venv/bin/python bench/drift.py                   # 1,000,000 rows: minutes (Evidently ~2 GB)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checks.result import jsonable  # noqa: E402

N_NUMERIC, N_CATEGORICAL = 20, 5
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"cat_{j}" for j in range(N_CATEGORICAL)]
#: Mean shifts (in standard deviations) of the current window, by column.
SHIFTS = {"num_00": 0.5, "num_01": 0.5, "num_02": 0.5, "num_03": 0.05, "num_04": 0.05}
METHODS = {**dict.fromkeys(NUMERIC, "wasserstein"), **dict.fromkeys(CATEGORICAL, "jensenshannon")}
LEVELS = [f"level_{k}" for k in range(12)]


def make_frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current windows; ``cat_0`` changes its mix in the current window."""
    rng = np.random.default_rng(seed)

    def frame(current: bool) -> pd.DataFrame:
        # The numeric columns are generated into one 2-D block that the frame wraps without a
        # copy: a dict of columns would be consolidated, doubling the data for a moment and
        # inflating every tool's peak RSS alike.
        block = np.empty((len(NUMERIC), rows))  # pandas keeps a block as (columns, rows)
        for i, name in enumerate(NUMERIC):
            loc, scale = 10.0 * i, 1.0 + i / 10
            shift = SHIFTS.get(name, 0.0) if current else 0.0
            block[i] = rng.normal(loc + shift * scale, scale, rows)
        data = pd.DataFrame(block.T, columns=NUMERIC, copy=False)
        for j, name in enumerate(CATEGORICAL):
            k = 4 + 2 * j
            weights = np.linspace(2.0, 1.0, k) if current and j == 0 else np.ones(k)
            codes = rng.choice(k, size=rows, p=weights / weights.sum())
            data[name] = pd.Categorical.from_codes(codes, LEVELS[:k])
        return data

    return frame(False), frame(True)


def run_driftwatch(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    from checks.drift import dataset_drift

    start = time.perf_counter()
    result = dataset_drift(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, methods=METHODS)
    seconds = time.perf_counter() - start
    rows = {r.column: r for r in result.details["columns"]}
    return {
        "seconds": seconds,
        "scores": {c: rows[c].score for c in METHODS},
        "method_drifted": {c: rows[c].method_drifted for c in METHODS},
        "drifted": {c: rows[c].drifted for c in METHODS},
        "share_drifted": result.metrics["share_drifted"],
        "status": result.status,
    }


def run_evidently(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    start = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    report = Report([DataDriftPreset(per_column_method=METHODS)])
    snapshot = report.run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    metrics = snapshot.dict()["metrics"]
    seconds = time.perf_counter() - start
    scores, drifted, share = {}, {}, None
    for metric in metrics:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            scores[config["column"]] = float(metric["value"])
            drifted[config["column"]] = float(metric["value"]) >= config["threshold"]
        elif config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    return {"seconds": seconds, "scores": scores, "method_drifted": drifted, "share_drifted": share}


def run_numpy(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    from scipy import spatial, stats

    start = time.perf_counter()
    scores = {}
    for name in NUMERIC:
        r, c = ref[name].to_numpy(), cur[name].to_numpy()
        scores[name] = stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001)
    for name in CATEGORICAL:
        counts = pd.concat([ref[name].value_counts(), cur[name].value_counts()], axis=1).fillna(0).to_numpy()
        scores[name] = float(spatial.distance.jensenshannon(counts[:, 0], counts[:, 1]))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "scores": scores, "method_drifted": {c: s >= 0.1 for c, s in scores.items()}}


RUNNERS = {"driftwatch": run_driftwatch, "evidently": run_evidently, "numpy": run_numpy, "frames": None}


def child(mode: str, rows: int, seed: int) -> None:
    ref, cur = make_frames(rows, seed)
    runner = RUNNERS[mode]
    out = {"seconds": 0.0} if runner is None else runner(ref, cur)
    print(json.dumps(jsonable(out)))


def measure(mode: str, rows: int, seed: int) -> dict[str, Any]:
    """Run one tool in a fresh interpreter; its result plus its own peak RSS in MB."""
    command = [sys.executable, __file__, "--child", mode, "--rows", str(rows), "--seed", str(seed)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} child failed with exit code {proc.returncode}")
    out = json.loads(stdout.strip().splitlines()[-1])
    out["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per window (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-evidently", action="store_true", help="driftwatch and numpy only")
    parser.add_argument("--child", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.rows, args.seed)
        return
    modes = ["frames", "numpy", "driftwatch"] + ([] if args.skip_evidently else ["evidently"])
    report(args.rows, {mode: measure(mode, args.rows, args.seed) for mode in modes})


def report(rows: int, results: dict[str, dict[str, Any]]) -> None:
    print(f"rows per window: {rows:,}; columns: {N_NUMERIC} numeric + {N_CATEGORICAL} categorical")
    print(f"{'tool':<12}{'seconds':>10}{'peak RSS MB':>14}")
    for mode, out in results.items():
        print(f"{mode:<12}{out['seconds']:>10.2f}{out['peak_rss_mb']:>14.0f}")
    dw = results["driftwatch"]
    for other in ("numpy", "evidently"):
        if other not in results:
            continue
        ref = results[other]
        worst = max(
            abs(dw["scores"][c] - ref["scores"][c]) / max(abs(ref["scores"][c]), 1e-12) for c in METHODS
        )
        same = sum(dw["method_drifted"][c] == ref["method_drifted"][c] for c in METHODS)
        print(
            f"vs {other}: max relative score difference {worst:.2e}; "
            f"equal method verdicts {same}/{len(METHODS)}"
        )
    if "evidently" in results:
        ev = results["evidently"]
        load = results["frames"]["peak_rss_mb"]
        print(
            f"speed-up vs Evidently: {ev['seconds'] / dw['seconds']:.1f}x; peak RSS ratio "
            f"{dw['peak_rss_mb'] / ev['peak_rss_mb']:.2f} ("
            f"{(dw['peak_rss_mb'] - load) / max(ev['peak_rss_mb'] - load, 1):.2f} above the frames)"
        )
        print(f"Evidently share drifted: {ev['share_drifted']:.2f}")
    print(f"driftwatch share drifted (gated): {dw['share_drifted']:.2f}; status {dw['status']}")
    print("driftwatch gated verdicts:", {c: d for c, d in dw["drifted"].items() if d})
    print("method verdicts (Evidently semantics):", {c: d for c, d in dw["method_drifted"].items() if d})


if __name__ == "__main__":
    main()
