"""A three-class model through the runner: a shift that breaks ranking and calibration, and one
that only breaks calibration, each with the findings and the action it calls for."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix

from checks.temperature import MulticlassRecalibrator
from monitor.ingest import ingest_frame
from monitor.ingest.validate import validate_batch
from monitor.pipeline.runner import Runner
from monitor.reports import report_relpath
from monitor.store import open_store
from tests.conftest import DAY, START, make_config, model_dict
from tests.multiclass_world import CLASSES, world

N = 1500


def traffic(name: str, day: int, **shift: Any) -> pd.DataFrame:
    y, p, x = world(N, seed=100 * day + len(name), **shift)
    rng = np.random.default_rng(day)
    frame = pd.DataFrame(
        {
            "id": [f"{name}{day}-{i}" for i in range(N)],
            "timestamp": [
                START + timedelta(days=day, seconds=int(s)) for s in np.sort(rng.integers(0, 86_400, N))
            ],
            "prediction": CLASSES[p.argmax(axis=1)],
            "latency_ms": rng.gamma(2.0, 10.0, N),
            "label": y,
        }
    )
    for k, c in enumerate(CLASSES):
        frame[f"score_{c}"] = p[:, k]  # the score-column convention: <score_column>_<class>
        frame[f"x{k}"] = x[:, k]
    return frame


def multiclass_model(name: str) -> dict[str, Any]:
    return model_dict(
        name=name,
        task="multiclass",
        classes=list(CLASSES),
        features={"numeric": ["x0", "x1", "x2"]},
        segments=[],
        reference={"start": "2026-10-01T00:00:00Z", "end": "2026-10-03T00:00:00Z"},
        labels={"min_count": 200},
        segments_check={"enabled": False},
        threshold_check={"enabled": False},
    )


@pytest.fixture
def runs(store_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = make_config(store_url, tmp_path, [multiclass_model("triage"), multiclass_model("router")])
    store = open_store(config)
    shifts = {"triage": {"sep": 0.8}, "router": {"temperature": 0.5}}
    for name, shift in shifts.items():
        model = store.models[name]
        for day in range(3):
            frame = traffic(name, day, **(shift if day == 2 else {}))
            now = START + 3 * DAY
            ingest_frame(store, model, "predictions", frame.drop(columns="label"), source="test", now=now)
            ingest_frame(
                store, model, "outcomes", frame[["id", "timestamp", "label"]], source="test", now=now
            )
    runner = Runner(store, config, clock=lambda: START + 3 * DAY + timedelta(hours=1))
    out = {m.name: runner.check_window(m, START + 3 * DAY) for m in config.models}  # day 2's window
    yield out, tmp_path / "reports"
    store.dispose()


def test_a_shift_that_breaks_ranking_and_calibration_calls_for_retraining(runs) -> None:  # type: ignore[no-untyped-def]
    out, reports = runs
    run = out["triage"]
    assert run.window_end == START + 3 * DAY
    performance, calibration = run.check("performance"), run.check("calibration")
    assert performance is not None and calibration is not None
    auc = {(f.subject, f.method) for f in performance.findings}
    assert ("model", "roc_auc") in auc and any(s.startswith("class:") for s, _ in auc)
    assert performance.metrics["roc_auc"] < performance.metrics["reference_roc_auc"] - 0.05
    assert calibration.status == "alert" and {"ece_delta", "classwise_ece_delta"} <= {
        f.method for f in calibration.findings
    }
    (rec,) = run.recommendations
    assert rec.action == "retrain"
    assert any("roc_auc fell" in r for r in rec.reasons) and any(
        "supersedes recalibration" in r for r in rec.reasons
    )

    # The report: per-class table, confusion matrices (reference and current), class reliability.
    page = (reports / report_relpath(run)).read_text(encoding="utf-8")
    assert "Per class" in page and "Confusion matrix" in page and "Reliability per class" in page
    day2 = traffic("triage", 2, sep=0.8)
    expected = confusion_matrix(day2["label"], day2["prediction"], labels=CLASSES)
    assert performance.details["confusion"].current == expected.tolist()
    a_row = expected[0]
    assert f"{a_row[0]} ({a_row[0] / a_row.sum():.0%})" in page  # true a, predicted a, with its row share
    for c in CLASSES:
        assert f"class {c}: observed share vs predicted probability" in page


def test_broken_calibration_with_ranking_intact_calls_for_temperature_scaling(runs) -> None:  # type: ignore[no-untyped-def]
    out, reports = runs
    run = out["router"]
    performance, calibration = run.check("performance"), run.check("calibration")
    assert performance is not None and not any(f.method == "roc_auc" for f in performance.findings)
    assert calibration is not None and calibration.status == "alert"
    assert calibration.details["recalibration"].method == "temperature"
    (rec,) = run.recommendations
    assert rec.action == "recalibrate" and rec.artifact is not None
    assert any("Ranking holds" in r for r in rec.reasons)
    document = json.loads((reports / rec.artifact).read_text(encoding="utf-8"))
    recalibrator = MulticlassRecalibrator.from_json(document)
    assert document["fitted_on"]["model"] == "router" and recalibrator.params["temperature"] == pytest.approx(
        2.0, rel=0.2
    )
    assert run.check("class_prior") is not None and run.check("class_prior").status == "ok"


def test_rows_whose_class_probabilities_do_not_sum_to_one_are_quarantined_with_the_reason(
    tmp_path: Path,
) -> None:
    config = make_config("sqlite:///unused.db", tmp_path, [multiclass_model("triage")])
    frame = traffic("triage", 0).head(5).drop(columns="label")
    frame.loc[1, "score_a"] += 0.2  # this row sums to 1.2
    frame.loc[3, ["score_a", "score_b", "score_c"]] = [0.333, 0.333, 0.333]  # rounding: kept
    result = validate_batch(frame, config.models[0], "predictions", now=START + 3 * DAY)
    assert result.rejected.positions == [1]
    assert result.rejected.reasons[0].startswith("columns score_*: probabilities sum to 1.2, not 1")
    assert len(result.frame) == 4 and list(result.frame.filter(like="p_").columns) == ["p_0", "p_1", "p_2"]
