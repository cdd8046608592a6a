"""Reports in a real browser: headless Chromium loads them from the report server on 127.0.0.1.

Each page records its own script errors, CSP violations and drawn charts (see
``monitor/reports/assets.py``); screenshots are kept under ``test-artifacts/``.
"""

from __future__ import annotations

import re
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from checks.result import ModelRun
from monitor.reports import model_slug, report_relpath, write_index, write_run_report
from monitor.reports.assets import page
from monitor.reports.markup import Markup
from monitor.reports.server import make_report_server
from tests import report_fixtures as fx
from tests.browser import chromium_path, load_page, screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None, reason="headless Chromium not installed at /usr/bin/chromium"
    ),
]


@dataclass(frozen=True)
class Site:
    root: Path
    base: str
    latest: ModelRun
    pending: ModelRun


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("browser-reports")
    history = fx.model_history(5)
    pending = fx.labels_pending_run()
    for run in [*history, pending]:
        write_run_report(run, root, history=history)
    write_index(root, {fx.MODEL: [*history, pending]})
    server = make_report_server(root, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Site(root, f"http://127.0.0.1:{server.server_address[1]}/", history[-1], pending)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def long_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Three years of weekly runs, then three empty future windows the daemon skipped."""
    root = tmp_path_factory.mktemp("browser-long")
    history = fx.long_history(3)
    latest = history[-4]
    for run in history[-6:]:
        write_run_report(run, root, history=history[: history.index(run) + 1])
    write_index(root, {fx.MODEL: history})
    server = make_report_server(root, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Site(root, f"http://127.0.0.1:{server.server_address[1]}/", latest, history[-1])
    server.shutdown()
    server.server_close()


def assert_clean(state, *, min_plots: int) -> None:
    assert state.ready, "page script did not finish"
    assert state.errors == []
    assert state.tick_overlaps == []
    assert state.plots_total >= min_plots
    assert state.plots_drawn == state.plots_total - state.plots_hidden, state.plots_undrawn
    assert not state.xss_marker


def test_run_report_draws_every_chart_without_errors(site: Site) -> None:
    url = site.base + report_relpath(site.latest)
    state = load_page(url)
    assert_clean(state, min_plots=30)
    assert state.plots_drawn >= 10
    # The hostile feature name is text in the live DOM, and no injected element exists.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in state.dom
    assert state.dom.count("<script") == 2 and "<img" not in state.dom
    assert screenshot(url, "report-run").stat().st_size > 10_000


def test_report_with_label_checks_skipped(site: Site) -> None:
    state = load_page(site.base + report_relpath(site.pending))
    assert_clean(state, min_plots=3)
    assert state.dom.count("Skipped: ") == 4


def test_index_links_work_and_pages_render(site: Site) -> None:
    url = site.base + "index.html"
    state = load_page(url)
    assert_clean(state, min_plots=0)
    links = re.findall(r'<a href="([^"#]+)"', state.dom)
    assert report_relpath(site.latest) in links and f"{model_slug(fx.MODEL)}/index.html" in links
    for link in set(links):
        with urllib.request.urlopen(site.base + link, timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    screenshot(url, "report-index", height=900)


def test_model_page_draws_trends(site: Site) -> None:
    url = f"{site.base}{model_slug(fx.MODEL)}/"
    state = load_page(url)
    assert_clean(state, min_plots=6)
    screenshot(url, "report-model-page", height=2400)


def test_page_self_check_catches_injected_script_and_broken_resource(site: Site) -> None:
    """Guards the guard: the checks above are only worth something if a failure would show."""
    page = (site.root / report_relpath(site.pending)).read_text()
    injected = "<script>document.documentElement.setAttribute('data-xss','1')</script>"
    hostile = page.replace("</main>", injected + '<img src="missing.png"></main>')
    target = site.root / model_slug(fx.MODEL) / "20000101T000000Z-run1.html"
    target.write_text(hostile)
    state = load_page(f"{site.base}{model_slug(fx.MODEL)}/{target.name}")
    assert not state.xss_marker
    assert any("CSP blocked" in e for e in state.errors)
    assert any("missing.png" in e for e in state.errors)


@pytest.mark.parametrize(
    ("page", "name", "min_ticks"),
    [("index.html", "history-3y-index", 0), ("model", "history-3y-model", 40), ("run", "history-3y-run", 20)],
)
def test_three_year_history_has_readable_axes(long_site: Site, page: str, name: str, min_ticks: int) -> None:
    """Chromium lays out every x-axis label of every chart (collapsed ones too): none overlaps."""
    url = (
        long_site.base
        + {
            "index.html": "index.html",
            "model": f"{model_slug(fx.MODEL)}/",
            "run": report_relpath(long_site.latest),
        }[page]
    )
    state = load_page(url)
    assert_clean(state, min_plots=0 if page == "index.html" else 6)
    assert state.ticks_measured >= min_ticks
    if page == "index.html":
        assert 'dw-badge dw-alert">alert<' in state.dom and "3 newer window(s) skipped" in state.dom
    screenshot(url, name, height=900 if page == "index.html" else 3200)


def test_page_self_check_catches_overlapping_tick_labels(long_site: Site) -> None:
    """Guards the guard: two labels drawn on top of each other are reported."""
    svg = (
        '<svg class="dw-plot" viewBox="0 0 200 50" width="200" height="50" aria-label="crowded">'
        '<text x="60" y="40" class="dw-tick dw-xtick">2024-01-01</text>'
        '<text x="75" y="40" class="dw-tick dw-xtick">2024-01-02</text>'
        '<text x="190" y="40" class="dw-tick dw-xtick">2024-01-03</text></svg>'
    )
    target = long_site.root / "crowded.html"
    target.write_text(page("crowded", Markup("<header></header>"), Markup(svg)))
    state = load_page(long_site.base + target.name)
    assert state.ticks_measured == 3
    assert state.tick_overlaps == [
        "crowded: '2024-01-01' overlaps '2024-01-02'",
        "crowded: '2024-01-03' leaves the chart",
    ]
