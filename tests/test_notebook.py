"""The checks API for people in a notebook: the README's example runs as written, one convention
holds for every entry point, and a bad parameter is refused with its name and its plain value."""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import checks
from checks import vocabulary
from checks._params import InvalidParameter, InvalidParameterType
from checks.calibration import calibration_check
from checks.drift import column_drift, dataset_drift
from checks.estimation import estimate_performance
from checks.latency import latency_check
from checks.multiclass_calibration import multiclass_calibration_check
from checks.multiclass_estimation import multiclass_estimate
from checks.multiclass_performance import multiclass_performance
from checks.performance import performance
from checks.prior_shift import class_prior_shift
from checks.quality import data_quality
from checks.segments import segment_check, wilson_interval
from checks.threshold import threshold_check

ROOT = Path(__file__).resolve().parents[1]

#: Entry point -> the array-level functions that compute it (same option names and defaults).
COMPUTED_BY = {
    "drift": (dataset_drift,),
    "data_quality": (data_quality,),
    "latency": (latency_check,),
    "performance": (performance, multiclass_performance),
    "estimated_performance": (estimate_performance, multiclass_estimate),
    "calibration": (calibration_check, multiclass_calibration_check),
    "segments": (segment_check,),
    "threshold": (threshold_check,),
    "class_prior": (class_prior_shift,),
}


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_notebook_example_runs_as_written_and_prints_what_the_readme_shows() -> None:
    section = readme_section("Use the checks in a notebook")
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    shown = re.search(r"prints\n\n```text\n(.*?)```", section, re.S)[1]
    namespace: dict[str, object] = {"__name__": "readme"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), namespace)

    assert out.getvalue() == shown
    results = namespace["results"]
    assert {name: r.check for name, r in results.items()} == {name: name for name in results}
    drift, perf, calibration, segments = (
        results[k] for k in ("drift", "performance", "calibration", "segments")
    )
    assert drift.status == "alert" and "feature:amount" in {f.subject for f in drift.findings}
    assert "feature:country" not in {f.subject for f in drift.findings}  # the mix did not move
    assert perf.status == "alert" and "roc_auc" in {f.method for f in perf.findings}
    assert perf.metrics["n"] == 5000 and perf.metrics["n_reference"] == 20000
    assert calibration.status == "alert" and calibration.metrics["ece_delta"] > 0.01
    assert [f.subject for f in segments.findings] == ["segment:country=BR"]

    # The entry points are the array-level functions on the frames' columns: same numbers.
    reference, current = namespace["reference"], namespace["current"]
    same = calibration_check(
        current["label"], current["score"], reference=(reference["label"], reference["score"])
    )
    assert same.metrics == calibration.metrics


def test_every_check_has_an_entry_point_with_the_one_convention() -> None:
    assert set(checks.ENTRY_POINTS) == set(vocabulary.CHECKS) == set(COMPUTED_BY)
    assert set(checks.ENTRY_POINTS) <= set(checks.__all__)
    for name in checks.ENTRY_POINTS:
        params = list(inspect.signature(getattr(checks, name)).parameters.values())
        assert [p.name for p in params[:2]] == ["reference", "current"], name
        assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params[:2]), name
        assert all(p.kind is p.KEYWORD_ONLY for p in params[2:]), name


@pytest.mark.parametrize("name", sorted(COMPUTED_BY))
def test_entry_points_keep_the_defaults_of_the_functions_that_compute_them(name: str) -> None:
    entry = inspect.signature(getattr(checks, name)).parameters
    for func in COMPUTED_BY[name]:
        for option, param in inspect.signature(func).parameters.items():
            shared = option in entry and entry[option].kind is param.KEYWORD_ONLY
            if shared and param.kind is param.KEYWORD_ONLY and param.default is not param.empty:
                assert entry[option].default == param.default, (name, func.__name__, option)


def test_the_entry_points_win_over_the_modules_of_the_same_name_in_any_import_order() -> None:
    program = (
        "import sys, checks.vocabulary, checks.result\n"
        "assert 'pandas' not in sys.modules and 'scipy' not in sys.modules\n"
        "import checks.performance, checks.drift.column\n"
        "from checks.performance import METRICS\n"
        "from checks import drift, performance\n"
        "assert callable(checks.performance) and performance.__module__ == 'checks.frames'\n"
        "assert drift.__name__ == 'drift' and checks.segments.__name__ == 'segments'\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def window() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    score = rng.uniform(size=400)
    return pd.DataFrame(
        {
            "label": (rng.uniform(size=400) < score).astype(int),
            "score": score,
            "country": rng.choice(["DE", "FR"], 400),
            "latency_ms": rng.lognormal(3, 0.5, 400),
        }
    )


#: A bad parameter, the error it raises and how its message starts: the parameter as the caller
#: spelled it, the function and the value received, in plain form.
BAD_PARAMETERS = [
    # the parameter as the caller spelled it (calibration_check's is y_score, not y_prob)
    (
        lambda w, y, s: calibration_check(y, s * 1.5),
        InvalidParameter,
        "'y_score' of calibration_check must lie in [0, 1]; got [",
    ),
    (
        lambda w, y, s: calibration_check(y * 2, s),
        InvalidParameter,
        "'y_true' of calibration_check must hold only 0 and 1; got [2.0]",
    ),
    (
        lambda w, y, s: calibration_check(y, s, reference=(y[:5], s)),
        InvalidParameter,
        "'reference[0]' and 'reference[1]' of calibration_check differ in length: 5 != 400",
    ),
    # plain values, never numpy reprs
    (
        lambda w, y, s: calibration_check(y, s, n_bins=np.int64(0)),
        InvalidParameter,
        "'n_bins' of calibration_check must be >= 1; got 0",
    ),
    (
        lambda w, y, s: performance(y, y_score=s, task="binary", confidence=np.float64(1.5)),
        InvalidParameter,
        "'confidence' of performance must be > 0.0 and < 1.0; got 1.5",
    ),
    (
        lambda w, y, s: performance(y, y_score=s, task="binary", n_resamples=0),
        InvalidParameter,
        "'n_resamples' of performance must be >= 1; got 0",
    ),
    (
        lambda w, y, s: performance(y, y_score=s, task="binary", n_resamples=2.5),
        InvalidParameterType,
        "'n_resamples' of performance must be an integer; got 2.5 (float)",
    ),
    (
        lambda w, y, s: performance(y, y_score=s, task="binary", alpha="0.05"),
        InvalidParameterType,
        "'alpha' of performance must be a number; got '0.05' (str)",
    ),
    # range checks that were missing
    (
        lambda w, y, s: threshold_check(y, s, current_threshold=1.5),
        InvalidParameter,
        "'current_threshold' of threshold_check must be >= 0.0 and <= 1.0; got 1.5",
    ),
    (
        lambda w, y, s: threshold_check(y, s + 1, current_threshold=0.5),
        InvalidParameter,
        "'y_score' of threshold_check must lie in [0, 1]; got [",
    ),
    (
        lambda w, y, s: segment_check(
            w, segments=["country"], y_true="label", y_score="score", threshold=-0.1
        ),
        InvalidParameter,
        "'threshold' of segment_check must be >= 0.0 and <= 1.0; got -0.1",
    ),
    (
        lambda w, y, s: segment_check(
            w, segments=["country"], y_true="label", y_score="score", n_resamples=0
        ),
        InvalidParameter,
        "'n_resamples' of segment_check must be >= 1; got 0",
    ),
    (
        lambda w, y, s: wilson_interval(3, 10, confidence=1.0),
        InvalidParameter,
        "'confidence' of wilson_interval must be > 0.0 and < 1.0; got 1.0",
    ),
    (
        lambda w, y, s: latency_check(None, w["latency_ms"], window_seconds=60, slo_p99_ms=-5),
        InvalidParameter,
        "'slo_p99_ms' of latency_check must be > 0.0; got -5",
    ),
    (
        lambda w, y, s: latency_check(None, w["latency_ms"], window_seconds=60, max_error_rate=2),
        InvalidParameter,
        "'max_error_rate' of latency_check must be >= 0.0 and <= 1.0; got 2",
    ),
    (
        lambda w, y, s: column_drift(s, s, threshold=0),
        InvalidParameter,
        "'threshold' of column_drift must be > 0.0; got 0",
    ),
    (
        lambda w, y, s: column_drift(s, s, n_bins=1),
        InvalidParameter,
        "'n_bins' of column_drift must be >= 2; got 1",
    ),
    # the entry points name the frame and the column
    (
        lambda w, y, s: checks.performance(w, w.assign(label=2), label="label", score="score"),
        InvalidParameter,
        "\"current['label']\" of performance must hold only 0 and 1; got [2.0]",
    ),
    (
        lambda w, y, s: checks.calibration(w, w, label="label", score="p"),
        InvalidParameter,
        "'current' of calibration lacks columns ['p']",
    ),
    (
        lambda w, y, s: checks.segments(None, w.to_numpy(), by=["country"], label="label", score="score"),
        InvalidParameterType,
        "'current' of segments must be a DataFrame; got ndarray",
    ),
    (
        lambda w, y, s: checks.performance(w, w, label="label", score="score", task="ranking"),
        InvalidParameter,
        "'task' of performance must be one of ['binary', 'multiclass', 'regression']; got 'ranking'",
    ),
    (
        lambda w, y, s: checks.threshold(None, w, label="label", score="score", current_threshold=1.5),
        InvalidParameter,
        "'current_threshold' of threshold_check must be >= 0.0 and <= 1.0; got 1.5",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_PARAMETERS, ids=[m for _, _, m in BAD_PARAMETERS])
def test_a_bad_parameter_is_refused_with_its_name_and_plain_value(
    window: pd.DataFrame, call: Callable[..., object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        call(window, window["label"].to_numpy(), window["score"].to_numpy())
    text = str(raised.value)
    assert text.startswith(message), text
    assert "np." not in text and "array(" not in text
    assert isinstance(raised.value, ValueError | TypeError)


def test_one_references_style_in_every_docstring() -> None:
    """numpydoc: a ``References`` section of ``.. [n]`` entries, cited as ``[n]_``."""
    found = 0
    for path in sorted((ROOT / "checks").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "[^" not in text, path
        for section in re.findall(r"References\n\s*-+\n(.*?)(?:\n\s*\n|\"\"\")", text, re.S):
            lines = [line for line in section.splitlines() if line.strip()]
            indent = len(lines[0]) - len(lines[0].lstrip())
            entries = [line for line in lines if len(line) - len(line.lstrip()) == indent]
            continued = [line for line in lines if len(line) - len(line.lstrip()) != indent]
            assert all(re.match(r"\s*\.\. \[\d+\] ", e) for e in entries), (path, section)
            assert all(len(c) - len(c.lstrip()) == indent + 3 for c in continued), (path, section)
            found += 1
    assert found >= 18


def test_every_entry_point_runs_on_frames_and_produces_its_check() -> None:
    """Binary, regression and multiclass windows; unlabelled rows left out; ``reference=None``."""
    rng = np.random.default_rng(1)

    def binary(n: int) -> pd.DataFrame:
        s = rng.uniform(size=n)
        return pd.DataFrame(
            {
                "x": rng.normal(size=n),
                "c": rng.choice(["a", "b"], n),
                "label": (rng.uniform(size=n) < s).astype(float),
                "score": s,
                "latency_ms": rng.lognormal(3, 0.5, n),
                "err": rng.uniform(size=n) < 0.01,
            }
        )

    def multiclass(n: int) -> pd.DataFrame:
        p = rng.dirichlet([1, 1, 1], n)
        y = np.array(["a", "b", "c"])[(rng.uniform(size=(n, 1)) > p.cumsum(axis=1)).sum(axis=1)]
        return pd.DataFrame({"label": y, "p_a": p[:, 0], "p_b": p[:, 1], "p_c": p[:, 2]})

    ref, cur = binary(1500), binary(1000)
    cur.loc[:9, "label"] = np.nan
    mref, mcur = multiclass(1000), multiclass(1000)
    probs, classes = ["p_a", "p_b", "p_c"], ["a", "b", "c"]
    results = [
        checks.drift(ref, cur, numeric=["x"], categorical=["c"], prediction="score"),
        checks.data_quality(ref, cur, numeric=["x"]),
        checks.latency(ref, cur, window_seconds=3600, error="err", slo_p99_ms=100),
        checks.latency(None, cur, window_seconds=3600),
        checks.performance(ref, cur, label="label", score="score", n_resamples=200),
        checks.performance(None, cur.assign(pred=cur.x), label="x", prediction="pred", task="regression"),
        checks.performance(mref, mcur, label="label", score=probs, classes=classes, task="multiclass"),
        checks.estimated_performance(ref, cur, score="score", n_resamples=100),
        checks.estimated_performance(mref, mcur, score=probs, classes=classes, n_resamples=100),
        checks.calibration(ref, cur, label="label", score="score", n_resamples=50),
        checks.calibration(mref, mcur, label="label", score=probs, classes=classes, n_resamples=50),
        checks.segments(None, cur, by=["c"], label="label", score="score"),
        checks.threshold(None, cur, label="label", score="score", current_threshold=0.5, n_resamples=50),
        checks.class_prior(mref, mcur, label="label", score=probs, classes=classes),
    ]
    assert [r.check for r in results] == [
        "drift",
        "data_quality",
        "latency",
        "latency",
        "performance",
        "performance",
        "performance",
        "estimated_performance",
        "estimated_performance",
        "calibration",
        "calibration",
        "segments",
        "threshold",
        "class_prior",
    ]
    assert all(r.status != "skipped" for r in results)
    assert results[4].metrics["n"] == 990 and results[4].metrics["n_reference"] == 1500
    assert "per_class" in results[6].details and "classwise_ece" in results[10].metrics
