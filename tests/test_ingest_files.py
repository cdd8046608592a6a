"""Files that go wrong cost only their bad rows (issue #14 items 2, 3, 4, 6 and 7), on both stores."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from monitor.ingest import ingest_file, ingest_paths
from monitor.ingest.lines import MAX_LINE_BYTES, declared_columns, records_frame
from monitor.store.schema import ingested_files, quarantine
from tests.conftest import settled

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def rows(n: int, *, prefix: str = "r", start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(start)
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(start, start + n)],
            "timestamp": [
                (datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=i)).isoformat()
                for i in range(start, start + n)
            ],
            "prediction": rng.integers(0, 2, n),
            "score": rng.random(n).round(6),
            "amount": rng.random(n).round(6),
            "country": rng.choice(["US", "DE"], n),
        }
    )


def csv_lines(frame: pd.DataFrame) -> list[bytes]:
    return [line + b"\n" for line in frame.to_csv(index=False).encode().splitlines()]


def stored_ids(store) -> set[str]:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return set(conn.execute(select(store.events("fraud").c.event_id)).scalars())


def quarantined(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return dict(conn.execute(select(quarantine.c.location, quarantine.c.reason)).all())


# -- item 2: one bad file never stops the others -----------------------------------------


def test_parquet_with_bad_utf8_quarantines_that_row_and_reads_the_next_file(store, config, tmp_path):
    model = config.models[0]
    country = pa.array([b"US", b"\xff\xfeDE", b"DE"], type=pa.binary()).view(pa.string())
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "timestamp": ["2026-10-01T00:00:00Z"] * 3,
            "prediction": [1, 0, 1],
            "score": [0.5, 0.2, 0.9],
            "amount": [1.0, 2.0, 3.0],
            "country": country,
        }
    )
    bad = tmp_path / "a-bad.parquet"
    pq.write_table(table, bad)
    good = tmp_path / "b-good.csv"
    good.write_bytes(b"".join(csv_lines(rows(5))))
    settled(good)

    counts = ingest_paths(store, model, "predictions", [str(bad), str(good)], now=NOW)

    assert stored_ids(store) == {"a", "c"} | {f"r{i}" for i in range(5)}
    assert counts.quarantined == 1 and counts.files == 2
    (reason,) = quarantined(store).values()
    assert "country" in reason and "unicode" in reason
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ingested_files)).scalar_one() == 2


def test_any_error_reading_a_file_quarantines_it_with_the_reason_and_goes_on(
    store, config, tmp_path, monkeypatch
):
    model = config.models[0]
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    rows(10, prefix="a").to_parquet(first)
    rows(10, prefix="b").to_parquet(second)
    real = pq.ParquetFile

    def flaky(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(path).endswith("a.parquet"):
            raise MemoryError("cannot allocate a 9 GB buffer")
        return real(path, *args, **kwargs)

    monkeypatch.setattr("monitor.ingest.files.pq.ParquetFile", flaky)
    counts = ingest_paths(store, model, "predictions", [str(first), str(second)], now=NOW)

    assert stored_ids(store) == {f"b{i}" for i in range(10)}
    assert counts.bad_files == 1
    (reason,) = quarantined(store).values()
    assert "a.parquet" in reason and "MemoryError: cannot allocate a 9 GB buffer" in reason


def test_a_row_the_validator_fails_on_is_quarantined_alone(store, config, tmp_path, monkeypatch):
    from monitor.ingest import batch

    real = batch.validate_batch

    def fragile(frame, *args, **kwargs):  # type: ignore[no-untyped-def]
        if (frame["id"] == "r3").any():
            raise OverflowError("the validator met a value it cannot handle")
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(batch, "validate_batch", fragile)
    path = tmp_path / "x.parquet"
    rows(8).to_parquet(path)
    counts = ingest_file(store, config.models[0], "predictions", str(path), now=NOW)
    assert (counts.stored, counts.quarantined) == (7, 1)
    assert stored_ids(store) == {f"r{i}" for i in range(8)} - {"r3"}
    assert list(quarantined(store).values()) == [
        "could not be validated: OverflowError: the validator met a value it cannot handle"
    ]


# -- item 3: one bad line never discards the file ----------------------------------------


def test_bad_csv_lines_are_quarantined_by_line_and_the_rest_is_stored(store, config, tmp_path):
    lines = csv_lines(rows(1000))
    lines[101] = lines[101].rstrip(b"\n") + b",extra,fields\n"  # line 102: too many fields
    lines[201] = lines[201].replace(b"US", b"U\xffS").replace(b"DE", b"D\xffE")  # line 202: bad UTF-8
    lines[301] = b'r300,"2026-10-01T05:00:00+00:00,1,0.5,0.5,US\n'  # line 302: a quote never closed
    path = tmp_path / "events.csv"
    path.write_bytes(b"".join(lines))
    counts = ingest_file(store, config.models[0], "predictions", str(settled(path)), now=NOW, chunk_rows=250)

    assert (counts.stored, counts.quarantined) == (997, 3)
    assert stored_ids(store) == {f"r{i}" for i in range(1000)} - {"r100", "r200", "r300"}
    reasons = quarantined(store)
    assert set(reasons) == {"line 102", "line 202", "line 302"}
    assert "Expected 6 fields" in reasons["line 102"] or "more fields" in reasons["line 102"]
    assert "not valid UTF-8" in reasons["line 202"]
    assert "never closed" in reasons["line 302"]


def test_a_gzipped_csv_is_read_line_by_line_too(store, config, tmp_path):
    lines = csv_lines(rows(300))
    lines[11] = lines[11].rstrip(b"\n") + b",extra\n"  # line 12: too many fields
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress(b"".join(lines)))
    counts = ingest_file(store, config.models[0], "predictions", str(settled(path)), now=NOW)

    assert (counts.stored, counts.quarantined, counts.bad_files) == (299, 1, 0)
    assert set(quarantined(store)) == {"line 12"}


def test_bad_jsonl_lines_are_quarantined_by_line(store, config, tmp_path):
    records = rows(50).to_dict("records")
    lines = [json.dumps(r).encode() + b"\n" for r in records]
    lines[9] = b'{"id": "r9", "timestamp": \n'
    lines[19] = b"[1, 2, 3]\n"
    lines[29] = lines[29].replace(b'"US"', b'"U\xffS"').replace(b'"DE"', b'"D\xffE"')
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))
    counts = ingest_file(store, config.models[0], "predictions", str(settled(path)), now=NOW)
    assert (counts.stored, counts.quarantined) == (47, 3)
    reasons = quarantined(store)
    assert set(reasons) == {"line 10", "line 20", "line 30"}
    # The location is the file's line; the reason does not repeat it nor quote the parser's "line 2".
    assert reasons["line 10"] == "not valid JSON: Expecting value at the end of the line"
    assert "not a JSON object" in reasons["line 20"]
    assert "UTF-8" in reasons["line 30"]


def test_a_quoted_value_may_span_lines(store, config, tmp_path):
    config_model = config.models[0]
    path = tmp_path / "multi.csv"
    path.write_bytes(
        b"id,timestamp,prediction,score,amount,country\n"
        b'm1,2026-10-01T00:00:00Z,1,0.5,1.0,"U\nS"\n'
        b"m2,2026-10-01T00:01:00Z,0,0.4,2.0,DE\n"
    )
    counts = ingest_file(store, config_model, "predictions", str(settled(path)), now=NOW)
    assert counts.stored == 2 and quarantined(store) == {}


# -- item 4: growing files --------------------------------------------------------------


def test_a_growing_file_is_read_up_to_its_last_newline_and_then_on_from_there(store, config, tmp_path):
    model = config.models[0]
    lines = csv_lines(rows(15))
    path = tmp_path / "growing.csv"
    path.write_bytes(b"".join(lines[:11]) + lines[11][:7])  # header, 10 rows and half of the 11th
    first = ingest_file(store, model, "predictions", str(path), now=NOW)
    assert (first.stored, first.quarantined) == (10, 0)
    assert any("no newline yet" in w and "has not changed for 1m" in w for w in first.warnings)

    with path.open("ab") as fh:
        fh.write(lines[11][7:] + b"".join(lines[12:]))
    second = ingest_file(store, model, "predictions", str(path), now=NOW)
    assert (second.rows, second.stored, second.duplicates, second.quarantined) == (5, 5, 0, 0)
    assert stored_ids(store) == {f"r{i}" for i in range(15)}
    assert ingest_file(store, model, "predictions", str(path), now=NOW).skipped_files == 1


def test_a_last_line_without_newline_is_read_once_the_file_has_settled(store, config, tmp_path):
    model = config.models[0]
    path = tmp_path / "no-newline.csv"
    path.write_bytes(b"".join(csv_lines(rows(3))).rstrip(b"\n"))
    assert ingest_file(store, model, "predictions", str(path), now=NOW).stored == 2
    settled(path)
    counts = ingest_file(store, model, "predictions", str(path), now=NOW)
    assert (counts.stored, counts.duplicates) == (1, 0)


def test_a_rewritten_file_is_read_from_the_start(store, config, tmp_path):
    model = config.models[0]
    path = tmp_path / "rewritten.csv"
    path.write_bytes(b"".join(csv_lines(rows(5))))
    ingest_file(store, model, "predictions", str(settled(path)), now=NOW)
    path.write_bytes(b"".join(csv_lines(rows(8, prefix="n"))))
    counts = ingest_file(store, model, "predictions", str(settled(path)), now=NOW)
    assert counts.stored == 8


# -- item 6: bounded memory -------------------------------------------------------------


def test_undeclared_keys_are_dropped_before_a_frame_is_built(store, config, tmp_path):
    model = config.models[0]
    base = rows(1500).to_dict("records")
    path = tmp_path / "wide.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i, record in enumerate(base):
            extra = {f"k{i}_{j}": j for j in range(10)}  # 15,000 distinct keys in all
            fh.write(json.dumps({**record, **extra}) + "\n")
    settled(path)
    tracemalloc.start()
    counts = ingest_file(store, model, "predictions", str(path), now=NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert counts.stored == 1500
    assert peak < 40_000_000, f"peak {peak:,} bytes"
    frame = records_frame([{"id": "x", "junk": 1}], declared_columns(model))
    assert list(frame.columns) == ["id"]


def test_an_overlong_line_is_quarantined_with_its_length_without_being_held(store, config, tmp_path):
    model = config.models[0]
    lines = csv_lines(rows(6))
    lines[3] = b"r2,2026-10-01T00:02:00Z,1,0.5,0.5," + b"x" * (3 * MAX_LINE_BYTES) + b"\n"
    path = tmp_path / "long.csv"
    path.write_bytes(b"".join(lines))
    counts = ingest_file(store, model, "predictions", str(settled(path)), now=NOW)
    assert (counts.stored, counts.quarantined) == (5, 1)
    assert quarantined(store) == {
        "line 4": f"line longer than {MAX_LINE_BYTES:,} bytes ({len(lines[3]):,} bytes)"
    }


# -- item 7: values and the SQLite store ------------------------------------------------------


def test_a_nul_inside_a_csv_value_is_quarantined_not_cut_short(store, config, tmp_path):
    lines = csv_lines(rows(4))
    lines[2] = lines[2].replace(b"US", b"U\x00S").replace(b"DE", b"D\x00E")
    path = tmp_path / "nul.csv"
    path.write_bytes(b"".join(lines))
    counts = ingest_file(store, config.models[0], "predictions", str(settled(path)), now=NOW)
    assert (counts.stored, counts.quarantined) == (3, 1)
    assert quarantined(store) == {"line 3": "NUL byte in line"}
    with store.engine.connect() as conn:
        countries = set(conn.execute(select(store.events("fraud").c.f_country)).scalars())
    assert countries <= {"US", "DE"}


def test_sqlite_durability_is_configurable(tmp_path):
    from monitor.store import open_store
    from tests.conftest import make_config

    config = make_config(f"sqlite:///{tmp_path / 'full.db'}", tmp_path, store={"sqlite_synchronous": "FULL"})
    store = open_store(config)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    finally:
        store.dispose()


def test_a_second_writer_on_sqlite_waits_then_says_why(tmp_path):
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "dw.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[store]
url = "sqlite:///{db}"
busy_timeout = "1s"
[[models]]
name = "fraud"
[models.features]
numeric = ["amount"]
categorical = ["country"]
""",
        encoding="utf-8",
    )
    data = tmp_path / "events.csv"
    data.write_bytes(b"".join(csv_lines(rows(5))))
    settled(data)
    cli = [sys.executable, "-m", "monitor", "--config", str(config), "ingest", str(data)]
    assert (
        subprocess.run([*cli[:-2], "retention", "--dry-run"], capture_output=True, timeout=120).returncode
        == 0
    )
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        started = time.monotonic()
        done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1
    assert f"the SQLite store {db} is locked by another process writing to it (waited 1s" in done.stderr
    assert "database is locked" not in done.stderr
    assert waited >= 1.0
