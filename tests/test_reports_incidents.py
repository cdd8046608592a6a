"""History pages tell incidents (an alert with an action) from informational runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from checks.result import CheckResult, Finding, ModelRun, Recommendation
from monitor.reports import model_slug, write_index
from monitor.reports.history import run_kind

START = datetime(2026, 5, 1, tzinfo=UTC)
SEGMENT_WARN = Finding("segment:age=60+", "error_rate", 0.245, 0.238, severity="warn", message="age 60+")


def run(day: int, *checks: CheckResult, action: str | None = None, reason: str | None = None) -> ModelRun:
    recs = (Recommendation(action, (f"{action} because of day {day}",)),) if action else ()  # type: ignore[arg-type]
    return ModelRun(
        "census",
        START + timedelta(days=day),
        START + timedelta(days=day + 1),
        {},
        checks,
        recommendations=recs,
        run_id=day + 1,
        no_action_reason=reason,
    )


def month() -> list[ModelRun]:
    """A month of segment warnings and a mild segment alert the policy declines, with one real incident."""
    runs = [run(d, CheckResult("segments", "warn", findings=(SEGMENT_WARN,))) for d in range(28)]
    runs[5] = run(
        5, CheckResult("segments", "alert"), reason="No action: age=60+ is worse but below the retrain rule"
    )
    runs[20] = run(
        20, CheckResult("drift", "alert"), CheckResult("calibration", "ok"), action="investigate_data"
    )
    runs[21] = run(21, CheckResult("drift", "ok"))
    return runs


def test_run_kinds() -> None:
    runs = month()
    assert [run_kind(r) for r in runs].count("incident") == 1
    assert run_kind(runs[20]) == "incident" and run_kind(runs[5]) == "info" and run_kind(runs[0]) == "info"
    assert run_kind(runs[21]) == "ok"


def test_the_model_page_lists_the_one_incident_apart_from_a_month_of_warnings(tmp_path: Path) -> None:
    runs = month()
    write_index(tmp_path, {"census": runs})
    page = (tmp_path / model_slug("census") / "index.html").read_text()
    cells = re.findall(r'<div class="dw-timeline">(.*?)</div>', page, re.S)[0]
    classes = re.findall(r'class="([^"]*)"', cells)
    assert sum("dw-incident" in c for c in classes) == 1
    assert sum("dw-info" in c for c in classes) == 26 and sum("dw-ok" in c for c in classes) == 1
    assert "1 incident(s)" in page and "26 informational run(s)" in page
    incidents = re.search(r'<section class="dw-card" id="incidents">(.*?)</section>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", incidents, re.S)
    assert len(rows) == 2  # the header and the one incident
    assert "Investigate the data" in rows[1] and "investigate_data because of day 20" in rows[1]
    assert "No action: age=60+ is worse but below the retrain rule" in page  # the declined alert says why
    index = (tmp_path / "index.html").read_text()
    assert len(re.findall(r'class="[^"]*dw-incident', index)) == 1  # the index strip uses the same classes


def test_a_model_without_incidents_says_so(tmp_path: Path) -> None:
    write_index(tmp_path, {"census": month()[:3]})
    page = (tmp_path / model_slug("census") / "index.html").read_text()
    assert "No incident: no alert called for an action." in page
