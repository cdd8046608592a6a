"""A window of 20 million rows on PostgreSQL, checked without loading it.

    .venv/bin/python bench/pushdown.py --rows 20000000

Generates the reference and the current window (20 numeric + 5 categorical features, a
shift in two features) inside PostgreSQL with ``generate_series`` (no data crosses the
wire), then runs :func:`monitor.engines.pushdown.sql_drift` and reports its wall time and the
process's peak RSS next to what loading the window as a DataFrame would take.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NUMERIC = [f"n{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
START = datetime(2026, 10, 1, tzinfo=UTC)


def generate(url: str, table: str, rows: int) -> None:
    """Reference on day 0, current on day 1; n0 and n1 shifted by 0.2 sd in the current window."""
    numeric = ", ".join(
        f"CASE WHEN g > {rows} AND {i} < 2 THEN 0.2 ELSE 0 END"
        " + sqrt(-2 * ln(random())) * cos(2 * pi() * random())"
        for i in range(20)
    )
    categorical = ", ".join("(ARRAY['a','b','c','d','e'])[1 + floor(random() * 5)::int]" for _ in range(5))
    sql = f"""
        INSERT INTO {table} (event_id, ts, prediction, score, latency_ms, ingested_at,
                             {", ".join("f_" + c for c in NUMERIC + CATEGORICAL)})
        SELECT 'e' || g,
               timestamp '2026-10-01' + (CASE WHEN g > {rows} THEN interval '1 day' ELSE interval '0' END)
                   + ((g % {rows}) * (86400.0 / {rows})) * interval '1 second',
               (random() < 0.3)::int, random(), 20 * random(), now(),
               {numeric}, {categorical}
        FROM generate_series(1, {2 * rows}) AS g
    """
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(sql)
        conn.execute(f"ANALYZE {table}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows per window")
    args = parser.parse_args()

    from monitor.config import parse_config
    from monitor.engines.pushdown import Span, sql_drift
    from monitor.store import open_store

    name = f"dw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        config = parse_config(
            {"models": [{"name": "big", "features": {"numeric": NUMERIC, "categorical": CATEGORICAL}}]},
            base_dir=Path(tempfile.gettempdir()),
        )
        config = config.model_copy(update={"store": config.store.model_copy(update={"url": url})})
        store = open_store(config)
        t0 = time.perf_counter()
        generate(url, "dw_events_big", args.rows)
        print(f"generated 2 x {args.rows:,} rows in {time.perf_counter() - t0:.0f} s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        day = timedelta(days=1)
        result = sql_drift(
            store, config.models[0], Span(START, START + day), Span(START + day, START + 2 * day)
        )
        elapsed = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        drifted = [r.column for r in result.details["columns"] if r.drifted]
        in_memory_gb = args.rows * (20 * 8 + 5 * 60 + 60) / 1e9
        print()
        print(
            "| rows per window | sql_drift time | peak RSS | RSS before | drifted | DataFrame of one window |"
        )
        print("|---:|---:|---:|---:|---|---:|")
        print(
            f"| {args.rows:,} | {elapsed:.1f} s | {peak:.0f} MB | {rss_before:.0f} MB "
            f"| {', '.join(drifted)} | ~{in_memory_gb:.0f} GB |"
        )
        store.dispose()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
