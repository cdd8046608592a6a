"""Reading one window from a SQLite store: the columnar read (ADBC in a helper process) against sqlite3.

    .venv/bin/python bench/window_read.py                      # 100,000 rows, 5 repeats
    .venv/bin/python bench/window_read.py --rows 10000 100000 1000000 --repeat 3

A SQLite store (a temporary file, WAL) holds one day of ``--rows`` labelled events of a binary
model with the 12 columns ``bench/daemon.py`` reads (id, time, version, prediction, score,
latency, error flag, two numeric features, a category, label and label time); then
``monitor.store.windows.read_window`` reads the day, alternately on the two paths (the
helper's path with ``columnar.MIN_ROWS`` 0, sqlite3's with it above the window). Reported per
path: the best and the median wall time, and the best CPU time of this process and of the
helper process (``/proc``, clock ticks of 10 ms) over ``--repeat`` reads, after one untimed
read that starts the helper; the 1-minute load average before and after. The two frames are
checked equal.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def traffic(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    p = rng.random(n)
    return pd.DataFrame(
        {
            "id": [f"ev-{i}" for i in range(n)],
            "timestamp": pd.Timestamp(START)
            + pd.to_timedelta(np.sort(rng.integers(0, 86_400_000_000, n)), "us"),
            "version": rng.choice(["1.0.0", "1.1.0"], n),
            "failed": rng.random(n) < 0.01,
            "prediction": (p >= 0.5).astype(int),
            "score": p,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": rng.lognormal(3.0, 0.5, n),
            "age": rng.integers(18, 80, n).astype(float),
            "country": rng.choice(["US", "DE", "FR", "BR"], n),
            "label": (rng.random(n) < p).astype(int),
        }
    )


def bench(rows: int, repeat: int) -> list[str]:
    from monitor.config import parse_config
    from monitor.ingest import ingest_frame
    from monitor.store import columnar, open_store
    from monitor.store.windows import read_window

    with tempfile.TemporaryDirectory() as tmp:
        model = {
            "name": "bench",
            "version_column": "version",
            "error_column": "failed",
            "features": {"numeric": ["amount", "age"], "categorical": ["country"]},
        }
        config = parse_config({"store": {"url": f"sqlite:///{tmp}/dw.db"}, "models": [model]})
        store = open_store(config)
        bench_model = config.models[0]
        frame = traffic(rows)
        now = START + 2 * DAY
        ingest_frame(store, bench_model, "predictions", frame.drop(columns="label"), source="bench", now=now)
        ingest_frame(
            store, bench_model, "outcomes", frame[["id", "timestamp", "label"]], source="bench", now=now
        )
        paths = {"columnar (ADBC helper)": 0, "sqlite3": rows + 1}
        times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
        frames = {}
        load = os.getloadavg()[0]
        for i in range(repeat + 1):
            for name, min_rows in paths.items():
                columnar.MIN_ROWS = min_rows
                cpu, helper, wall = time.process_time(), helper_cpu(), time.perf_counter()
                frames[name] = read_window(store, bench_model, START, START + DAY)
                if i:  # the first round starts the helper and warms the page cache
                    wall = time.perf_counter() - wall
                    times[name].append((wall, time.process_time() - cpu, helper_cpu() - helper))
        pd.testing.assert_frame_equal(*frames.values(), check_exact=True)
        store.dispose()
    out = []
    for name, runs in times.items():
        walls = [w for w, _, _ in runs]
        own, helper = min(c for _, c, _ in runs), min(h for _, _, h in runs)
        out.append(
            f"| {rows:,} | {name} | {min(walls):.3f} s | {statistics.median(walls):.3f} s "
            f"| {own:.3f} s | {helper:.2f} s | {load:.2f} / {os.getloadavg()[0]:.2f} |"
        )
    return out


def helper_cpu() -> float:
    """CPU seconds of the columnar read's helper process so far (0 before it starts)."""
    from monitor.store.columnar import helper_pid

    pid = helper_pid()
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| rows | read | best wall | median wall | best CPU, this process | helper | load before / after |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for rows in args.rows:
        for line in bench(rows, args.repeat):
            print(line, flush=True)


if __name__ == "__main__":
    main()
