"""Daemon footprint: start-up, idle cost, one full cycle, and memory over many cycles (SQLite).

    .venv/bin/python bench/daemon.py                       # everything, default sizes
    .venv/bin/python bench/daemon.py --only startup        # start to /readyz 200, RSS, idle CPU
    .venv/bin/python bench/daemon.py --only cycle --models 10 --rows 100000
    .venv/bin/python bench/daemon.py --only cycle --profile /tmp/cycle.prof   # cProfile of the cycle
    .venv/bin/python bench/daemon.py --only cycle --workers 2   # jobs in a pool, as the scheduler runs them
    .venv/bin/python bench/daemon.py --only cycle --workers 0   # as many as [daemon] check_workers (the CPUs)
    .venv/bin/python bench/daemon.py --only soak --cycles 100

- ``startup``: ``python -m monitor --config ... run`` as a subprocess with ``--models``
  models (no data); time until ``/readyz`` answers 200, its RSS then (before any job has
  imported the check stack) and after the start-up jobs, and its CPU use over ``--idle``
  seconds of idling.
- ``cycle``: ``--models`` models with a fixed one-day reference and one due one-day window
  of ``--rows`` rows each (so 2 x rows per model), every check enabled; the time of one check
  job per model (what the scheduler runs) and of the whole cycle. By default the jobs run one
  after another; ``--workers N`` runs them in a pool of N threads, as the daemon's scheduler
  does (its check jobs run in a pool of ``[daemon] check_workers`` threads, by default the
  CPUs it may use; ``--workers 0`` takes that number).
  The CPU figure is this process's; the helper process that reads large SQLite windows
  (``monitor/store/columnar.py``) has a line of its own.
- ``soak``: one model with hourly windows of ``--soak-rows`` rows; ``--cycles`` check jobs,
  the injected clock one window further each time; RSS every tenth cycle.

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

START = datetime(2026, 10, 1, tzinfo=UTC)


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def model_toml(name: str, *, window: str = "1d", reference: str = "", light: bool = False) -> str:
    text = f"""
[[models]]
name = "{name}"
window = "{window}"
schedule = "5 0 * * *"
segments = ["country"]
[models.features]
numeric = ["amount", "age"]
categorical = ["country"]
"""
    if reference:
        text += f"[models.reference]\n{reference}\n"
    text += "[models.performance]\nn_resamples = 200\n"
    return text


def write_config(directory: Path, models: str, **daemon: str) -> Path:
    path = directory / "config.toml"
    extra = "".join(f'{k} = "{v}"\n' for k, v in daemon.items())
    path.write_text(
        f'[store]\nurl = "sqlite:///{directory / "dw.db"}"\n[reports]\ndir = "{directory / "reports"}"\n'
        f"[server]\nport = 0\n[daemon]\n{extra}" + models,
        encoding="utf-8",
    )
    return path


def traffic(start: datetime, span: timedelta, n: int, *, seed: int, prefix: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 0.5, n)
    age = rng.integers(18, 80, n).astype(float)
    country = rng.choice(["US", "DE", "FR", "BR"], n, p=[0.4, 0.3, 0.2, 0.1])
    p = 1 / (1 + np.exp(-(-2.0 + 0.04 * (amount - 20) + 0.02 * (age - 45))))
    offsets = np.sort(rng.integers(0, int(span.total_seconds()), n))
    return pd.DataFrame(
        {
            "id": [f"{prefix}-{i}" for i in range(n)],
            "timestamp": pd.to_datetime(start) + pd.to_timedelta(offsets, unit="s"),
            "prediction": (p >= 0.5).astype(int),
            "score": p,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": amount,
            "age": age,
            "country": country,
            "label": (rng.random(n) < p).astype(int),
        }
    )


def ingest(store, model, frame: pd.DataFrame, now: datetime) -> None:  # type: ignore[no-untyped-def]
    from monitor.ingest import ingest_frame

    ingest_frame(store, model, "predictions", frame.drop(columns=["label"]), source="bench", now=now)
    ingest_frame(store, model, "outcomes", frame[["id", "timestamp", "label"]], source="bench", now=now)


# -- start-up -------------------------------------------------------------------------------


def bench_startup(models: int, idle: float) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(
            Path(tmp), "".join(model_toml(f"m{i}") for i in range(models)), log_level="WARNING"
        )
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(path), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            port = _port(proc.pid)
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    time.sleep(0.02)
            ready = time.perf_counter() - started
            rss_ready = rss_mb(proc.pid)
            time.sleep(5)  # the start-up check jobs (nothing to check) import the check stack
            rss_jobs = rss_mb(proc.pid)
            cpu0 = cpu_seconds(proc.pid)
            time.sleep(idle)
            cpu_idle = (cpu_seconds(proc.pid) - cpu0) / idle
            rss_idle = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    return [
        ("models", str(models)),
        ("start to /readyz 200", f"{ready:.2f} s"),
        ("RSS when ready", f"{rss_ready:.0f} MB"),
        ("RSS after the start-up jobs", f"{rss_jobs:.0f} MB"),
        (f"idle CPU (over {idle:.0f} s)", f"{100 * cpu_idle:.2f} % of one core"),
        ("RSS idle", f"{rss_idle:.0f} MB"),
        ("exit code after SIGTERM", str(proc.returncode)),
    ]


def _port(pid: int) -> int:
    """The daemon's listening port (it binds port 0), from /proc/net/tcp and its sockets."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        inodes = set()
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except FileNotFoundError:
            raise RuntimeError("the daemon exited") from None
        for fd in fds:
            try:
                target = os.readlink(fd)
            except FileNotFoundError:  # closed since the listing
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:
                return int(parts[1].split(":")[1], 16)
        time.sleep(0.01)
    raise RuntimeError("the daemon never listened")


# -- one cycle --------------------------------------------------------------------------------


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_helper() -> float:
    """CPU time of the process that reads large SQLite windows (monitor.store.columnar), if running."""
    from monitor.store.columnar import helper_pid

    pid = helper_pid()
    return cpu_seconds(pid) if pid is not None else 0.0


def bench_cycle(
    models: int, rows: int, profile: str | None = None, workers: int = 1
) -> list[tuple[str, str]]:
    from monitor.config import load_config
    from monitor.service.daemon import Daemon

    reference = "start = 2026-10-01T00:00:00Z\nend = 2026-10-02T00:00:00Z"
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(
            Path(tmp), "".join(model_toml(f"m{i}", reference=reference) for i in range(models))
        )
        config = load_config(path)
        workers = workers or config.daemon.check_workers
        now = START + timedelta(days=2, minutes=5)
        daemon = Daemon(config, clock=lambda: now, serve=False)
        store = daemon.store()
        t0 = time.perf_counter()
        for i, model in enumerate(config.models):
            for day in range(2):
                frame = traffic(
                    START + timedelta(days=day), timedelta(days=1), rows, seed=100 * i + day, prefix=f"{day}"
                )
                ingest(store, model, frame, now)
        load = time.perf_counter() - t0
        profiler = cProfile.Profile() if profile else None
        load_start = os.getloadavg()[0]
        cpu0, helper0, t0 = _cpu_self(), _cpu_helper(), time.perf_counter()
        if profiler:
            profiler.enable()

        def job(name: str) -> float:
            t = time.perf_counter()
            done = daemon.check_job(name)
            assert done is not None and len(done) == 2, done  # the reference day and the current day
            return time.perf_counter() - t

        names = [model.name for model in config.models]
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                times = list(pool.map(job, names))
        else:  # in this thread, where the profiler sees the jobs
            times = [job(name) for name in names]
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        total, cpu, helper = time.perf_counter() - t0, _cpu_self() - cpu0, _cpu_helper() - helper0
        load_end = os.getloadavg()[0]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        daemon.shutdown(timedelta(seconds=5))
    how = f"{workers} jobs at a time" if workers > 1 else "one model after another"
    return [
        ("models x rows per window", f"{models} x {rows:,}"),
        ("ingest (not part of the cycle)", f"{load:.1f} s"),
        (f"full cycle, {how}", f"{total:.1f} s"),
        ("full cycle, CPU (user + system)", f"{cpu:.1f} s"),
        ("CPU of the window-read helper process", f"{helper:.1f} s"),
        ("load average (1 min) at start / end", f"{load_start:.2f} / {load_end:.2f}"),
        ("first model (includes importing the check stack)", f"{times[0]:.1f} s"),
        ("per model after the first, median", f"{float(np.median(times[1:] or times)):.1f} s"),
        ("peak RSS", f"{peak:.0f} MB"),
    ]


# -- soak -------------------------------------------------------------------------------------


def bench_soak(cycles: int, rows: int) -> list[tuple[str, str]]:
    from monitor.config import load_config
    from monitor.service.daemon import Daemon

    reference = 'trailing = "1d"'
    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(Path(tmp), model_toml("soak", window="1h", reference=reference))
        config = load_config(path)
        clock = [START + timedelta(days=1, minutes=5)]
        daemon = Daemon(config, clock=lambda: clock[0], serve=False)
        store = daemon.store()
        hours = 24 + cycles
        frame = traffic(START, timedelta(hours=hours), rows * hours, seed=7, prefix="s")
        ingest(store, config.models[0], frame, clock[0] + timedelta(hours=cycles))
        daemon.config = config.model_copy(
            update={"daemon": config.daemon.model_copy(update={"max_catchup_windows": 1})}
        )
        samples = []
        t0 = time.perf_counter()
        for i in range(1, cycles + 1):
            clock[0] += timedelta(hours=1)
            done = daemon.check_job("soak")
            assert done is not None and len(done) == 1
            if i == 1 or i % 10 == 0:
                samples.append((i, rss_mb()))
        elapsed = time.perf_counter() - t0
        daemon.shutdown(timedelta(seconds=5))
    rows_out = [
        ("cycles x rows per window", f"{cycles} x {rows:,}"),
        ("time per cycle", f"{elapsed / cycles:.2f} s"),
    ]
    rows_out += [(f"RSS after cycle {i}", f"{mb:.0f} MB") for i, mb in samples]
    return rows_out


def table(title: str, rows: list[tuple[str, str]]) -> str:
    return "\n".join(
        [f"### {title}", "", "| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["startup", "cycle", "soak"], action="append")
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--soak-rows", type=int, default=2_000)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--profile", metavar="PATH", help="cProfile the cycle into PATH")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="check jobs at a time in the cycle (0: the daemon's check_workers)",
    )
    args = parser.parse_args()
    parts = args.only or ["startup", "cycle", "soak"]
    results = {}
    # The console receiver prints every alert the benchmark's data raises: keep the tables readable.
    with contextlib.redirect_stdout(io.StringIO()):
        if "startup" in parts:
            results["startup"] = bench_startup(args.models, args.idle)
        if "cycle" in parts:
            results["cycle"] = bench_cycle(args.models, args.rows, args.profile, args.workers)
        if "soak" in parts:
            results["soak"] = bench_soak(args.cycles, args.soak_rows)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, rows in results.items():
        print(table(name, rows))


if __name__ == "__main__":
    main()
