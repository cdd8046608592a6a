"""Dependencies run one way: the import-linter contracts of pyproject.toml hold, and break on a
back-edge. Each case lints a copy of the three packages, so the tree itself is never edited."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_copy(tmp_path: Path, edits: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` on a copy of checks/, alerts/ and monitor/ with ``edits`` appended."""
    for package in ("checks", "alerts", "monitor"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for relpath, line in edits.items():
        with (tmp_path / relpath).open("a", encoding="utf-8") as f:
            f.write(f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    done = lint_copy(tmp_path, {})
    assert done.returncode == 0, done.stdout
    assert "Contracts: 6 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(
    ("relpath", "line", "broken", "edge"),
    [
        (
            "checks/result.py",
            "import monitor.config  # noqa",
            "checks imports nothing of monitor or alerts",
            "checks.result -> monitor.config",
        ),
        (
            "alerts/render.py",
            "from checks.drift import METHODS  # noqa",
            "alerts imports nothing of monitor, and of checks only",
            "alerts.render -> checks.drift",
        ),
        (
            "monitor/service/server.py",
            "from monitor.service.daemon import Daemon  # noqa",
            "the daemon wires its jobs",
            "monitor.service.server -> monitor.service.daemon",
        ),
        (
            "monitor/service/connection.py",
            "from monitor.service.readiness import Readiness  # noqa",
            "the daemon wires its jobs",
            "monitor.service.connection -> monitor.service.readiness",
        ),
        (
            "monitor/service/jobs.py",
            "from monitor.service.readiness import Readiness  # noqa",
            "the daemon wires its jobs",
            "monitor.service.jobs -> monitor.service.readiness",
        ),
        (
            "monitor/store/engine.py",
            "from monitor.pipeline.runner import Runner  # noqa",
            "monitor: the CLI on top",
            "monitor.store.engine -> monitor.pipeline.runner",
        ),
        (
            "monitor/pipeline/check_suite.py",
            "from monitor.pipeline.runner import Runner  # noqa",
            "the runner above the suite",
            "monitor.pipeline.check_suite -> monitor.pipeline.runner",
        ),
        (
            "monitor/alerting/recording.py",
            "from monitor.alerting.delivery import Dispatcher  # noqa",
            "recording and delivery of alerts are independent",
            "monitor.alerting.recording -> monitor.alerting.delivery",
        ),
        (
            "monitor/engines/window.py",
            "from monitor.reports import write_index  # noqa",
            "monitor: the CLI on top",
            "monitor.engines.window -> monitor.reports",
        ),
    ],
)
def test_a_back_edge_breaks_its_contract(
    tmp_path: Path, relpath: str, line: str, broken: str, edge: str
) -> None:
    done = lint_copy(tmp_path, {relpath: line})
    assert done.returncode == 1
    flat = " ".join(done.stdout.split())
    assert " broken." in flat and "0 broken." not in flat
    assert broken in flat and edge in done.stdout


def test_no_module_is_part_of_an_import_cycle() -> None:
    """Strongly connected components of the module graph (lazy imports inside functions count)."""
    import grimp

    graph = grimp.build_graph("checks", "alerts", "monitor", cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert cycles == []


def test_every_shared_table_is_created_explicitly() -> None:
    from monitor.store.alerts import ALERT_TABLES
    from monitor.store.schema import SHARED_TABLES, metadata

    assert set(metadata.tables.values()) == {*SHARED_TABLES, *ALERT_TABLES}
