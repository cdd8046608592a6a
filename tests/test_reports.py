"""Run reports: content, numbers against scipy/scikit-learn, chart geometry, escaping, robustness."""

from __future__ import annotations

import doctest
import html
import importlib
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import f1_score

from checks.result import CheckResult, ModelRun
from monitor.reports import adapters, model_slug, render_run_report, report_relpath, write_run_report
from monitor.reports.fmt import ms, num, pvalue
from monitor.reports.markup import el, esc, json_script
from tests import report_fixtures as fx


@pytest.fixture(scope="module")
def history() -> list[ModelRun]:
    return fx.model_history(4)


@pytest.fixture(scope="module")
def page(history: list[ModelRun]) -> str:
    return render_run_report(history[-1], history=history)


def section(page: str, check: str) -> str:
    match = re.search(rf'<section class="dw-card" id="check-{check}">(.*?)</section>', page, re.S)
    assert match, f"no section for {check}"
    return match.group(1)


def svgs(text: str) -> dict[str, str]:
    """Charts by their label (aria-label)."""
    return {
        html.unescape(m[0]): m[1]
        for m in re.findall(r'<svg class="dw-plot"[^>]*aria-label="([^"]*)"[^>]*>(.*?)</svg>', text, re.S)
    }


def table_row(text: str, name: str) -> str:
    match = re.search(
        rf'<tr[^>]*><td><span class="dw-name"[^>]*>{re.escape(str(esc(name)))}</span></td>(.*?)</tr>',
        text,
        re.S,
    )
    assert match, f"no row for {name}"
    return match.group(1)


# --- naming -------------------------------------------------------------------------------------------------


def test_report_relpath_is_sortable_safe_and_known_before_writing(tmp_path: Path) -> None:
    run = fx.full_run()
    assert report_relpath(run) == "fraud-detector/20260310T060000Z-run42.html"
    assert write_run_report(run, tmp_path) == tmp_path / report_relpath(run)
    naive = replace(run, window_end=datetime(2026, 3, 10, 6, 0), run_id=None)
    assert report_relpath(naive) == "fraud-detector/20260310T060000Z-adhoc.html"
    earlier = replace(run, window_end=datetime(2026, 3, 9, 23, 0, tzinfo=UTC), run_id=99)
    assert sorted([report_relpath(run), report_relpath(earlier)])[0] == report_relpath(earlier)


@pytest.mark.parametrize(
    "model", ["../../etc", "a/b", "<script>", "index.html", ".hidden", "", "模型", "a b"]
)
def test_model_slug_is_a_single_safe_distinct_path_segment(model: str) -> None:
    slug = model_slug(model)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", slug), slug
    assert not slug.endswith(".html")
    assert slug != model_slug(model + "x")


# --- escaping -----------------------------------------------------------------------------------------------


def test_markup_escapes_text_attributes_and_json() -> None:
    assert str(el("a", fx.XSS, title='"><x', href="?a=1&b=2")) == (
        '<a title="&quot;&gt;&lt;x" href="?a=1&amp;b=2">&lt;script&gt;alert(1)&lt;/script&gt;</a>'
    )
    block = json_script("d", {"k": "</script><!--"})
    inner = block.removeprefix('<script type="application/json" id="d">').removesuffix("</script>")
    assert "<" not in inner and json.loads(inner) == {"k": "</script><!--"}


def test_hostile_names_render_as_text_only(page: str, history: list[ModelRun]) -> None:
    assert fx.XSS not in page and fx.XSS_DOM not in page and "<img" not in page
    assert page.count("<script") == 2  # the page's own script and the JSON data block
    assert str(esc(fx.XSS)) in section(page, "drift")
    assert str(esc(fx.XSS_DOM)) in section(page, "segments")
    chart_titles = svgs(section(page, "drift"))
    assert any(title.startswith(fx.XSS) for title in chart_titles)  # SVG text escaped, still readable
    data = re.search(r'<script type="application/json" id="dw-run">(.*?)</script>', page, re.S)
    assert data and json.loads(data.group(1)) == json.loads(json.dumps(history[-1].to_dict()))


def test_header_fields_render_as_text_only(page: str, history: list[ModelRun]) -> None:
    """The header's model version (from the logs) and reference description carry hostile values."""
    header = page[page.index("<header") : page.index("</header>")]
    run = history[-1]
    assert fx.XSS_DOM in str(run.model_version) and fx.XSS in str(run.reference)
    assert f"version 2026.02.1 {esc(fx.XSS_DOM)}" in header and f"file: {esc(fx.XSS)}" in header
    assert f"run {run.run_id}" in header and "window 20" in header
    assert fx.XSS_DOM not in header and fx.XSS not in header


def test_hostile_model_name_is_escaped_everywhere(tmp_path: Path) -> None:
    run = replace(fx.labels_pending_run(), model=fx.XSS_DOM)
    path = write_run_report(run, tmp_path)
    text = path.read_text()
    assert path.parent.parent == tmp_path and fx.XSS_DOM not in text and str(esc(fx.XSS_DOM)) in text


# --- summary ------------------------------------------------------------------------------------------------


def test_summary_says_what_is_wrong_how_sure_and_what_to_do(page: str, history: list[ModelRun]) -> None:
    summary = re.search(r'<section class="dw-card" id="summary">(.*?)</section>', page, re.S).group(1)
    run = history[-1]
    assert "Retrain the model" in summary and "Recalibrate the probabilities" in summary
    for rec in run.recommendations:
        for reason in rec.reasons:
            assert str(esc(reason)) in summary
    assert "artifacts/fraud-detector/platt-run42.json" in summary
    tiles = re.findall(r'<a href="#check-([\w-]+)" class="dw-tile dw-(\w+)">', summary)
    assert dict(tiles) == {c.check: c.status for c in run.checks}
    assert "What was found" in summary and "p99 latency" in summary


def test_skipped_checks_show_their_reason(tmp_path: Path) -> None:
    run = fx.labels_pending_run()
    text = write_run_report(run, tmp_path, history=fx.model_history(3)).read_text()
    for check in ("performance", "calibration", "segments", "threshold"):
        body = section(text, check)
        assert "Skipped: " in body and "label coverage 12% &lt; 50%" in body
    assert "roc_auc" in section(text, "estimated_performance")


# --- numbers against independent computations ---------------------------------------------------------------


def test_drift_table_ranked_by_effect_with_scipy_statistics(page: str) -> None:
    body = section(page, "drift")
    names = [
        html.unescape(n) for n in re.findall(r'<tr[^>]*><td><span class="dw-name"[^>]*>(.*?)</span>', body)
    ]
    rows = {r.column: r for r in fx.drift_result().details["columns"]}
    assert names[: len(rows)] == sorted(rows, key=lambda n: -rows[n].effect_size)
    for name, (ref, cur) in fx.feature_samples(0).items():
        ks = stats.ks_2samp(ref, cur)
        row = table_row(body, name)
        assert f">{num(ks.statistic)}<" in row and f">{pvalue(ks.pvalue)}<" in row
        effect = stats.wasserstein_distance(ref, cur) / np.std(ref)
        assert f">{num(effect)}<" in row
    assert len(rows) == fx.N_FEATURES
    assert f"<b>{sum(r.drifted for r in rows.values())} of {fx.N_FEATURES}</b><span>features drifted" in body


def test_drift_histograms_draw_numpy_shares(page: str) -> None:
    ref, cur = fx.feature_samples(0)["amount"]
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=12)
    shares = np.histogram(ref, bins=edges)[0] / len(ref)
    chart = next(v for k, v in svgs(section(page, "drift")).items() if k.startswith("amount"))
    bars = re.findall(r'<rect[^>]*height="([\d.]+)" fill="#94a3b8"', chart)
    heights = np.array([float(h) for h in bars])
    assert len(heights) == 12
    np.testing.assert_allclose(heights / heights.max(), shares / shares.max(), atol=0.01)
    tips = re.findall(r"\) reference: ([\d.]+)%", chart)
    np.testing.assert_allclose([float(t) for t in tips], 100 * shares, rtol=2e-3, atol=1e-3)


def test_latency_matches_numpy_percentiles_and_marks_the_slo(page: str) -> None:
    rng = np.random.default_rng(0)
    p99 = np.percentile(rng.lognormal(np.log(40 * 2.2), 0.5, 5000), 99)
    body = section(page, "latency")
    assert f"<b>{ms(p99)}</b><span>p99 (SLO 250 ms)" in body
    assert 'class="dw-bad"><b>' + ms(p99) in body  # above the SLO: shown as bad
    assert "p99 SLO 250 ms" in body  # the SLO rule on the trend chart


def test_reliability_diagram_plots_sklearn_calibration_curve(page: str) -> None:
    y, p = fx.classifier_data(0)
    frac, pred = calibration_curve(y, p, n_bins=10)
    chart = next(v for k, v in svgs(section(page, "calibration")).items() if k.startswith("Reliability"))
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="3.5" fill="#2563eb"', chart)
    xs = (np.array([float(c[0]) for c in circles]) - 52) / (520 - 16 - 52)
    ys = (420 - 34 - np.array([float(c[1]) for c in circles])) / (420 - 34 - 44)
    np.testing.assert_allclose(xs, pred, atol=0.002)
    np.testing.assert_allclose(ys, frac, atol=0.002)
    assert "after recalibration" in chart


def test_threshold_marks_the_sklearn_best_f1_threshold(page: str) -> None:
    y, p = fx.classifier_data(0, miscalibration=0.0)
    thresholds = np.round(np.linspace(0.05, 0.95, 19), 4)
    best = thresholds[int(np.argmax([f1_score(y, p >= t) for t in thresholds]))]
    body = section(page, "threshold")
    assert f"<b>{num(best)}</b><span>proposed threshold" in body
    assert f"proposed {num(best, 3)}" in body and "current 0.7" in body


def test_performance_shows_intervals_and_trends(page: str) -> None:
    body = section(page, "performance")
    assert "0.84 [0.82, 0.86]" in body and "0.91 [0.9, 0.92]" in body and "degraded" in body
    charts = svgs(body)
    assert set(charts) >= {"roc_auc", "f1"}
    assert (
        "realised" in charts["roc_auc"]
        and "estimated" in charts["roc_auc"]
        and "<polygon" in charts["roc_auc"]
    )


def test_segments_worst_first_with_support_and_interval(page: str) -> None:
    body = section(page, "segments")
    assert body.index("country = ") < body.index("channel = mobile") < body.index("channel = web")
    assert ">120<" in body and "0.71 [0.64, 0.78]" in body and body.count('data-kind="interval"') == 3


def test_unknown_check_renders_generically(page: str) -> None:
    body = section(page, "prediction_volume")
    assert "Per hour" in body and "50" in body


# --- robustness ---------------------------------------------------------------------------------------------


def bare_run(*checks: CheckResult) -> ModelRun:
    return ModelRun(
        "m", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC), {}, checks, run_id=1
    )


MALFORMED = [
    {"columns": "oops"},
    {"columns": [{"column": None, "reference": [1, "x"], "current": None, "drifted": "yes"}]},
    {"columns": [{"feature": "a", "distribution": {"reference": {"x": 0.5}, "current": {"y": 1}}}]},
    {"metrics": {"auc": {"value": "NaN", "ci_low": None}}},
    {"reliability": {"mean_predicted": [0.1], "fraction_positive": []}, "recalibration": {"method": None}},
    {"reliability": {"mean_predicted": [0.1, None], "fraction_positive": [0.2, 0.3]}},
    {"curve": {"thresholds": [0.1, None], "objective": [1]}, "gain_ci": [1]},
    {"curve": [1, 2, 3], "proposed": "high"},
    {"segments": [{}, {"support": "many"}]},
    {"slo": 5},
    {"slo": {"p99": {"threshold": "x"}, "error_rate": 0.1}},
    {},
]


@pytest.mark.parametrize("details", MALFORMED)
@pytest.mark.parametrize(
    "check", ["drift", "data_quality", "latency", "performance", "calibration", "segments", "threshold"]
)
def test_malformed_details_render_without_fallback(
    check: str, details: dict, caplog: pytest.LogCaptureFixture
) -> None:
    run = bare_run(CheckResult.from_dict({"check": check, "status": "warn", "details": details}))
    with caplog.at_level(logging.WARNING, logger="driftwatch.reports"):
        text = render_run_report(run)
    assert f'id="check-{check}"' in text and not caplog.records


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(
    [
        "columns",
        "metrics",
        "reliability",
        "recalibrated_reliability",
        "recalibration",
        "segments",
        "curve",
        "current",
        "proposed",
        "gain_ci",
        "slo",
        "features",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    check=st.sampled_from(
        [
            "drift",
            "data_quality",
            "latency",
            "performance",
            "estimated_performance",
            "calibration",
            "segments",
            "threshold",
            "other",
        ]
    ),
    details=st.dictionaries(keys, json_values, max_size=4),
    metrics=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
)
def test_any_details_never_crash_the_report(check: str, details: dict, metrics: dict) -> None:
    stored = {"check": check, "status": "alert", "details": details, "metrics": metrics}
    run = bare_run(CheckResult.from_dict(stored))
    assert "</html>" in render_run_report(run)


# --- files --------------------------------------------------------------------------------------------------


def test_evidently_report_is_linked_and_copied_beside_when_outside(tmp_path: Path) -> None:
    outside = tmp_path / "evidently.html"
    outside.write_text("<html>evidently</html>")
    reports = tmp_path / "reports"
    path = write_run_report(fx.labels_pending_run(), reports, evidently_html=outside)
    copy = path.with_name(path.name.removesuffix(".html") + ".evidently.html")
    assert copy.read_text() == "<html>evidently</html>"
    assert f'href="{copy.name}"' in path.read_text()
    inside = reports / "shared" / "ev.html"
    inside.parent.mkdir()
    inside.write_text("x")
    path = write_run_report(fx.labels_pending_run(), reports, evidently_html=inside)
    assert 'href="../shared/ev.html"' in path.read_text()


def test_report_with_25_features_is_small_and_self_contained(tmp_path: Path, history: list[ModelRun]) -> None:
    path = write_run_report(history[-1], tmp_path, history=history)
    text = path.read_text()
    size = path.stat().st_size
    print(f"run report size with {fx.N_FEATURES} features and {len(history)} runs of history: {size} bytes")
    assert size < 1_000_000
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from anywhere
    assert "@import" not in text and "url(" not in text


@pytest.mark.parametrize("module", ["markup", "fmt", "svg", "adapters", "run_report"])
def test_docstring_examples(module: str) -> None:
    """The doctests of monitor/reports (pytest's --doctest-modules covers only tests/ and checks/)."""
    result = doctest.testmod(importlib.import_module(f"monitor.reports.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_renders_the_drift_check_as_it_is_computed() -> None:
    """Contract with checks.drift: its real details draw as ranked rows and histograms, no fallback."""
    from checks.drift import dataset as drift

    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"amount": rng.normal(0, 1, 800), "country": rng.choice(["DE", "FR", fx.XSS], 800)})
    cur = pd.DataFrame({"amount": rng.normal(1, 1, 700), "country": rng.choice(["DE", "FR"], 700)})
    result = drift.dataset_drift(ref, cur, numeric=["amount"], categorical=["country"])
    columns = adapters.drift_columns(result.details)
    kinds = {c.column: d.kind for c in columns if (d := adapters.distribution(c)) is not None}
    assert kinds == {"amount": "numeric", "country": "categorical"}
    assert all(c.significance_p_adjusted is not None and c.effect_size is not None for c in columns)
    text = render_run_report(bare_run(result))
    kinds = re.findall(r'data-kind="(histogram|categories)"', section(text, "drift"))
    assert sorted(kinds) == ["categories", "histogram"] and fx.XSS not in text
    assert str(esc(fx.XSS)) in section(text, "drift")


def test_drift_table_says_which_clause_decided_and_what_was_detectable() -> None:
    """Statistic and threshold, effect with noise floor and threshold, p adj., the clause, the power."""
    from checks.drift import dataset as drift

    rng = np.random.default_rng(4)
    grades = ["A", "B", "C"]
    ref = pd.DataFrame(
        {"amount": rng.normal(0, 1e-3, 5000), "grade": rng.choice(grades, 5000, p=[0.1, 0.45, 0.45])}
    )
    cur = pd.DataFrame(
        {"amount": rng.normal(0, 1e-3, 5000), "grade": rng.choice(grades, 5000, p=[0.01, 0.5, 0.49])}
    )
    result = drift.dataset_drift(ref, cur, numeric=["amount"], categorical=["grade"])
    rows = {r.column: r for r in result.details["columns"]}
    body = section(render_run_report(bare_run(result)), "drift")
    for name, row in rows.items():
        cells = table_row(body, name)
        for value in ("statistic", "threshold", "noise_floor", "effect_threshold", "effect_size"):
            assert f">{num(getattr(row, value))}<" in cells, (name, value)
        assert f">{pvalue(row.significance_p_adjusted)}<" in cells and f">{esc(row.reason)}<" in cells
    assert rows["grade"].reason.startswith("drifted: effect") and rows["amount"].reason.startswith(
        "not drifted"
    )
    detectable = f"{num(rows['amount'].minimum_detectable_shift_sd)} SD"
    assert f">{detectable}<" in table_row(body, "amount")
    tooltip = re.search(r'<span class="dw-name" title="([^"]*)">amount</span>', body)
    assert tooltip and f"could have seen a change of {detectable} or more (80% power)" in html.unescape(
        tooltip[1]
    )


def test_renders_the_latency_check_with_its_breached_slo() -> None:
    """Contract with checks.latency: percentiles against numpy, and the SLO read from its finding."""
    from checks.latency import latency_check

    rng = np.random.default_rng(0)
    ref = rng.lognormal(3.0, 0.5, 5000)
    result = latency_check(ref, ref * 1.5, window_seconds=3600, slo_p99_ms=80)
    body = section(render_run_report(bare_run(result)), "latency")
    p99 = np.percentile(ref * 1.5, 99)
    assert f'<div class="dw-bad"><b>{ms(p99)}</b><span>p99 (SLO 80 ms)' in body


def test_calibration_by_segment_lists_the_miscalibrated_segment_first_with_its_diagram(page: str) -> None:
    body = section(page, "calibration")
    assert "Calibration by segment" in body
    table = body[body.index("Calibration by segment") :]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]
    assert "country = BR" in rows[0] and "<b>yes</b>" in rows[0]
    assert all("<b>yes</b>" not in row for row in rows[1:])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table and "<script>alert(1)" not in table
    assert "Reliability: country = BR" in svgs(body)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", rows_html := table[: table.index("</tr>")])
    cells = re.findall(r"<td[^>]*>", re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1])
    assert len(headers) == len(cells), rows_html
