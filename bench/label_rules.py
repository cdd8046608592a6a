"""False-alarm and power figures of the label-based decision rules (materiality, segment alerts).

    .venv/bin/python bench/label_rules.py [--windows 300] [--power-windows 100]

Prints one table row per scenario: windows simulated, windows that alerted, the rate.
Every window is an independent seeded draw; nothing here is timed.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checks.performance import LabelledWindow, performance
from checks.segments import segment_check
from tests.test_segment_support import COLUMNS, many_segments


def binormal(n: int, auc: float, rng: np.random.Generator, prevalence: float = 0.3) -> LabelledWindow:
    """Random binormal draws whose population AUC is ``auc`` (unit variances)."""
    y = (rng.uniform(size=n) < prevalence).astype(int)
    z = rng.normal(size=n) + math.sqrt(2) * stats.norm.ppf(auc) * y
    return LabelledWindow(y, y_score=1 / (1 + np.exp(-(z - 1.5))))


def auc_alerts(windows: int, n: int, before: float, after: float, **options: float) -> int:
    alerted = 0
    for seed in range(windows):
        rng = np.random.default_rng(seed)
        ref, cur = binormal(n, before, rng), binormal(n, after, rng)
        result = performance(
            cur.y_true, y_score=cur.y_score, task="binary", reference=ref, seed=seed, **options
        )
        alerted += any(f.method == "roc_auc" for f in result.findings)
    return alerted


def segment_alerts(windows: int, errors: dict[str, float] | None) -> int:
    alerted = 0
    for seed in range(windows):
        rng = np.random.default_rng(seed)
        ref, cur = many_segments(4000, rng), many_segments(3000, rng, errors=errors)
        result = segment_check(cur, ref, **COLUMNS)
        alerted += any(
            f.severity == "alert" and f.subject == "segment:region=r02" for f in result.findings
        ) or (errors is None and result.status == "alert")
    return alerted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--power-windows", type=int, default=100)
    args = parser.parse_args()
    w, p = args.windows, args.power_windows
    scenarios: list[tuple[str, int, Callable[[], int]]] = [
        ("performance: stationary AUC 0.97, 1,000 rows, any ROC AUC alert", w,
         lambda: auc_alerts(w, 1000, 0.97, 0.97, n_resamples=500)),
        ("performance: AUC 0.971 -> 0.960, 5,000 rows (relative rule)", p,
         lambda: auc_alerts(p, 5000, 0.971, 0.960, n_resamples=500)),
        ("performance: AUC 0.971 -> 0.960, 5,000 rows, absolute min_delta only", p,
         lambda: auc_alerts(p, 5000, 0.971, 0.960, n_resamples=500, min_relative=1e9)),
        ("performance: AUC 0.971 -> 0.968, 5,000 rows (immaterial)", p,
         lambda: auc_alerts(p, 5000, 0.971, 0.968, n_resamples=500)),
        ("segments: stationary, 35 segments, any segment alert", w, lambda: segment_alerts(w, None)),
        ("segments: a 15% region's error 0.12 -> 0.24, alert on it", p,
         lambda: segment_alerts(p, {"r02": 0.24})),
        ("segments: a 15% region's error 0.12 -> 0.30, alert on it", p,
         lambda: segment_alerts(p, {"r02": 0.30})),
    ]  # fmt: skip
    print("| scenario | windows | alerted | rate |\n|---|---:|---:|---:|")
    for name, windows, run in scenarios:
        hits = run()
        print(f"| {name} | {windows} | {hits} | {hits / windows:.1%} |", flush=True)


if __name__ == "__main__":
    main()
