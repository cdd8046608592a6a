"""Kill -9 a real ``driftwatch`` child at seeded random points, restart, and check nothing was lost.

Three scenarios, each against the store URL it is given (SQLite file or PostgreSQL schema):

- :func:`ingest_kills`: ``driftwatch ingest`` over CSV files (one transaction per file, with
  cross-file duplicate ids and bad rows) is killed after a random number of committed files plus
  a random delay; the invariant after the final run: stored rows = distinct valid ids of the
  input, values read back equal the input, every bad row quarantined once, every file recorded.
- :func:`backfill_kills`: ``driftwatch backfill`` killed after a random number of finished
  windows; after restarts every window has exactly one run, ``done``, with its report on disk,
  and no notification was queued twice.
- :func:`dispatch_kills`: ``driftwatch alerts dispatch`` against the fake Slack, killed after a
  random number of delivered messages; after restarts every notification reached Slack, and
  duplicates are counted (possible only in the send/mark window: at most one per kill).

Kill points are chosen by a seeded :class:`random.Random` from progress observed in the store
(or in the fake Slack), so a kill always lands while the child is working. The final, uninterrupted
run happens in-process through :func:`monitor.cli.main` (no second interpreter start-up).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from alerts.notification import AlertView, Notification
from monitor.cli import main as cli_main
from monitor.config import load_config
from monitor.ingest import ingest_frame
from monitor.store import open_store
from monitor.store.alerts import alert_outbox
from monitor.store.schema import ingested_files, quarantine, runs
from monitor.windows import window_ends
from tests.conftest import LATENCY_ONLY_TABLES
from tests.fake_slack import Answer, FakeSlack

SLACK_TOKEN = "xoxb-kill-tests"
START = datetime(2026, 10, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MARK = re.compile(r"KILLMARK-(\d{5})")


@dataclass
class KillStats:
    """What one scenario did: kills that landed, child runs, and duplicates seen."""

    scenario: str
    kills: int = 0
    child_runs: int = 0
    duplicates: int = 0
    items: int = 0


def write_config(tmp_path: Path, url: str, slack_api_url: str = "http://127.0.0.1:9/api/") -> Path:
    """A config with one light binary model whose latency SLO every window breaks, and a Slack receiver."""
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "{url}"
[reports]
dir = "{tmp_path / "reports"}"
[alerts]
max_notify_age = "3650d"  # the history replayed here still pages (with backfill --notify)
[alerts.route]
receivers = ["slack"]
group_by = ["model", "check"]
group_interval = "0s"
[alerts.delivery]
lease = "1s"
initial_backoff = "1s"
max_backoff = "2s"
[[alerts.receivers]]
name = "slack"
type = "slack"
channel = "#alerts"
token_env = "DW_KILL_SLACK_TOKEN"
base_url = "{slack_api_url}"
timeout = "5s"

[[models]]
name = "fraud"
window = "1d"
{LATENCY_ONLY_TABLES}
""",
        encoding="utf-8",
    )
    return path


def traffic(day: int, n: int, *, prefix: str = "d") -> pd.DataFrame:
    """One day of a binary model's predictions (seeded by ``day``)."""
    rng = np.random.default_rng(day)
    amount = rng.lognormal(3.0, 0.5, n)
    score = 1 / (1 + np.exp(-(-2.0 + 0.04 * (amount - 20))))
    seconds = np.sort(rng.integers(0, 86_400, n))
    return pd.DataFrame(
        {
            "id": [f"{prefix}{day}-{i}" for i in range(n)],
            "timestamp": [(START + timedelta(days=day, seconds=int(s))).isoformat() for s in seconds],
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": amount,
            "age": rng.integers(18, 80, n).astype(float),
            "country": rng.choice(["US", "DE", "FR"], n),
        }
    )


def _env() -> dict[str, str]:
    return {**os.environ, "DW_KILL_SLACK_TOKEN": SLACK_TOKEN, "PYTHONUNBUFFERED": "1"}


def _spawn(config: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "monitor", "--config", str(config), *args]
    return subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(
    child: subprocess.Popen[bytes], progressed: Callable[[], bool], delay: float, timeout: float = 120
) -> bool:
    """SIGKILL ``child`` ``delay`` s after ``progressed()``; ``False`` if it finished first."""
    deadline = time.monotonic() + timeout
    while not progressed():
        if child.poll() is not None:
            return False
        if time.monotonic() > deadline:
            child.kill()
            child.wait()
            raise AssertionError("child made no progress before the deadline")
        time.sleep(0.01)
    time.sleep(delay)
    if child.poll() is not None:
        return False
    child.send_signal(signal.SIGKILL)
    child.wait()  # reaped: its pid no longer exists, as after a crash under a supervisor
    return True


def _finished(child: subprocess.Popen[bytes]) -> None:
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err.decode(errors="replace")[-3000:]


def _count(engine: Engine, query) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _cycle(
    stats: KillStats,
    kills: int,
    spawn: Callable[[], subprocess.Popen[bytes]],
    arm: Callable[[], tuple[Callable[[], bool], float]],
    max_runs: int,
) -> None:
    """Spawn children and kill them at armed points until ``kills`` kills landed."""
    while stats.kills < kills and stats.child_runs < max_runs:
        progressed, delay = arm()
        child = spawn()
        stats.child_runs += 1
        if _kill_when(child, progressed, delay):
            stats.kills += 1
        else:
            _finished(child)
            return


# -- ingestion ----------------------------------------------------------------------------------


def _ingest_files(folder: Path, n_files: int, rows: int) -> tuple[pd.DataFrame, int, list[str]]:
    """CSV files with ids repeated across files and ~2% bad rows; the expected valid rows."""
    folder.mkdir(parents=True, exist_ok=True)
    valid: list[pd.DataFrame] = []
    bad = 0
    paths = []
    for k in range(n_files):
        frame = traffic(k, rows, prefix="i")
        if k:
            frame = pd.concat([traffic(k - 1, rows, prefix="i").tail(10), frame], ignore_index=True)
        broken = np.random.default_rng(1000 + k).random(len(frame)) < 0.02
        frame["score"] = frame["score"].astype(object)
        frame.loc[broken, "score"] = "not-a-score"
        bad += int(broken.sum())
        valid.append(frame[~broken])
        path = folder / f"part-{k:03d}.csv"
        frame.to_csv(path, index=False)
        paths.append(str(path))
    expected = pd.concat(valid).drop_duplicates("id", keep="first").set_index("id").sort_index()
    return expected, bad, paths


def ingest_kills(
    tmp_path: Path, url: str, *, kills: int, seed: int, n_files: int = 8, rows: int = 3000
) -> KillStats:
    """Kill ``driftwatch ingest`` ``kills`` times, finish it, and check the store against the input."""
    rng = random.Random(seed)
    config_path = write_config(tmp_path, url)
    config = load_config(config_path)
    store = open_store(config)
    expected, bad, paths = _ingest_files(tmp_path / "incoming", n_files, rows)
    stats = KillStats("ingest", items=len(expected) + bad)
    files_done = select(func.count()).select_from(ingested_files)

    def arm() -> tuple[Callable[[], bool], float]:
        target = min(_count(store.engine, files_done) + rng.randrange(0, 3), n_files - 1)
        return (lambda: _count(store.engine, files_done) >= target), rng.uniform(0.0, 0.4)

    try:
        _cycle(
            stats,
            kills,
            lambda: _spawn(config_path, "ingest", "--quiet", "--chunk-rows", "700", *paths),
            arm,
            max_runs=kills * 4,
        )
        assert cli_main(["--config", str(config_path), "ingest", "--quiet", *paths]) == 0
        _verify_ingest(store, expected, bad, n_files)
    finally:
        store.dispose()
    return stats


def _verify_ingest(store, expected: pd.DataFrame, bad: int, n_files: int) -> None:  # type: ignore[no-untyped-def]
    events = store.events("fraud")
    with store.engine.connect() as conn:
        stored = pd.read_sql(select(events), conn).set_index("event_id").sort_index()
        quarantined = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
        files = conn.execute(select(func.count()).select_from(ingested_files)).scalar_one()
    assert stored.index.is_unique
    assert list(stored.index) == list(expected.index), "stored ids differ from the distinct valid input ids"
    np.testing.assert_allclose(stored["f_amount"], expected["amount"], rtol=1e-12)
    np.testing.assert_allclose(stored["score"], expected["score"].astype(float), rtol=1e-12)
    assert (stored["f_country"] == expected["country"]).all()
    assert quarantined == bad
    assert files == n_files


# -- backfill -----------------------------------------------------------------------------------


def backfill_kills(tmp_path: Path, url: str, *, kills: int, seed: int, days: int = 8) -> KillStats:
    """Kill ``driftwatch backfill`` ``kills`` times, finish it, and check every window ran once."""
    rng = random.Random(seed)
    config_path = write_config(tmp_path, url)
    config = load_config(config_path)
    model = config.models[0]
    store = open_store(config)
    now = START + timedelta(days=days + 1)
    for day in range(days):
        ingest_frame(store, model, "predictions", traffic(day, 150), source="kill-test", now=now)
    end = START + days * DAY
    expected = window_ends(START, end, DAY)
    stats = KillStats("backfill", items=len(expected))
    done = select(func.count()).select_from(runs).where(runs.c.state == "done")
    args = ["backfill", "--notify", "--from", START.isoformat(), "--to", end.isoformat()]

    def arm() -> tuple[Callable[[], bool], float]:
        target = min(_count(store.engine, done) + rng.randrange(0, 2), len(expected) - 1)
        # Within about one window's check (~0.1 s here): a longer delay let the remaining windows
        # finish before the kill once the checks got faster, and the scenario ended with no kill.
        return (lambda: _count(store.engine, done) >= target), rng.uniform(0.0, 0.1)

    try:
        _cycle(stats, kills, lambda: _spawn(config_path, *args), arm, max_runs=kills * 4)
        assert cli_main(["--config", str(config_path), *args]) == 0
        with store.engine.connect() as conn:
            rows = conn.execute(select(runs.c.id, runs.c.window_end, runs.c.state, runs.c.report_path)).all()
            queued = conn.execute(select(alert_outbox.c.run_id, alert_outbox.c.group_key)).all()
    finally:
        store.dispose()
    assert sorted(r.window_end.replace(tzinfo=UTC) for r in rows) == expected
    assert {r.state for r in rows} == {"done"}
    assert all(r.report_path and Path(r.report_path).is_file() for r in rows)
    assert len(queued) == len(set(queued)) >= 1, "a notification was queued twice"
    assert {q.run_id for q in queued} <= {r.id for r in rows}
    return stats


# -- dispatch -----------------------------------------------------------------------------------


def queue_notifications(engine: Engine, count: int, *, now: datetime, receiver: str = "slack") -> None:
    """``count`` pending outbox rows, each its own group (one message each) with a marker."""
    rows = []
    for i in range(count):
        key = f"model=fraud,check=KILLMARK-{i:05d}"
        alert = AlertView(
            fingerprint=f"fp{i:05d}",
            labels={"model": "fraud", "check": "latency", "subject": f"KILLMARK-{i:05d}"},
            severity="alert",
            status="firing",
            starts_at=now.isoformat(),
            annotations={"message": f"p95 over SLO KILLMARK-{i:05d}"},
        )
        note = Notification(key, receiver, "fraud", "first_notification", (alert,))
        rows.append(
            {
                "created_at": now.replace(tzinfo=None),
                "model": "fraud",
                "run_id": None,
                "group_key": key,
                "receiver": receiver,
                "reason": "first_notification",
                "payload": note.to_payload(),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now.replace(tzinfo=None) - timedelta(minutes=1),
            }
        )
    with engine.begin() as conn:
        conn.execute(alert_outbox.insert(), rows)


def received_marks(slack: FakeSlack) -> Counter[int]:
    """How many times each marker reached Slack (a message carries one marker, in text and blocks)."""
    counts: Counter[int] = Counter()
    for message in list(slack.messages):
        counts.update({int(m) for m in MARK.findall(str(message))})
    return counts


def dispatch_kills(tmp_path: Path, url: str, *, kills: int, seed: int, count: int = 60) -> KillStats:
    """Kill ``driftwatch alerts dispatch`` ``kills`` times, finish, check each notification arrived."""
    rng = random.Random(seed)
    with FakeSlack(token=SLACK_TOKEN, channels={"#alerts"}) as slack:
        slack.script("chat.postMessage", *[Answer.slow(0.02)] * (count * 4))
        config_path = write_config(tmp_path, url, slack.api_url)
        config = load_config(config_path)
        store = open_store(config)
        queue_notifications(store.engine, count, now=datetime.now(UTC))
        stats = KillStats("dispatch", items=count)

        def arm() -> tuple[Callable[[], bool], float]:
            time.sleep(1.1)  # the killed child's lease (1s) runs out before the next one starts
            target = min(len(slack.messages) + rng.randrange(1, 12), count - 1)
            return (lambda: len(slack.messages) >= target), rng.uniform(0.0, 0.03)

        os.environ["DW_KILL_SLACK_TOKEN"] = SLACK_TOKEN
        try:
            _cycle(stats, kills, lambda: _spawn(config_path, "alerts", "dispatch"), arm, max_runs=kills * 4)
            pending = (
                select(func.count()).select_from(alert_outbox).where(alert_outbox.c.status != "delivered")
            )
            deadline = time.monotonic() + 60
            while _count(store.engine, pending) and time.monotonic() < deadline:
                time.sleep(1.1)
                cli_main(["--config", str(config_path), "alerts", "dispatch"])
            assert _count(store.engine, pending) == 0
        finally:
            os.environ.pop("DW_KILL_SLACK_TOKEN", None)
            store.dispose()
        marks = received_marks(slack)
    assert set(marks) == set(range(count)), "a notification never reached Slack"
    stats.duplicates = sum(n - 1 for n in marks.values())
    assert stats.duplicates <= stats.kills, "more duplicates than kills: not only the send/mark window"
    return stats
