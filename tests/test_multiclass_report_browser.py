"""A multiclass model's report in headless Chromium: the per-class parts draw without errors."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from checks.multiclass_calibration import multiclass_calibration_check
from checks.multiclass_performance import multiclass_performance
from checks.result import ModelRun
from monitor.reports import report_relpath, write_run_report
from monitor.reports.server import make_report_server
from tests.browser import chromium_path, load_page, screenshot
from tests.conftest import START
from tests.multiclass_world import CLASSES, world
from tests.test_reports_browser import assert_clean

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        chromium_path() is None, reason="headless Chromium not installed at /usr/bin/chromium"
    ),
]


def test_per_class_table_confusion_matrices_and_class_reliability_draw(tmp_path: Path) -> None:
    y_ref, p_ref, _ = world(1500, seed=1)
    y, p, _ = world(1500, seed=2, sep=0.8)
    checks = (
        multiclass_performance(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=300),
        multiclass_calibration_check(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=100),
    )
    run = ModelRun("triage", START, START + timedelta(days=1), {}, checks, run_id=1)
    write_run_report(run, tmp_path, history=[run])
    server = make_report_server(tmp_path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{report_relpath(run)}"
        state = load_page(url)
        assert_clean(state, min_plots=4)  # the top-label diagram and one per class, at least
        for text in ("Per class", "Confusion matrix", "true \\ predicted", "class c: observed share"):
            assert text in state.dom, text
        assert screenshot(url, "report-multiclass").stat().st_size > 10_000
    finally:
        server.shutdown()
        server.server_close()
