"""Ingestion benchmark: the validated path versus the raw floor, SQLite and PostgreSQL.

    .venv/bin/python bench/ingest.py --rows 1000000

Generates a Parquet file of prediction events with 20 features (16 numeric, 4
categorical), then, each in a fresh subprocess so peak RSS is its own:

- ``driftwatch``: ``ingest_file`` — read in chunks, validate, quarantine, idempotent insert
  with the file's record, one transaction;
- ``floor``: the same rows straight into an identical table with no validation: SQLite
  ``executemany`` of prepared tuples, PostgreSQL ``COPY`` of the CSV text.

Prints a Markdown table (rows/s and peak RSS).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NUMERIC = [f"n{i}" for i in range(16)]
CATEGORICAL = [f"c{i}" for i in range(4)]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_file(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    writer = None
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for offset in range(0, rows, 200_000):
        n = min(200_000, rows - offset)
        data = {
            "id": [f"ev-{i}" for i in range(offset, offset + n)],
            "timestamp": pd.date_range(start + timedelta(seconds=offset), periods=n, freq="s"),
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n),
            "latency_ms": rng.gamma(2.0, 15.0, n),
        }
        for col in NUMERIC:
            data[col] = rng.normal(0, 1, n)
        for col in CATEGORICAL:
            data[col] = rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"], n)
        table = pa.Table.from_pandas(pd.DataFrame(data), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def config_for(url: str, tmp: Path):  # type: ignore[no-untyped-def]
    from monitor.config import parse_config

    cfg = parse_config(
        {"models": [{"name": "bench", "features": {"numeric": NUMERIC, "categorical": CATEGORICAL}}]},
        base_dir=tmp,
    )
    return cfg.model_copy(update={"store": cfg.store.model_copy(update={"url": url})})


def run_driftwatch(url: str, path: str, tmp: Path) -> dict:
    from monitor.ingest import ingest_file
    from monitor.store import open_store

    config = config_for(url, tmp)
    store = open_store(config)
    t0 = time.perf_counter()
    counts = ingest_file(
        store, config.models[0], "predictions", path, now=datetime.now(UTC), chunk_rows=100_000
    )
    elapsed = time.perf_counter() - t0
    return {"rows": counts.stored, "seconds": elapsed}


def run_floor(url: str, path: str, tmp: Path) -> dict:
    """Same rows, same table, no validation: the fastest the database takes them."""
    from monitor.ingest.writer import SQLITE_TS_FORMAT
    from monitor.store import open_store
    from monitor.store.schema import feature_column

    config = config_for(url, tmp)
    store = open_store(config)
    table = store.events("bench")
    rename = {c: feature_column(c) for c in NUMERIC + CATEGORICAL}
    rename.update({"id": "event_id", "timestamp": "ts"})
    now = datetime.now(UTC).replace(tzinfo=None)
    csv_options = pacsv.WriteOptions(include_header=False)
    t0 = time.perf_counter()
    rows = 0
    with store.engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        prep = conn.dialect.identifier_preparer
        for batch in pq.ParquetFile(path).iter_batches(batch_size=100_000):
            frame = batch.to_pandas().rename(columns=rename)
            frame["ts"] = frame["ts"].dt.tz_localize(None)
            frame["prediction"] = frame["prediction"].astype(float)
            frame["ingested_at"] = now
            cols = ", ".join(prep.quote(c) for c in frame.columns)
            if store.dialect == "sqlite":
                frame["ts"] = frame["ts"].dt.strftime(SQLITE_TS_FORMAT)
                frame["ingested_at"] = now.strftime(SQLITE_TS_FORMAT)
                marks = ", ".join("?" for _ in frame.columns)
                tuples = list(frame.itertuples(index=False, name=None))
                raw.cursor().executemany(
                    f"INSERT INTO {prep.format_table(table)} ({cols}) VALUES ({marks})", tuples
                )
            else:
                buf = io.BytesIO()
                pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buf, csv_options)
                with raw.cursor().copy(
                    f"COPY {prep.format_table(table)} ({cols}) FROM STDIN WITH (FORMAT csv)"
                ) as cp:
                    cp.write(buf.getvalue())
            rows += len(frame)
    return {"rows": rows, "seconds": time.perf_counter() - t0}


def child(args: argparse.Namespace) -> None:
    fn = run_driftwatch if args.mode == "driftwatch" else run_floor
    result = fn(args.url, args.file, Path(args.tmp))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def fresh_pg_database() -> tuple[str, str]:
    import psycopg

    name = f"dw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--mode", choices=["driftwatch", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.parquet"
        make_file(path, args.rows)
        print(f"{args.rows:,} events x 20 features, {path.stat().st_size / 1e6:.0f} MB Parquet\n")
        print("| store | path | rows/s | seconds | peak RSS (MB) | share of floor |")
        print("|---|---|---:|---:|---:|---:|")
        for backend in args.backends.split(","):
            results = {}
            for mode in ("floor", "driftwatch"):
                if backend == "sqlite":
                    db = Path(tmp) / f"{mode}.db"
                    url, pg_name = f"sqlite:///{db}", None
                else:
                    pg_name, url = fresh_pg_database()
                cmd = [
                    sys.executable,
                    __file__,
                    "--mode",
                    mode,
                    "--url",
                    url,
                    "--file",
                    str(path),
                    "--tmp",
                    tmp,
                ]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
                results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
                if pg_name:
                    drop_pg_database(pg_name)
            floor_rate = results["floor"]["rows"] / results["floor"]["seconds"]
            for mode in ("floor", "driftwatch"):
                r = results[mode]
                rate = r["rows"] / r["seconds"]
                label = "raw floor (COPY)" if backend == "postgresql" else "raw floor (executemany)"
                name = label if mode == "floor" else "driftwatch validated ingest"
                print(
                    f"| {backend} | {name} | {rate:,.0f} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
                    f"{rate / floor_rate:.0%} |"
                )


if __name__ == "__main__":
    main()
