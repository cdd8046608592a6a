"""Readable charts on a long history: calendar ticks that never collide, axes that span the data.

The geometry is read back from the SVG the pages contain; ``test_reports_browser.py`` measures
the same labels as Chromium lays them out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from checks.performance import performance
from checks.result import ModelRun
from monitor.reports import render_run_report
from monitor.reports.history import render_index, render_model_page
from monitor.reports.label_sections import performance_section
from monitor.reports.svg import Series, line_chart
from monitor.reports.timeaxis import time_ticks
from tests import report_fixtures as fx

SVG = re.compile(r'<svg class="dw-plot"[^>]*aria-label="([^"]*)".*?</svg>', re.S)
XTICK = re.compile(
    r'<text x="([-\d.]+)" y="[-\d.]+" class="dw-tick dw-xtick" text-anchor="(\w+)">([^<]*)</text>'
)
YTICK = re.compile(r'<text x="46" y="[-\d.]+" class="dw-tick" text-anchor="end">([^<]*)</text>')


@pytest.fixture(scope="module")
def history() -> list[ModelRun]:
    return fx.long_history(3)


@pytest.fixture(scope="module")
def model_page(history: list[ModelRun], tmp_path_factory: pytest.TempPathFactory) -> str:
    return render_model_page(tmp_path_factory.mktemp("axes"), fx.MODEL, history)


def charts(page: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in SVG.finditer(page)}


def x_ticks(svg: str) -> list[tuple[float, str, str]]:
    return [(float(x), anchor, text) for x, anchor, text in XTICK.findall(svg)]


def test_calendar_ticks_carry_the_year_across_years_and_no_midnight_on_daily_windows() -> None:
    day = 86400
    t = datetime(2025, 12, 20, tzinfo=UTC).timestamp()
    labels = [s for _, s in time_ticks(t, t + 30 * day, min_step=day)]
    assert labels and all(s.startswith(("2025-12-", "2026-01-")) for s in labels)
    assert not any("00:00" in s for s in labels)
    # Within one year and hourly windows the time of day is what matters.
    hourly = [s for _, s in time_ticks(t, t + day / 2, min_step=3600)]
    assert hourly[0] == "12-20 00:00" and len(hourly) <= 6


def test_three_year_trends_have_year_ticks_that_do_not_overlap(model_page: str) -> None:
    found = charts(model_page)
    trends = {k: v for k, v in found.items() if x_ticks(v)}
    assert len(trends) >= 6
    for title, svg in trends.items():
        ticks = x_ticks(svg)
        labels = [text for _, _, text in ticks]
        assert all(re.fullmatch(r"20\d\d(-\d\d)?", s) for s in labels), (title, labels)
        assert {"2024", "2025", "2026"} <= {s[:4] for s in labels} and len(labels) >= 4
        assert len(labels) == len(set(labels)) and not any(":" in s for s in labels)
        boxes = []
        for x, anchor, text in ticks:
            w = 6.3 * len(text)  # the same estimate Chromium's measurement confirms
            lo = x - w if anchor == "end" else x if anchor == "start" else x - w / 2
            boxes.append((lo, lo + w))
        assert all(a[1] < b[0] for a, b in pairwise(boxes)), (title, boxes)
        assert boxes[0][0] >= 0 and boxes[-1][1] <= 520


def test_empty_future_windows_do_not_squeeze_the_trends(history: list[ModelRun], model_page: str) -> None:
    svg = charts(model_page)["Share of drifted features"]
    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', svg)]
    assert len(xs) == 3 * 52 + 1  # one point per window with data, none for the skipped ones
    # The data spans the plotting box (52 px to 504 px) instead of ending short of it.
    assert min(xs) < 65 and max(xs) > 490


def test_share_charts_are_drawn_from_zero_to_one(model_page: str) -> None:
    svg = charts(model_page)["Share of drifted features"]
    assert YTICK.findall(svg)[0] == "0" and YTICK.findall(svg)[-1] == "1"
    flat = line_chart([Series("share", [0, 1, 2], [0.0, 0.0, 0.0])], title="all zero")
    assert not any(t.startswith("-") for t in YTICK.findall(flat))


def test_a_skipped_latest_window_does_not_hide_the_model_status(
    history: list[ModelRun], tmp_path: Path
) -> None:
    assert history[-1].status == "skipped" and history[-4].status == "alert"
    index = render_index(tmp_path, {fx.MODEL: history, "churn": [fx.empty_window(fx.T_END, 1)]})
    row = index.split(f">{fx.MODEL}</b>", 1)[1].split("</tr>", 1)[0]
    assert 'class="dw-badge dw-alert">alert<' in row
    assert "3 newer window(s) skipped, last 2026-03-31 06:00 UTC: no rows in the window" in row
    assert "1 alert" in index and index.index(fx.MODEL) < index.index("churn")
    page = render_model_page(tmp_path, fx.MODEL, history)
    assert page.split("</header>")[0].count('dw-badge dw-alert">alert<') == 1


def test_the_label_column_is_drawn_as_binary(history: list[ModelRun]) -> None:
    page = render_run_report(history[-4], history=history[:-3])
    row = page.split("is_fraud", 1)[1].split("</tr>", 1)[0]
    assert "label · binary (0/1)" in row and "numeric" not in row
    chart = next(v for k, v in charts(page).items() if k.startswith("is_fraud"))
    assert 'data-kind="categories"' in chart and "0, 1, 1" not in chart
    assert ">0</text>" in chart and ">1</text>" in chart


def test_performance_rows_explain_the_threshold_and_the_bootstrap_floor() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 800)
    score = np.clip(0.5 + (y - 0.5) * 0.2 + rng.normal(0, 0.3, 800), 0, 1)
    result = performance(y, y_score=score, task="binary", reference={"roc_auc": 0.99}, n_resamples=500)
    row = next(r for r in result.details["metrics"] if r.name == "roc_auc")
    assert row.p_value == pytest.approx(1 / 501) and row.degraded
    section = str(performance_section(result, []))
    assert "&lt; 0.002 (500 resamples)" in section
    assert f">{row.threshold:.4g}<" in section and "Material at: the value past which" in section
    # The findings tables (the summary's and the section's) say the same of the finding.
    run = ModelRun("m", fx.T_END - timedelta(days=1), fx.T_END, {}, (result,))
    summary = render_run_report(run).split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert "roc_auc" in summary and "&lt; 0.002 (500 resamples)" in summary
    assert "the threshold the value past which its change from the reference is material" in summary


def test_window_ticks_stay_inside_the_chart_for_a_single_week() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    xs = [(start + timedelta(days=i)).timestamp() for i in range(7)]
    svg = line_chart([Series("auc", xs, [0.9] * 7)], title="auc", time_axis=True, width=520)
    ticks = x_ticks(svg)
    assert [t for _, _, t in ticks] == ["03-02", "03-04", "03-06"]
