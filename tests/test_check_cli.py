"""`driftwatch check --json` end to end on a stored model with delayed outcomes (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from checks.result import CheckResult, ModelRun, Recommendation
from monitor.cli import main
from monitor.cli.check_cmds import summarize
from monitor.config import load_config
from monitor.ingest import ingest_frame
from monitor.store import open_store

START = datetime(2026, 10, 1, tzinfo=UTC)


def traffic(day: int, n: int, *, seed: int, shift: float = 0.0, distort: bool = False) -> pd.DataFrame:
    """One day of a binary model's traffic: labels drawn from the model's own (calibrated) scores."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 0.5, n) * (1 + shift)
    age = rng.integers(18, 80, n).astype(float)
    country = rng.choice(["US", "DE", "FR", "BR"], n, p=[0.4, 0.3, 0.2, 0.1])
    logit = -2.0 + 0.04 * (amount - 20) + 0.02 * (age - 45) + np.where(country == "BR", 0.8, 0.0)
    p = 1 / (1 + np.exp(-logit))
    label = rng.random(n) < p
    score = 1 / (1 + np.exp(-(2.5 * logit + 1.5))) if distort else p
    ts = [START + timedelta(days=day, seconds=int(s)) for s in np.sort(rng.integers(0, 86400, n))]
    return pd.DataFrame(
        {
            "id": [f"d{day}-{i}" for i in range(n)],
            "timestamp": ts,
            "prediction": (score >= 0.5).astype(int),
            "score": score,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "amount": amount,
            "age": age,
            "country": country,
            "label": label.astype(int),
        }
    )


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "{url}"
[reports]
dir = "{tmp_path / "reports"}"
[[models]]
name = "fraud"
task = "binary"
segments = ["country"]
window = "1d"
[models.features]
numeric = ["amount", "age"]
categorical = ["country"]
[models.reference]
start = 2026-10-01T00:00:00Z
end = 2026-10-08T00:00:00Z
[models.labels]
min_count = 200
[models.performance]
n_resamples = 200
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def stored_model(store_url, tmp_path):  # type: ignore[no-untyped-def]
    path = write_config(tmp_path, store_url)
    config = load_config(path)
    store = open_store(config)
    model = config.models[0]
    now = START + timedelta(days=30)
    for day in range(8):
        frame = traffic(day, 1500, seed=day)
        ingest_frame(store, model, "predictions", frame, source="test", now=now)
        ingest_frame(store, model, "outcomes", frame[["id", "timestamp", "label"]], source="test", now=now)
    drifted = traffic(8, 3000, seed=99, shift=0.6, distort=True)
    ingest_frame(store, model, "predictions", drifted, source="test", now=now)
    ingest_frame(store, model, "outcomes", drifted[["id", "timestamp", "label"]], source="test", now=now)
    store.dispose()
    return path


def test_check_json_document(stored_model, capsys):
    code = main(["--config", str(stored_model), "check", "--json", "--at", "2026-10-10T00:05:00Z"])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    assert doc["schema_version"] == 1 and doc["errors"] == []
    (run,) = doc["models"]
    assert run["model"] == "fraud"
    assert run["window"] == {"start": "2026-10-09T00:00:00+00:00", "end": "2026-10-10T00:00:00+00:00"}
    checks = {c["check"]: c for c in run["checks"]}
    assert set(checks) >= {
        "drift",
        "data_quality",
        "latency",
        "performance",
        "calibration",
        "segments",
        "threshold",
    }
    for check in checks.values():
        assert check["status"] in {"ok", "warn", "alert", "skipped"}
        for finding in check["findings"]:
            assert {
                "subject",
                "method",
                "statistic",
                "p_value",
                "threshold",
                "effect_size",
                "severity",
            } <= set(finding)
    drift_subjects = {f["subject"] for f in checks["drift"]["findings"]}
    assert "feature:amount" in drift_subjects
    for column in checks["drift"]["details"]["columns"]:  # the deciding clause and the power, per column
        assert column["clause"] in {"drifted", "constant_reference", "method", "material", "significant"}
        assert column["reason"].startswith("drifted" if column["drifted"] else "not drifted")
        assert column["minimum_detectable_effect"] > 0 and column["noise_floor"] >= 0
        assert (column["minimum_detectable_shift_sd"] is None) == (column["kind"] == "categorical")
    amount = next(f for f in checks["drift"]["findings"] if f["subject"] == "feature:amount")
    assert amount["evidence"]["clause"] == "drifted" and amount["evidence"]["minimum_detectable_effect"] > 0
    assert checks["calibration"]["status"] == "alert"
    by_segment = checks["calibration"]["details"]["segments"]
    assert {s["value"] for s in by_segment} == {"US", "DE", "FR", "BR"}
    assert all(s["column"] == "country" and s["ece"] >= 0 for s in by_segment)
    actions = {r["action"] for r in run["recommendations"]}
    assert actions, "a drifted, miscalibrated window must get a recommendation"
    assert Path(run["report_url"].split("/", 3)[-1]).name.endswith(".html")
    # the same window again updates the run, it does not duplicate it
    assert main(["--config", str(stored_model), "check", "--json", "--at", "2026-10-10T00:05:00Z"]) == 0
    again = json.loads(capsys.readouterr().out)["models"][0]
    assert again["run_id"] == run["run_id"]


def test_check_without_labels_skips_with_reason_and_estimates(stored_model, tmp_path, capsys):
    config = load_config(stored_model)
    store = open_store(config)
    fresh = traffic(9, 2000, seed=5)
    ingest_frame(store, config.models[0], "predictions", fresh, source="test", now=START + timedelta(days=30))
    store.dispose()
    assert main(["--config", str(stored_model), "check", "--json", "--at", "2026-10-11T00:00:00Z"]) == 0
    run = json.loads(capsys.readouterr().out)["models"][0]
    checks = {c["check"]: c for c in run["checks"]}
    assert checks["performance"]["status"] == "skipped"
    assert "label coverage" in checks["performance"]["reason"]
    assert checks["estimated_performance"]["status"] in {"ok", "warn", "alert"}


def test_check_loads_no_slack_client_and_no_dispatcher(stored_model):
    """`driftwatch check` queues alerts; the receivers (slack-sdk) are the sending commands' cost."""
    program = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"code = main(['--config', {str(stored_model)!r}, 'check', '--at', '2026-10-10T00:05:00Z'])\n"
        "print(code, sorted(m for m in ('slack_sdk', 'monitor.alerting.delivery') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 []"


def test_a_second_check_reads_the_importance_instead_of_loading_scikit_learn(stored_model):
    """The importance of the fixed reference is kept in the store: a quiet window needs no sklearn."""
    program = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"code = main(['--config', {str(stored_model)!r}, 'check', '--at', '2026-10-08T00:05:00Z'])\n"
        "print(code, 'sklearn' in sys.modules)\n"
    )
    said = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        said.append(out.stdout.strip().splitlines()[-1])
    assert said == ["0 True", "0 False"]  # estimated by the first check, read by the second


def test_evidently_report_is_written_and_linked(tmp_path, capsys):
    path = write_config(tmp_path, f"sqlite:///{tmp_path / 'dw.db'}")
    path.write_text(path.read_text().replace("[reports]\n", "[reports]\nevidently = true\n"))
    config = load_config(path)
    store = open_store(config)
    now = START + timedelta(days=30)
    for day in (0, 8):
        frame = traffic(day, 800, seed=day, shift=0.5 if day == 8 else 0.0)
        ingest_frame(store, config.models[0], "predictions", frame, source="test", now=now)
    store.dispose()
    assert main(["--config", str(path), "check", "--json", "--at", "2026-10-10T00:00:00Z"]) == 0
    run = json.loads(capsys.readouterr().out)["models"][0]
    report = tmp_path / "reports" / run["report_url"].split("/", 3)[-1]
    companion = report.with_name(report.name.replace(".html", ".evidently.html"))
    assert companion.is_file() and companion.stat().st_size > 10_000
    assert companion.name in report.read_text()


def test_the_summary_lists_the_recommendation_reasons_as_sentences() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    run = ModelRun(
        "fraud",
        start,
        start + timedelta(days=1),
        {},
        (CheckResult.skipped("drift", "the reference has no rows"),),
        (Recommendation("retune_threshold", ("The threshold check proposes 0.1.", "Ranking holds.")),),
    )
    text = summarize(run)
    assert (
        "RECOMMENDATION: retune threshold\n      - The threshold check proposes 0.1.\n      - Ranking holds."
        in text
    )
    assert "because The" not in text
