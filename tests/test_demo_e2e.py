"""`driftwatch demo` end to end, on the smaller version of its scenario (same code path).

The demo's own config (demo/config.toml) with its output moved to a temporary directory, one
reference week and a three-day dispute window: the serving system writes daily files, the
daemon's jobs ingest, check, alert and report under the accelerated clock, and the test reads
back what driftwatch said -- from the replay's evaluations and from the alert outbox.
"""

from __future__ import annotations

import contextlib
import io
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from monitor.config import parse_config
from monitor.demo.run import DemoOutcome, run_demo
from monitor.store.alerts import alert_outbox

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "demo" / "config.toml"
REFERENCE_DAYS = 7
DISPUTE_DAYS = 3


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoOutcome, Path, str]:
    out = tmp_path_factory.mktemp("demo-out")
    data = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    data["store"]["url"] = f"sqlite:///{out / 'driftwatch.db'}"
    data["reports"]["dir"] = str(out / "reports")
    model = data["models"][0]
    for source in model["sources"]:
        source["path"] = str(out / "logs" / Path(source["path"]).parent.name / Path(source["path"]).name)
    model["reference"]["end"] = model["reference"]["start"] + timedelta(days=REFERENCE_DAYS)
    model["labels"]["max_delay"] = f"{DISPUTE_DAYS}d"
    config = parse_config(data, "demo/config.toml (test copy)", base_dir=out)
    story = io.StringIO()
    alerts = io.StringIO()
    with contextlib.redirect_stdout(alerts):
        outcome = run_demo(config, config.models[0], small=True, out=story, environ={})
    return outcome, out, story.getvalue() + alerts.getvalue()


def test_the_replay_ran_every_day(demo: tuple[DemoOutcome, Path, str]) -> None:
    outcome, _, text = demo
    assert outcome.replay.failures == []
    first_checks = [e for e in outcome.replay.evaluations if not e.reevaluation]
    assert len(first_checks) == outcome.scenario.days - REFERENCE_DAYS + 1
    assert "Covariate drift" in text and "Report index" in text
    # The malformed rows of the logs were quarantined, the rest stored.
    assert all(e.quarantined > 0 for e in first_checks)


def test_no_alert_in_the_clean_weeks(demo: tuple[DemoOutcome, Path, str]) -> None:
    outcome, out, _ = demo
    assert outcome.clean_alerts == 0
    scenario = outcome.scenario
    first_fault = scenario.day_start(min(f.start_day for f in scenario.faults))
    engine = create_engine(f"sqlite:///{out / 'driftwatch.db'}")
    with engine.connect() as conn:
        early = conn.execute(select(alert_outbox.c.id).where(alert_outbox.c.created_at <= first_fault)).all()
    engine.dispose()
    assert early == []


def test_each_fault_is_detected_in_time(demo: tuple[DemoOutcome, Path, str]) -> None:
    outcome, _, _ = demo
    window = timedelta(days=1)
    for detection in outcome.detections:
        assert detection.alerted is not None, f"{detection.fault.kind} was not detected"
        assert detection.in_time(window), (
            f"{detection.fault.kind}: alerted {detection.alerted.evaluated_at}, observable "
            f"{detection.observable_at}, recommended {detection.recommended}"
        )


def test_the_recommendation_is_the_one_the_fault_calls_for(demo: tuple[DemoOutcome, Path, str]) -> None:
    outcome, _, _ = demo
    scenario = outcome.scenario
    for fault in scenario.faults:
        if fault.action is None:
            continue
        ends = {scenario.day_start(d + 1) for d in range(fault.start_day, fault.end_day)}
        relevant = [
            e
            for e in outcome.replay.evaluations
            if e.window_end in ends and (e.labels_mature or not fault.needs_labels)
        ]
        assert relevant, fault.kind
        actions = [e.recommendations for e in sorted(relevant, key=lambda e: e.evaluated_at)]
        assert actions[0] == (fault.action,), (fault.kind, actions)
        if fault.action != "retrain":
            # Never a retrain where recalibration or a new threshold is the fix.
            assert all("retrain" not in a for a in actions), (fault.kind, actions)


def test_every_alert_links_to_an_existing_report(demo: tuple[DemoOutcome, Path, str]) -> None:
    outcome, out, text = demo
    engine = create_engine(f"sqlite:///{out / 'driftwatch.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(alert_outbox.c.payload, alert_outbox.c.status)).all()
    engine.dispose()
    assert rows, "the faults raised no alert at all"
    assert {r.status for r in rows} == {"delivered"}
    for payload, _ in rows:
        url = payload["run"]["report_url"]
        assert url.startswith("http://127.0.0.1:8787/")
        assert (out / "reports" / url.removeprefix("http://127.0.0.1:8787/")).is_file(), url
    # Resolutions are sent too, and the console printed the alerts in full with their links.
    assert any(a["status"] == "resolved" for payload, _ in rows for a in payload["alerts"])
    assert "Recommended: retrain" in text and "Report: http://127.0.0.1:8787/card_fraud/" in text
    assert outcome.index.is_file()
