"""Reading one window: the columnar reads against the drivers' rows (SQLite, and PostgreSQL).

    .venv/bin/python bench/window_read.py                      # 100,000 rows, 5 repeats
    .venv/bin/python bench/window_read.py --rows 10000 100000 1000000 --repeat 3
    .venv/bin/python bench/window_read.py --postgres           # COPY against psycopg's rows

A SQLite store (a temporary file, WAL) holds one day of ``--rows`` labelled events of a binary
model with the 12 columns ``bench/daemon.py`` reads (id, time, version, prediction, score,
latency, error flag, two numeric features, a category, label and label time); then
``monitor.store.windows.read_window`` reads the day, alternately on the two paths (the
helper's path with ``columnar.MIN_ROWS`` 0, sqlite3's with it above the window). Reported per
path: the best and the median wall time, and the best CPU time of this process and of the
helper process (``/proc``, clock ticks of 10 ms) over ``--repeat`` reads, after one untimed
read that starts the helper; the 1-minute load average before and after. The two frames are
checked equal. With ``--postgres`` the store is a scratch database on 127.0.0.1:5432
(dropped afterwards) and the two paths are ``COPY ... TO STDOUT`` parsed by pyarrow
(:mod:`monitor.store.copy_read`) and psycopg's row tuples.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
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


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def scratch_store(postgres: bool) -> Iterator[str]:
    """The URL of an empty store: a SQLite file, or a new PostgreSQL database (dropped after)."""
    if not postgres:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/dw.db"
        return
    import psycopg

    name = f"dw_bench_read_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench(rows: int, repeat: int, postgres: bool = False) -> list[str]:
    from monitor.config import parse_config
    from monitor.ingest import ingest_frame
    from monitor.store import columnar, open_store, windows
    from monitor.store.copy_read import read_copy
    from monitor.store.windows import read_window

    with scratch_store(postgres) as url:
        model = {
            "name": "bench",
            "version_column": "version",
            "error_column": "failed",
            "features": {"numeric": ["amount", "age"], "categorical": ["country"]},
        }
        config = parse_config({"store": {"url": url}, "models": [model]})
        store = open_store(config)
        bench_model = config.models[0]
        frame = traffic(rows)
        now = START + 2 * DAY
        ingest_frame(store, bench_model, "predictions", frame.drop(columns="label"), source="bench", now=now)
        ingest_frame(
            store, bench_model, "outcomes", frame[["id", "timestamp", "label"]], source="bench", now=now
        )
        if postgres:
            paths = {"PostgreSQL COPY": read_copy, "psycopg rows": lambda *_: None}
        else:
            paths = {"columnar (ADBC helper)": 0, "sqlite3": rows + 1}
        times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
        frames = {}
        load = os.getloadavg()[0]
        for i in range(repeat + 1):
            for name, choice in paths.items():
                if postgres:
                    windows.read_copy = choice  # type: ignore[assignment]
                else:
                    columnar.MIN_ROWS = choice  # type: ignore[assignment]
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
    parser.add_argument("--postgres", action="store_true", help="a PostgreSQL store on 127.0.0.1:5432")
    args = parser.parse_args()
    print("| rows | read | best wall | median wall | best CPU, this process | helper | load before / after |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for rows in args.rows:
        for line in bench(rows, args.repeat, args.postgres):
            print(line, flush=True)


if __name__ == "__main__":
    main()
