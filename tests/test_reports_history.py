"""The index, the per-model trend pages, and retention of reports."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checks.result import ModelRun
from monitor.reports import model_slug, prune_reports, report_relpath, write_index, write_run_report
from monitor.reports.markup import esc
from tests import report_fixtures as fx


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[ModelRun]]]:
    root = tmp_path_factory.mktemp("reports")
    fraud = fx.model_history(5)
    pending = fx.labels_pending_run()
    calm = [
        replace(
            pending, model="churn", run_id=7, checks=tuple(c for c in pending.checks if c.status != "alert")
        )
    ]
    for run in fraud + calm:
        write_run_report(run, root, history=fraud)
    runs = {fx.MODEL: fraud, "churn": calm, fx.XSS: []}
    write_index(root, runs)
    return root, runs


def hrefs(text: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]


def test_index_lists_models_worst_first_with_latest_status_and_working_links(site) -> None:
    root, runs = site
    text = (root / "index.html").read_text()
    rows = re.findall(r"<tr[^>]*><td><a href=\"([^\"]+)\"", text)
    assert rows[0] == f"{model_slug(fx.MODEL)}/index.html"  # alert before ok
    assert rows[1] == "churn/index.html"
    latest = runs[fx.MODEL][-1]
    assert (
        f'<span class="dw-badge dw-{latest.status}">' in text
        and str(esc(fx.XSS)) in text
        and fx.XSS not in text
    )
    links = hrefs(text)
    for run in runs[fx.MODEL] + runs["churn"]:
        assert report_relpath(run) in links  # every report linked from its timeline
    for link in links:
        assert (root / link).is_file(), link


def test_model_page_has_trends_and_links_every_report(site) -> None:
    root, runs = site
    text = (root / model_slug(fx.MODEL) / "index.html").read_text()
    for run in runs[fx.MODEL]:
        name = report_relpath(run).split("/", 1)[1]
        assert f'href="{name}"' in text and f'href="../{report_relpath(run)}"' in text
    labels = [html.unescape(t) for t in re.findall(r'<svg class="dw-plot"[^>]*aria-label="([^"]*)"', text)]
    assert {"Share of drifted features", "Latency p99 (ms)", "roc_auc", "f1"} <= set(labels)
    auc = re.search(r'aria-label="roc_auc"[^>]*>(.*?)</svg>', text, re.S).group(1)
    assert "realised" in auc and "estimated" in auc and auc.count("<polygon") == 2  # both with intervals
    for link in hrefs(text):
        assert (root / model_slug(fx.MODEL) / link).resolve().is_file(), link


def test_trend_points_follow_the_runs(site) -> None:
    root, runs = site
    text = (root / model_slug(fx.MODEL) / "index.html").read_text()
    chart = re.search(r'aria-label="Latency p99 \(ms\)"[^>]*>(.*?)</svg>', text, re.S).group(1)
    values = [float(v) for v in re.findall(r"<title>Latency p99 \(ms\): ([\d.]+)</title>", chart)]
    expected = [r.check("latency").metrics["p99_ms"] for r in runs[fx.MODEL]]
    assert values == pytest.approx(expected, rel=1e-3)


def test_runs_without_a_report_file_are_listed_but_not_linked(tmp_path: Path) -> None:
    run = fx.labels_pending_run()
    write_index(tmp_path, {fx.MODEL: [run]})
    text = (tmp_path / "index.html").read_text()
    assert report_relpath(run) not in text and "report removed" in text


def test_prune_removes_only_old_run_reports(tmp_path: Path) -> None:
    now = datetime(2026, 3, 20, tzinfo=UTC)
    old = replace(fx.labels_pending_run(), window_end=now - timedelta(days=31), run_id=1)
    kept = replace(fx.labels_pending_run(), window_end=now - timedelta(days=29), run_id=2)
    evidently = tmp_path / "ev.html"
    evidently.write_text("x")
    old_path = write_run_report(old, tmp_path / "r", evidently_html=evidently)
    kept_path = write_run_report(kept, tmp_path / "r")
    index = write_index(tmp_path / "r", {fx.MODEL: [old, kept]})
    stray = old_path.parent / "notes.html"
    stray.write_text("keep me")
    outside = tmp_path / "20200101T000000Z-run1.html"
    outside.write_text("not in a model dir")
    removed = prune_reports(tmp_path / "r", retention_days=30, now=now)
    assert removed == sorted([old_path, old_path.with_name(old_path.stem + ".evidently.html")])
    assert kept_path.is_file() and index.is_file() and stray.is_file() and outside.is_file()
    assert prune_reports(tmp_path / "missing", retention_days=30, now=now) == []


def test_prune_does_not_follow_symlinked_model_dirs(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "20200101T000000Z-run1.html"
    victim.write_text("x")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "linked").symlink_to(elsewhere)
    assert prune_reports(tmp_path / "r", retention_days=1, now=datetime(2026, 1, 1, tzinfo=UTC)) == []
    assert victim.is_file()
