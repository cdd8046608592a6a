"""Typed details: real check output of every model kind renders, serialises and reads back.

``tests/data/stored_run_*.json.gz`` are runs as ``driftwatch`` stored them before details
were typed (``ModelRun.to_dict()`` of :func:`tests.suite_runs.suite_run` at commit d827709):
the typed details write the same JSON and read those runs back.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from checks import details as dt
from checks.result import CheckResult, ModelRun, jsonable
from monitor.reports import render_run_report
from monitor.reports.adapters import distribution, drift_columns, latency_slos, threshold_choice
from monitor.reports.fmt import num
from tests.suite_runs import suite_run

DATA = Path(__file__).parent / "data"
TASKS = ("binary", "multiclass", "regression")
#: The typed part each check must carry, and its type (rows: the first row's).
TYPED = {
    ("drift", "columns"): dt.DriftRow,
    ("data_quality", "columns"): dt.QualityColumn,
    ("latency", "slo"): dt.LatencySLO,
    ("performance", "metrics"): dt.MetricRow,
    ("estimated_performance", "metrics"): dt.MetricRow,
    ("calibration", "reliability"): dt.ReliabilityCurve,
    ("segments", "segments"): dt.SegmentRow,
    ("threshold", "curve"): dt.ThresholdCurve,
}


def stored(name: str) -> dict:
    with gzip.open(DATA / f"stored_run_{name}.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def section(page: str, check: str) -> str:
    match = re.search(rf'<section class="dw-card" id="check-{check}">(.*?)</section>', page, re.S)
    assert match, f"no section for {check}"
    return match.group(1)


def _first(value: object) -> object:
    return value[0] if isinstance(value, list) else value


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("mature", [True, False])
def test_every_check_carries_its_typed_details_and_they_read_back_equal(task: str, mature: bool) -> None:
    run = suite_run(task, mature=mature)
    ran = [c for c in run.checks if c.status != "skipped"]
    assert ran
    for result in ran:
        for (check, key), kind in TYPED.items():
            if result.check == check:
                assert isinstance(_first(result.details[key]), kind), (check, key)
    back = ModelRun.from_dict(json.loads(json.dumps(run.to_dict())))
    assert back == run


@pytest.mark.parametrize("name", ["binary", "multiclass", "regression", "binary_pending"])
def test_a_run_stored_before_typing_reads_back_typed_and_writes_the_same_json(name: str) -> None:
    data = stored(name)
    run = ModelRun.from_dict(data)
    for result in run.checks:
        for (check, key), kind in TYPED.items():
            if result.check == check and result.status != "skipped":
                assert isinstance(_first(result.details[key]), kind), (check, key)
    assert json.loads(json.dumps(run.to_dict())) == data


@pytest.mark.parametrize("name", ["binary", "multiclass", "regression"])
def test_a_stored_run_renders_what_its_json_says(name: str) -> None:
    data = stored(name)
    page = render_run_report(ModelRun.from_dict(data))
    checks = {c["check"]: c for c in data["checks"]}
    drift = section(page, "drift")
    for row in checks["drift"]["details"]["columns"]:
        assert f'<span class="dw-name" title="{row["column"]}' in drift
        assert num(row["effect_size"]) in drift
    assert "Per class" in page if name == "multiclass" else "Per class" not in page
    performance = section(page, "performance")
    for row in checks["performance"]["details"]["metrics"]:
        assert f"<b>{row['name']}</b>" in performance
    segments = section(page, "segments")
    for row in checks["segments"]["details"]["segments"]:
        assert f"{row['column']} = {row['value']}" in segments
    assert "SLO 60 ms" in section(page, "latency")


def test_every_section_draws_from_real_binary_output() -> None:
    run = suite_run("binary")
    page = render_run_report(run)
    calibration = run.check("calibration")
    assert calibration is not None and calibration.status == "alert"
    cal = section(page, "calibration")
    assert "Reliability diagram" in cal and "after recalibration" in cal and "Calibration by segment" in cal
    assert "Proposed recalibrator" in cal
    threshold = run.check("threshold")
    assert threshold is not None
    choice = threshold_choice(threshold.details)
    assert choice is not None and choice.curve is not None and len(choice.curve.thresholds) > 10
    assert f"proposed {num(choice.proposed, 3)}" in page and "Objective vs decision threshold" in page
    drift = run.check("drift")
    assert drift is not None
    rows = drift_columns(drift.details)
    shown = {r.column: distribution(r) for r in rows}
    assert shown["country"] is not None and shown["country"].kind == "categorical"
    assert shown["x0"] is not None and shown["x0"].kind == "numeric"
    assert [r.effect_size for r in rows] == sorted((r.effect_size for r in rows), reverse=True)


def test_the_pending_run_shows_the_estimate() -> None:
    page = render_run_report(suite_run("binary", mature=False))
    estimated = section(page, "estimated_performance")
    assert "estimated" in estimated and "<b>roc_auc</b>" in estimated


def test_the_reports_read_only_keys_the_checks_emit() -> None:
    """Every ``details`` key the report modules name is one a real check result has."""
    emitted: set[str] = set()
    for task in TASKS:
        for mature in (True, False):
            for result in suite_run(task, mature=mature).checks:
                emitted |= set(result.details)
    reports = Path(__file__).parents[1] / "monitor" / "reports"
    sources = "\n".join(p.read_text(encoding="utf-8") for p in reports.glob("*.py"))
    read = set(re.findall(r'details(?:\.get\(|\[|, )"(\w+)"', sources))
    assert {"columns", "metrics", "segments", "curve", "slo", "reliability"} <= read
    assert read <= emitted, read - emitted


def test_latency_slos_are_the_bounds_the_check_set() -> None:
    latency = suite_run("regression").check("latency")
    assert latency is not None and latency_slos(latency.details) == {"p99_ms": 60.0}
    assert latency_slos({}) == {}


def test_a_key_an_older_run_lacks_reads_as_none_and_an_unknown_one_is_ignored() -> None:
    data = stored("binary")
    drift = next(c for c in data["checks"] if c["check"] == "drift")
    for row in drift["details"]["columns"]:
        del row["minimum_detectable_shift_sd"]
        row["retired_key"] = 1
    run = ModelRun.from_dict(data)
    result = run.check("drift")
    assert result is not None
    assert all(r.minimum_detectable_shift_sd is None for r in result.details["columns"])
    assert "drifted" in render_run_report(run)


def test_a_check_that_builds_an_unknown_field_fails_loudly() -> None:
    with pytest.raises(TypeError, match="LatencySLO has no field p90_ms"):
        dt.LatencySLO.of({"p90_ms": 10.0})


def test_jsonable_writes_each_detail_under_its_json_keys() -> None:
    curve = dt.ReliabilityCurve(
        np.array([0.1, np.nan]), np.array([0.2, np.nan]), np.array([3, 0]), np.array([0.0, 0.5, 1.0])
    )
    assert jsonable({"c": curve}) == {
        "c": {
            "mean_predicted": [0.1, None],
            "fraction_positive": [0.2, None],
            "count": [3, 0],
            "bin_edges": [0.0, 0.5, 1.0],
        }
    }
    assert dt.ReliabilityCurve.from_dict(jsonable(curve)) == curve  # NaN bins compare equal
    row = dt.ClassRow.of(
        {
            "class": "a",
            "support": 10,
            "share": 0.5,
            **{
                m: {"value": 0.9, "ci_low": 0.8, "ci_high": math.nan, "reference": None, "degraded": False}
                for m in ("precision", "recall", "roc_auc")
            },
        }
    )
    out = jsonable(row)
    assert out["class"] == "a" and "reference_share" not in out and out["recall"]["ci_high"] is None
    assert dt.ClassRow.from_dict(out).recall == dt.ClassMetric(0.9, 0.8, None, None, False)


def test_a_result_built_in_a_notebook_serialises_like_a_stored_one() -> None:
    result = suite_run("multiclass").check("calibration")
    assert result is not None
    again = CheckResult.from_dict(result.to_dict())
    assert isinstance(again.details["class_reliability"]["a"], dt.ReliabilityCurve)
    assert again == result


def test_bool_and_int_categories_and_an_int_column_label_read_back() -> None:
    """A notebook frame's labels and categories are any JSON scalar: nothing is dropped on reading."""
    import pandas as pd

    from checks.drift import dataset_drift
    from checks.quality import data_quality

    rng = np.random.default_rng(0)

    def frame(p: float) -> pd.DataFrame:
        return pd.DataFrame(
            {"b": rng.random(500) < p, "i": rng.integers(0, 3, 500), 7: rng.normal(p, 1.0, 500)}
        )

    ref, cur = frame(0.3), frame(0.5)
    for result in (
        dataset_drift(ref, cur, numeric=[7], categorical=["b", "i"]),
        data_quality(ref, cur, numeric=[7], categorical=["b", "i"]),
    ):
        back = CheckResult.from_dict(json.loads(json.dumps(result.to_dict())))
        assert back == result and len(back.details["columns"]) == 3
    drift = dataset_drift(ref, cur, numeric=[], categorical=["b"])
    bins = {r.column: r.histogram.bins for r in drift.details["columns"]}
    assert bins == {"b": (False, True)}
