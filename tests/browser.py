"""Drive headless Chromium for the report tests, with no dependency beyond the browser itself.

A report page checks itself (see ``monitor/reports/assets.py``): it records script errors,
failed resources and CSP violations, and how many charts drew, as attributes of ``<html>``.
:func:`load_page` runs Chromium with ``--dump-dom`` (the DOM after scripts ran) and reads
them back; :func:`screenshot` keeps a PNG as a test artifact.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

#: Without the background-networking flags Chromium stalls on a closed network.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def chromium_path() -> Path | None:
    """The Chromium binary, or ``None`` when it is not installed."""
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    return Path(found) if found else None


def _run(args: list[str], *, timeout: float) -> str:
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError("Chromium is not installed at /usr/bin/chromium")
    with tempfile.TemporaryDirectory(prefix="dw-chromium-") as profile:
        done = subprocess.run(
            [str(binary), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


@dataclass(frozen=True)
class PageState:
    """What a report page recorded about itself, plus the DOM it ended with."""

    dom: str
    ready: bool
    errors: list[str]
    plots_total: int
    plots_drawn: int
    plots_hidden: int
    plots_undrawn: list[str]
    xss_marker: bool
    ticks_measured: int
    tick_overlaps: list[str]


def _html_attrs(dom: str) -> dict[str, str]:
    match = re.search(r"<html\b([^>]*)>", dom)
    if match is None:
        return {}
    return {k: v for k, v in re.findall(r'([\w-]+)="([^"]*)"', match.group(1))}


def _unescape(value: str) -> str:
    return value.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def load_page(url: str, *, timeout: float = 60.0) -> PageState:
    """Open ``url``, let its scripts run, and return what the page recorded."""
    dom = _run(["--window-size=1280,2000", "--dump-dom", url], timeout=timeout)
    attrs = _html_attrs(dom)
    return PageState(
        dom=dom,
        ready=attrs.get("data-dw-ready") == "1",
        errors=json.loads(_unescape(attrs.get("data-dw-errors", '["page script did not run"]'))),
        plots_total=int(attrs.get("data-plots-total", -1)),
        plots_drawn=int(attrs.get("data-plots-drawn", -1)),
        plots_hidden=int(attrs.get("data-plots-hidden", -1)),
        plots_undrawn=json.loads(_unescape(attrs.get("data-plots-undrawn", "[]"))),
        xss_marker="data-xss" in attrs,
        ticks_measured=int(attrs.get("data-ticks-measured", -1)),
        tick_overlaps=json.loads(_unescape(attrs.get("data-tick-overlaps", '["not measured"]'))),
    )


def screenshot(url: str, name: str, *, width: int = 1280, height: int = 4000, timeout: float = 60.0) -> Path:
    """Save a PNG of ``url`` as ``test-artifacts/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    target.unlink(missing_ok=True)
    _run([f"--window-size={width},{height}", f"--screenshot={target}", url], timeout=timeout)
    if not target.is_file() or target.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot for {url}")
    return target
