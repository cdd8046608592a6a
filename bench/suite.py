"""Cost of the whole check suite on one labelled window, check by check, in process.

    .venv/bin/python bench/suite.py                          # 10,000 and 100,000 rows, 3 repeats
    .venv/bin/python bench/suite.py --rows 1000000 --repeat 1  # the 1M row (own process: peak RSS)
    .venv/bin/python bench/suite.py --rows 100000 --profile /tmp/suite.prof
    .venv/bin/python bench/suite.py --startup                 # `driftwatch check`, one small window
    .venv/bin/python bench/suite.py --kernels --rows 2000 20000 100000  # multiclass checks, regression
    .venv/bin/python bench/suite.py --kernels --classes 30 --rows 100000 --repeat 1  # many classes

A binary model with two numeric features, one categorical segment column, latency, and a
labelled current window of ``--rows`` rows against a labelled reference of the same size. The
current window's scores are miscalibrated (``p ** 1.3`` against labels drawn from ``p``) so the
calibration check alerts and the suite also fits a recalibrator, as it does for a real alert.
Every check runs with the defaults of ``config.toml`` (performance ``n_resamples = 500``).

Each check is timed separately (the same calls ``monitor/pipeline/check_suite.py`` makes), then
``run_suite`` end to end ("whole suite"; CBPE runs there only for windows without mature
labels, so it is timed on its own and not part of the whole suite). Reported per check: the
best wall time and the best CPU time (user + system of this process, all threads) over
``--repeat`` runs, and the 1-minute load average when the size started: on a shared machine
CPU time is the steadier figure. Peak RSS is the process's, so run the 1M row on its own.

``--startup`` instead times ``driftwatch check`` as a user runs it (a new interpreter each
time, byte code cached, SQLite store) on one model whose window and reference hold
``--startup-rows`` rows each.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEED = 1234


def window(n: int, *, seed: int, miscalibrated: bool) -> pd.DataFrame:
    """``n`` labelled rows of the bench model (columns as ``monitor.store.windows.read_window``)."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 0.5, n)
    age = rng.integers(18, 80, n).astype(float)
    country = rng.choice(["US", "DE", "FR", "BR"], n, p=[0.4, 0.3, 0.2, 0.1])
    p = 1 / (1 + np.exp(-(-1.0 + 0.04 * (amount - 20) + 0.02 * (age - 45) + rng.normal(0, 1.0, n))))
    score = p**1.3 if miscalibrated else p
    ts = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s")
    return pd.DataFrame(
        {
            "event_id": np.arange(n),
            "ts": ts,
            "model_version": "v1",
            "prediction": (score >= 0.5).astype(float),
            "score": score,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "error": False,
            "amount": amount,
            "age": age,
            "country": country,
            "label": (rng.random(n) < p).astype(float),
            "label_ts": ts,
        }
    )


def checks(model: Any, ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Callable[[], Any]]:
    """Each check of the suite as a thunk, called as ``monitor/pipeline/check_suite.py`` calls it."""
    from checks.calibration import calibration_check
    from checks.performance import performance
    from checks.recalibration import propose_recalibration
    from checks.segments import segment_check
    from checks.threshold import threshold_check
    from monitor.pipeline import check_suite as cs

    y, y_ref = cur["label"].to_numpy(), ref["label"].to_numpy()
    s, s_ref = cur["score"].to_numpy(), ref["score"].to_numpy()
    pred, pred_ref = cur["prediction"].to_numpy(), ref["prediction"].to_numpy()
    perf, cal = model.performance, model.calibration
    return {
        "drift": lambda: cs._drift(model, ref, cur, cs.reference_importance(model, ref, SEED)),
        "data quality": lambda: cs._quality(model, ref, cur, 0, None, None),
        "latency": lambda: cs._latency(model, ref, cur, 86_400.0),
        "performance": lambda: performance(
            y,
            pred,
            s,
            task="binary",
            reference=(y_ref, pred_ref, s_ref),
            threshold=model.threshold,
            n_resamples=perf.n_resamples,
            seed=SEED,
            alpha=perf.alpha,
        ),
        "calibration": lambda: calibration_check(
            y,
            s,
            reference=(y_ref, s_ref),
            n_bins=cal.n_bins,
            ece_threshold=cal.ece_threshold,
            min_delta=cal.min_delta,
            seed=SEED,
        ),
        "per-segment calibration": lambda: cs._calibration_by_segment(model, ref, cur, SEED),
        "segments": lambda: segment_check(
            cur,
            ref,
            segments=list(model.segments),
            y_true="label",
            y_pred="prediction",
            y_score="score",
            task="binary",
            threshold=model.threshold,
            seed=SEED,
        ),
        "threshold": lambda: threshold_check(y, s, current_threshold=model.threshold, seed=SEED),
        "CBPE": lambda: cs._estimated(model, ref, cur, SEED),
        "recalibrator fit": lambda: propose_recalibration(
            y, s, cur["ts"].to_numpy(dtype="datetime64[ns]"), n_bins=cal.n_bins
        ),
        "whole suite": lambda: cs.run_suite(
            model, ref, cur, quarantined=0, window_seconds=86_400.0, seed=SEED
        ),
    }


def timed(thunk: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        thunk()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def bench(rows: list[int], repeat: int, profile: str | None) -> str:
    from monitor.config import ModelConfig

    model = ModelConfig.model_validate(
        {
            "name": "bench",
            "segments": ["country"],
            "features": {"numeric": ["amount", "age"], "categorical": ["country"]},
        }
    )
    lines = []
    for n in rows:
        ref = window(n, seed=1, miscalibrated=False)
        cur = window(n, seed=2, miscalibrated=True)
        thunks = checks(model, ref, cur)
        thunks["whole suite"]()  # warm-up: imports and first-call costs stay out of the figures
        load = os.getloadavg()[0]
        if profile:
            cProfile.runctx("thunks['whole suite']()", globals(), {"thunks": thunks}, profile)
        for name, thunk in thunks.items():
            wall, cpu = timed(thunk, 1 if n >= 1_000_000 else repeat)
            lines.append(f"| {n:,} | {name} | {wall:.3f} | {cpu:.3f} | {load:.2f} |")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    head = "| rows (window = reference) | check | wall s | CPU s | load (1 min) |\n|---|---|---|---|---|\n"
    return head + "\n".join(lines) + f"\n\npeak RSS of the process: {rss:.0f} MB\n"


def class_world(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """``n`` rows of a ``k``-class model: softmax probabilities, labels drawn from them."""
    rng = np.random.default_rng(seed)
    p = np.exp(rng.normal(size=(n, k)) * 2)
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1).clip(0, k - 1)
    return y, p, list(range(k))


def kernel_thunks(n: int, k: int = 3) -> dict[str, Callable[[], Any]]:
    """The multiclass checks (performance, calibration, CBPE) and regression performance of a
    window against a reference of ``n`` rows each, as ``monitor/pipeline/multiclass_suite.py``
    calls them with the defaults of ``config.toml`` (``n_resamples`` raised for Holm over every
    metric, as the pipeline does); ``k`` classes (3: ``tests/multiclass_world.py``)."""
    from checks.multiclass_calibration import multiclass_calibration_check
    from checks.multiclass_estimation import expected_multiclass_metrics, multiclass_estimate
    from checks.multiclass_performance import OVERALL, PER_CLASS, multiclass_performance
    from checks.performance import performance
    from tests.multiclass_world import CLASSES, world

    if k == 3:
        (y, p, _), (y_ref, p_ref, _), classes = world(n, seed=1), world(n, seed=2), CLASSES
    else:
        (y, p, classes), (y_ref, p_ref, _) = class_world(n, k, seed=1), class_world(n, k, seed=2)
    metrics = len(OVERALL) + len(PER_CLASS) * k
    resamples = max(500, int(metrics / 0.05) + 1)  # monitor.pipeline.multiclass_suite.resamples_for
    rng = np.random.default_rng(SEED)
    truth, truth_ref = rng.gamma(2.0, 3.0, n), rng.gamma(2.0, 3.0, n)
    guess, guess_ref = truth + rng.normal(0, 1.5, n), truth_ref + rng.normal(0, 1.5, n)
    thunks = {
        f"multiclass performance ({k} classes, {metrics} metrics, {resamples} resamples)": lambda: (
            multiclass_performance(
                y, p, classes=classes, reference=(y_ref, p_ref), n_resamples=resamples, seed=SEED
            )
        ),
        f"multiclass calibration ({k} classes, 10 bins)": lambda: multiclass_calibration_check(
            y, p, classes=classes, reference=(y_ref, p_ref), seed=SEED
        ),
        f"multiclass CBPE ({k} classes, 3 metrics)": lambda: multiclass_estimate(
            p,
            classes=classes,
            reference=expected_multiclass_metrics(p_ref, classes=classes),
            n_resamples=500,
            seed=SEED,
        ),
    }
    if k == 3:
        thunks["regression performance (4 metrics)"] = lambda: performance(
            truth, guess, task="regression", reference=(truth_ref, guess_ref), n_resamples=500, seed=SEED
        )
    return thunks


def kernels(rows: list[int], repeat: int, classes: int = 3) -> str:
    """The table of :func:`kernel_thunks` at each size, and the process's peak RSS."""
    lines = []
    for n in rows:
        load = os.getloadavg()[0]
        for name, thunk in kernel_thunks(n, classes).items():
            thunk()  # warm-up
            wall, cpu = timed(thunk, repeat)
            lines.append(f"| {n:,} | {name} | {wall:.3f} | {cpu:.3f} | {load:.2f} |")
    head = "| rows (window = reference) | check | wall s | CPU s | load (1 min) |\n|---|---|---|---|---|\n"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return head + "\n".join(lines) + f"\n\npeak RSS of the process: {peak:.0f} MB"


def startup(rows: int, repeat: int) -> str:
    from datetime import timedelta

    from bench.daemon import START, ingest, model_toml, traffic, write_config
    from monitor.config import load_config
    from monitor.store import open_store

    reference = "start = 2026-10-01T00:00:00Z\nend = 2026-10-02T00:00:00Z"
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(Path(tmp), model_toml("small", reference=reference))
        config = load_config(path)
        store = open_store(config)
        now = START + timedelta(days=2, minutes=5)
        for day in range(2):
            frame = traffic(START + timedelta(days=day), timedelta(days=1), rows, seed=day, prefix=f"{day}")
            ingest(store, config.models[0], frame, now)
        store.dispose()
        root = Path(__file__).resolve().parent.parent
        command = [sys.executable, "-m", "monitor", "--config", str(path), "check", "--at", now.isoformat()]
        # As installed: byte code cached (a first, untimed run writes it where the environment
        # disables it), the user's store and config in place.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        run = {"check": True, "stdout": subprocess.DEVNULL, "env": env, "cwd": root}
        subprocess.run(command, **run)  # type: ignore[call-overload]
        walls, cpus = [], []
        load = os.getloadavg()[0]
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(command, **run)  # type: ignore[call-overload]
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return (
        "| `driftwatch check`, one window | best wall s | median wall s | best CPU s | load (1 min) |\n"
        "|---|---|---|---|---|\n"
        f"| {rows:,} rows + {rows:,}-row reference | {min(walls):.2f} | {float(np.median(walls)):.2f} "
        f"| {min(cpus):.2f} | {load:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of one whole-suite run (of the last size) here")
    parser.add_argument("--startup", action="store_true", help="time `driftwatch check` of one small window")
    parser.add_argument("--startup-rows", type=int, default=2000)
    parser.add_argument(
        "--kernels",
        action="store_true",
        help="time multiclass performance, calibration and CBPE and regression performance at --rows",
    )
    parser.add_argument("--classes", type=int, default=3, help="classes of the --kernels model")
    args = parser.parse_args()
    if args.startup:
        print(startup(args.startup_rows, args.repeat))
    elif args.kernels:
        print(kernels(args.rows, args.repeat, args.classes))
    else:
        print(bench(args.rows, args.repeat, args.profile))


if __name__ == "__main__":
    main()
