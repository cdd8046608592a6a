"""The columnar read of a SQLite window (ADBC in a helper process) gives the frame the sqlite3 read gives.

Every comparison reads the same window twice, once through the helper (``MIN_ROWS`` 0) and
once with sqlite3 (``MIN_ROWS`` above the window), and checks that the helper's frame was
really used: a silent fallback would make the comparison vacuous.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import text
from sqlalchemy.exc import CompileError

from monitor.config import ModelConfig
from monitor.ingest import ingest_frame
from monitor.store import Store, columnar, copy_read, open_store, windows
from monitor.store.windows import read_window
from tests.conftest import DAY, START, make_config, model_dict

N = 60
NOW = START + 10 * DAY
CLASSES = ["a", "b", "c"]


def model(task: str, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "binary": {},
        "regression": {"score_column": None},
        "multiclass": {"classes": CLASSES},
    }[task]
    return model_dict(
        task=task,
        version_column="version",
        error_column="failed",
        features={"numeric": ["amount", "empty"], "categorical": ["city", "unseen"]},
        segments=["city"],
        **{**options, **overrides},
    )


def events(task: str, n: int = N, *, seed: int = 0, sparse: bool = True) -> pd.DataFrame:
    """A day of events; ``sparse``: the first third has no version and no error flag."""
    rng = np.random.default_rng(seed)
    micros = rng.integers(0, 1_000_000, n) * (np.arange(n) % 4 != 0)  # every fourth on a whole second
    offsets = np.sort(rng.integers(0, 86_000, n)) * 1_000_000 + micros
    first = n // 3 if sparse else 0
    frame = pd.DataFrame(
        {
            "id": [f"ev-{seed}-{i}" for i in range(n)],
            "timestamp": pd.Timestamp(START) + pd.to_timedelta(offsets, unit="us"),
            "version": [None] * first + [["v1", "v2-β"][i % 2] for i in range(n - first)],
            "failed": [None] * first + [bool(i % 3 == 0) for i in range(n - first)],
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": np.where(np.arange(n) % 7 == 3, np.nan, rng.normal(100, 10, n)),
            "empty": np.nan,
            "city": rng.choice(["Zürich", "東京", "São Paulo", "Oslo"], n),
            "unseen": None,
        }
    )
    if task == "multiclass":
        p = rng.dirichlet(np.ones(3), n)
        for k, c in enumerate(CLASSES):
            frame[f"score_{c}"] = p[:, k]
        frame["prediction"] = np.array(CLASSES)[p.argmax(axis=1)]
        frame["label"] = rng.choice(CLASSES, n)
    elif task == "regression":
        frame["prediction"] = rng.normal(5, 2, n)
        frame["label"] = frame["prediction"] + rng.normal(0, 1, n)
    else:
        frame["score"] = rng.random(n)
        frame["prediction"] = (frame["score"] >= 0.5).astype(int)
        frame["label"] = (rng.random(n) < frame["score"]).astype(int)
    return frame


def put(store: Store, model: ModelConfig, frame: pd.DataFrame, *, labelled: slice = slice(None)) -> None:
    ingest_frame(store, model, "predictions", frame.drop(columns="label"), source="test", now=NOW)
    outcomes = frame[["id", "timestamp", "label"]].iloc[labelled]
    ingest_frame(store, model, "outcomes", outcomes.assign(timestamp=NOW - DAY), source="test", now=NOW)


def whole_seconds(store: Store, model: ModelConfig) -> None:
    """Timestamps on a whole second inside the day and label times stored without microseconds."""
    whole = "SET ts = substr(ts, 1, 19) WHERE ts LIKE '%.000000'"
    inside = "ts > '2026-10-01 00:00:00.000000' AND ts < '2026-10-02 00:00:00.000000'"
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE dw_events_{model.name} {whole} AND {inside}"))
        conn.execute(text(f"UPDATE dw_outcomes_{model.name} {whole}"))


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Any]:
    stores: list[Store] = []

    def open_(url: str | None = None, **overrides: Any) -> tuple[Store, ModelConfig]:
        config = make_config(url or f"sqlite:///{tmp_path / 'dw.db'}", tmp_path, [model(**overrides)])
        store = open_store(config)
        stores.append(store)
        return store, config.models[0]

    yield open_
    for store in stores:
        store.dispose()


@pytest.fixture
def arrow_frames(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each read's Arrow columns became its frame (``False``: the driver's types did not fit)."""
    used: list[bool] = []
    convert = windows._arrow_frame

    def spy(*args: Any) -> pd.DataFrame | None:
        frame = convert(*args)
        used.append(frame is not None)
        return frame

    monkeypatch.setattr(windows, "_arrow_frame", spy)
    return used


def both(monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The window read through the helper and with sqlite3."""
    monkeypatch.setattr(columnar, "MIN_ROWS", 0)
    through_helper = read_window(*args, **kwargs)
    monkeypatch.setattr(columnar, "MIN_ROWS", 10**9)
    with_sqlite3 = read_window(*args, **kwargs)
    return through_helper, with_sqlite3


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
@pytest.mark.parametrize("labels", [True, False])
def test_the_helper_reads_the_frame_sqlite3_reads(opened, arrow_frames, monkeypatch, task, labels) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task=task)
    frame = events(task)
    frame.loc[0, "timestamp"] = pd.Timestamp(START)  # on the window's start: in it
    put(store, model, frame, labelled=slice(N // 2, None))  # the first half not labelled yet
    put(store, model, events(task, 3, seed=1).assign(timestamp=pd.Timestamp(START + DAY)))  # at the end: out
    whole_seconds(store, model)

    helper, sqlite3 = both(monkeypatch, store, model, START, START + DAY, labels=labels)

    assert arrow_frames == [True]
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)
    assert len(helper) == N and helper["event_id"].iloc[0] == "ev-0-0"
    assert helper["model_version"].iloc[: N // 3].isna().all() and "v2-β" in set(helper["model_version"])
    assert helper["error"].dtype == object and helper["error"].iloc[: N // 3].isna().all()
    assert helper["empty"].isna().all() and helper["unseen"].isna().all()
    assert {"Zürich", "東京"} <= set(helper["city"])
    assert (helper["ts"].dt.microsecond == 0).sum() >= N // 4
    if labels:
        assert helper["label"].isna().sum() == N // 2 and helper["label_ts"].isna().sum() == N // 2
    if task == "multiclass":
        assert set(helper["prediction"]) <= set(CLASSES) and isinstance(helper["prediction"].iloc[0], str)


def test_an_error_flag_without_missing_values_is_bool(opened, arrow_frames, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task="binary")
    put(store, model, events("binary", sparse=False))

    helper, sqlite3 = both(monkeypatch, store, model, START, START + DAY)

    assert arrow_frames == [True]
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)
    assert helper["error"].dtype == bool and helper["model_version"].notna().all()


def test_an_empty_window(opened, arrow_frames, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task="binary")
    put(store, model, events("binary"))

    helper, sqlite3 = both(monkeypatch, store, model, START - DAY, START)

    assert arrow_frames == [True]
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)
    assert helper.empty and str(helper["ts"].dtype) == "datetime64[ns, UTC]"


def test_a_window_of_several_batches(opened, arrow_frames, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task="multiclass")
    put(store, model, events("multiclass", sparse=False))
    monkeypatch.setattr(columnar, "BATCH_ROWS", 7)

    helper, sqlite3 = both(monkeypatch, store, model, START, START + DAY)

    assert arrow_frames == [True]
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)


def test_a_column_that_gets_values_after_the_first_batch_is_read_with_sqlite3(  # type: ignore[no-untyped-def]
    opened, arrow_frames, monkeypatch, caplog
) -> None:
    # The driver types a column by its first batch: all NULL is int64, and a later string fails.
    store, model = opened(task="binary")
    put(store, model, events("binary"))  # no version in the first third
    monkeypatch.setattr(columnar, "BATCH_ROWS", 7)

    with caplog.at_level(logging.DEBUG, logger="driftwatch.store.columnar"):
        helper, sqlite3 = both(monkeypatch, store, model, START, START + DAY)

    assert arrow_frames == []
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)
    (record,) = [r for r in caplog.records if r.name == "driftwatch.store.columnar"]
    assert record.levelno == logging.DEBUG and "Type mismatch" in record.getMessage()


def test_the_whole_window_is_one_batch(opened, arrow_frames, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task="binary")
    put(store, model, events("binary", 4000))  # no version in the first 1,333 rows: over the driver's 1,024

    helper, sqlite3 = both(monkeypatch, store, model, START, START + DAY)

    assert arrow_frames == [True]
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)


@pytest.mark.filterwarnings("ignore:Selection of the SingletonThreadPool")  # SQLAlchemy's, for the URI
@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///file:dw_columnar?mode=memory&cache=shared&uri=true"],
    ids=["memory", "uri"],
)
def test_an_in_memory_store_is_read_with_sqlite3(opened, arrow_frames, monkeypatch, url) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(url, task="binary")
    put(store, model, events("binary"))

    helper, sqlite3 = both(monkeypatch, store, model, START, START + DAY)

    assert arrow_frames == []  # no other connection could reach the database
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)
    assert len(helper) == N


def test_without_the_driver_windows_are_read_with_sqlite3(opened, arrow_frames, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task="binary")
    put(store, model, events("binary"))
    monkeypatch.setitem(sys.modules, columnar.DRIVER, None)  # what an import of a missing package sees
    monkeypatch.setattr(columnar, "_HELPER", columnar._Helper())

    with caplog.at_level(logging.DEBUG, logger="driftwatch.store.columnar"):
        helper, sqlite3 = both(monkeypatch, store, model, START, START + DAY)

    assert arrow_frames == []
    pd.testing.assert_frame_equal(helper, sqlite3, check_exact=True)
    assert "adbc_driver_sqlite is not installed" in caplog.text


@pytest.fixture
def own_helper(monkeypatch: pytest.MonkeyPatch) -> Iterator[columnar._Helper]:
    """A helper process of the test's own, used for every window (``MIN_ROWS`` 0), closed after."""
    helper = columnar._Helper()
    monkeypatch.setattr(columnar, "_HELPER", helper)
    monkeypatch.setattr(columnar, "MIN_ROWS", 0)
    yield helper
    helper.close()


def test_a_helper_that_died_is_replaced(opened, arrow_frames, own_helper, caplog) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task="binary")
    put(store, model, events("binary"))
    helper = own_helper
    first = read_window(store, model, START, START + DAY)
    assert helper._proc is not None
    os.kill(helper._proc.pid, signal.SIGKILL)
    helper._proc.wait()

    with caplog.at_level(logging.DEBUG, logger="driftwatch.store.columnar"):
        after_death = read_window(store, model, START, START + DAY)
        again = read_window(store, model, START, START + DAY)

    assert arrow_frames == [True, True]  # the first read and the one after the restart
    assert "the helper process died" in caplog.text
    pd.testing.assert_frame_equal(after_death, first, check_exact=True)
    pd.testing.assert_frame_equal(again, first, check_exact=True)


def test_a_helper_that_stops_answering_is_ended_and_the_window_read_with_sqlite3(  # type: ignore[no-untyped-def]
    opened, arrow_frames, own_helper, monkeypatch, caplog
) -> None:
    store, model = opened(task="binary")
    put(store, model, events("binary"))
    first = read_window(store, model, START, START + DAY)
    stuck = own_helper._proc
    assert stuck is not None
    os.kill(stuck.pid, signal.SIGSTOP)  # alive, never answering
    monkeypatch.setattr(columnar, "REPLY_TIMEOUT", 0.5)
    try:
        with caplog.at_level(logging.DEBUG, logger="driftwatch.store.columnar"):
            read = read_window(store, model, START, START + DAY)
    finally:
        with contextlib.suppress(ProcessLookupError):  # already ended
            os.kill(stuck.pid, signal.SIGCONT)
    assert stuck.poll() is not None and own_helper._proc is None  # ended, not waited for forever
    assert "did not answer within 0.5 s" in caplog.text
    assert arrow_frames == [True]  # the second read was sqlite3's
    pd.testing.assert_frame_equal(read, first, check_exact=True)


def test_commits_after_a_helper_read_reach_other_processes(opened, arrow_frames, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Why the driver runs in another process. Run in this one (even read-only), its own copy of
    # SQLite dropped the store's POSIX locks on the file when it closed its connection; the next
    # process that opened and closed the store took itself for the last connection and deleted
    # the WAL, and the store's next commit never reached another process.
    store, model = opened(task="binary")
    put(store, model, events("binary"))
    monkeypatch.setattr(columnar, "MIN_ROWS", 0)
    database = str(store.engine.url.database)
    count = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])"

    def rows_seen_by_another_process() -> int:
        query = f"SELECT count(*) FROM dw_events_{model.name}"
        command = [sys.executable, "-c", count, database, query]
        return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)

    with store.engine.connect():  # the store keeps a connection open, as the daemon does
        assert len(read_window(store, model, START, START + DAY)) == N
        assert arrow_frames == [True]
        assert rows_seen_by_another_process() == N
        put(store, model, events("binary", seed=1))
        assert rows_seen_by_another_process() == 2 * N
        assert Path(f"{database}-wal").exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_through_its_own_helper(opened, own_helper) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(task="binary")
    put(store, model, events("binary"))
    helper = own_helper
    expected = read_window(store, model, START, START + DAY)
    parents = helper._proc
    assert parents is not None

    pid = os.fork()
    if pid == 0:  # the child: the parent's helper is not its own
        ok = False
        try:
            store.engine.dispose(close=False)  # nor are the parent's pooled connections
            frame = read_window(store, model, START, START + DAY)
            ok = helper._proc is not None and helper._proc is not parents and frame.equals(expected)
            helper.close()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert helper._proc is parents and parents.poll() is None
    pd.testing.assert_frame_equal(read_window(store, model, START, START + DAY), expected, check_exact=True)


# -- PostgreSQL: COPY ... TO STDOUT parsed by pyarrow -----------------------------------------


def copy_and_fetch(monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any) -> tuple[pd.DataFrame, ...]:
    """The window read through ``COPY`` and with psycopg's rows."""
    through_copy = read_window(*args, **kwargs)
    with monkeypatch.context() as patched:
        patched.setattr(windows, "read_copy", lambda *_: None)
        with_rows = read_window(*args, **kwargs)
    return through_copy, with_rows


@pytest.mark.postgres
@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_postgresql_copy_reads_the_frame_psycopg_reads(
    opened, arrow_frames, monkeypatch, pg_url, task
) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(pg_url, task=task)
    frame = events(task)
    # text that CSV must quote: separators, quotes, a line break; and an empty string, which
    # ingestion stores as missing, written by hand (CSV keeps it apart from NULL)
    frame.loc[1:3, "city"] = ["a,b", 'say "hi"', "two\nlines"]
    frame.loc[0, "timestamp"] = pd.Timestamp(START)
    put(store, model, frame, labelled=slice(N // 2, None))
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE dw_events_{model.name} SET f_city = '' WHERE event_id = 'ev-0-4'"))

    copied, fetched = copy_and_fetch(monkeypatch, store, model, START, START + DAY)

    assert arrow_frames == [True]
    pd.testing.assert_frame_equal(copied, fetched, check_exact=True)
    assert list(copied["city"].iloc[1:5]) == ["a,b", 'say "hi"', "two\nlines", ""]
    assert copied["model_version"].iloc[: N // 3].isna().all() and copied["error"].dtype == object
    assert copied["label"].isna().sum() == N // 2 and (copied["ts"].dt.microsecond == 0).sum() >= N // 4


@pytest.mark.postgres
def test_postgresql_copy_of_a_hash_sample_and_of_an_empty_window(
    opened, arrow_frames, monkeypatch, pg_url
) -> None:  # type: ignore[no-untyped-def]
    store, model = opened(pg_url, task="binary")
    put(store, model, events("binary", 400, sparse=False))

    copied, fetched = copy_and_fetch(monkeypatch, store, model, START, START + DAY, fraction=0.3)
    empty_copied, empty_fetched = copy_and_fetch(monkeypatch, store, model, START - DAY, START)

    assert arrow_frames == [True, True]
    pd.testing.assert_frame_equal(copied, fetched, check_exact=True)
    assert 60 < len(copied) < 180 and copied["error"].dtype == bool
    pd.testing.assert_frame_equal(empty_copied, empty_fetched, check_exact=True)
    assert empty_copied.empty


def test_features_named_like_sql_keywords_are_read(store_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``nothing`` is a keyword of SQLite (``DO NOTHING``) that SQLAlchemy would leave unquoted."""
    features = {"numeric": ["nothing", "order"], "categorical": ["select", "Group"]}
    config = make_config(store_url, tmp_path, [model_dict(features=features, segments=[])])
    store, model = open_store(config), config.models[0]
    n = 30
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "id": [f"k{i}" for i in range(n)],
            "timestamp": pd.Timestamp(START) + pd.to_timedelta(np.arange(n), unit="min"),
            "score": rng.random(n),
            "prediction": 0,
            "nothing": rng.normal(size=n),
            "order": rng.normal(size=n),
            "select": rng.choice(["a", "b"], n),
            "Group": rng.choice(["x", "y"], n),
        }
    )
    ingest_frame(store, model, "predictions", frame, source="test", now=NOW)
    monkeypatch.setattr(columnar, "MIN_ROWS", 0)  # SQLite: through the helper too
    try:
        read = read_window(store, model, START, START + DAY)
    finally:
        store.dispose()
    assert list(read.columns[-6:-2]) == ["nothing", "order", "select", "Group"]
    np.testing.assert_array_equal(read["nothing"].to_numpy(), frame["nothing"].to_numpy())
    assert list(read["Group"]) == list(frame["Group"])


def test_a_query_that_cannot_be_written_inline_is_read_by_the_driver(  # type: ignore[no-untyped-def]
    store_url, tmp_path, monkeypatch, arrow_frames
) -> None:
    """Both columnar reads send SQL with its values inline; a value with no literal form falls back."""
    config = make_config(store_url, tmp_path, [model(task="binary")])
    store, model_ = open_store(config), config.models[0]
    put(store, model_, events("binary"))
    monkeypatch.setattr(columnar, "MIN_ROWS", 0)
    expected = read_window(store, model_, START, START + DAY)

    def no_literal(*args: Any) -> str:
        raise CompileError("No literal value renderer is available")

    monkeypatch.setattr(columnar, "inline_sql", no_literal)
    monkeypatch.setattr(copy_read, "inline_sql", no_literal)
    try:
        read = read_window(store, model_, START, START + DAY)
    finally:
        store.dispose()
    assert arrow_frames == [True]  # the first read only
    pd.testing.assert_frame_equal(read, expected, check_exact=True)


@pytest.mark.postgres
def test_postgresql_csv_that_pyarrow_refuses_is_read_from_psycopgs_rows(  # type: ignore[no-untyped-def]
    opened, arrow_frames, monkeypatch, pg_url
) -> None:
    store, model = opened(pg_url, task="binary")
    put(store, model, events("binary"))
    expected = read_window(store, model, START, START + DAY)

    def refuse(*args: Any) -> Any:
        raise pa.ArrowInvalid("CSV conversion error to double: invalid value 'x'")

    monkeypatch.setattr(copy_read, "_parse", refuse)
    read = read_window(store, model, START, START + DAY)

    assert arrow_frames == [True]  # the first read only
    pd.testing.assert_frame_equal(read, expected, check_exact=True)
