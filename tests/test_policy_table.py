"""Every row of the policy's decision table, on real check results, and "no action" with its reason.

The issue's cases go through the whole suite (:func:`monitor.pipeline.check_suite.run_suite`) of a model
with no configured importance: a covariate shift must get ``retrain`` in every post-shift
window, a population-mix block ``investigate_data``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from checks.drift.dataset import dataset_drift
from checks.performance import performance
from checks.quality import data_quality
from checks.result import CheckResult, Finding
from monitor.config import load_config
from monitor.pipeline.check_suite import SuiteOutcome, run_suite
from monitor.policy.decision import decide

FEATURES = [f"x{i}" for i in range(7)]
WEIGHTS = np.array([4.0, -2.5, 1.5, 1.0, 0.0, 0.0, 0.0])
START = datetime(2026, 3, 1, tzinfo=UTC)


def sample(n: int, seed: int, *, scale0: float = 1.0, shift: dict[int, float] | None = None) -> pd.DataFrame:
    """Standard normal features (x0 optionally rescaled, others shifted), labels from a fixed concept."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    x[:, 0] *= scale0
    for j, delta in (shift or {}).items():
        x[:, j] += delta
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["channel"] = rng.choice(["web", "app", "store"], n, p=[0.3, 0.5, 0.2])
    frame["label"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-(x @ WEIGHTS - 1)))).astype(float)
    return frame


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    train = sample(20000, seed=0)
    return LogisticRegression(C=10.0).fit(train[FEATURES], train["label"])


def logged(frame: pd.DataFrame, model: LogisticRegression) -> pd.DataFrame:
    """The window as the store reads it: features, score, prediction, latency and label."""
    score = model.predict_proba(frame[FEATURES])[:, 1]
    return frame.assign(
        ts=[START + timedelta(seconds=i) for i in range(len(frame))],
        score=score,
        prediction=(score >= 0.5).astype(float),
        latency_ms=12.0,
        error=False,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("policy") / "config.toml"
    path.write_text(
        f"""
[[models]]
name = "census"
[models.features]
numeric = {FEATURES!r}
categorical = ["channel"]
[models.performance]
n_resamples = 200
[models.calibration]
n_bins = 10
""",
        encoding="utf-8",
    )
    return load_config(path).models[0]


def suite(config, reference: pd.DataFrame, current: pd.DataFrame, seed: int) -> SuiteOutcome:  # type: ignore[no-untyped-def]
    return run_suite(config, reference, current, quarantined=0, window_seconds=86400, seed=seed)


def test_covariate_shift_gets_retrain_in_every_post_shift_window(config, model) -> None:  # type: ignore[no-untyped-def]
    reference = logged(sample(5000, seed=1), model)
    for k in range(4):  # the most predictive feature's spread halves, two unimportant features move
        current = logged(sample(5000, seed=10 + k, scale0=0.5, shift={5: 0.5, 6: 0.5}), model)
        outcome = suite(config, reference, current, seed=k)
        assert outcome.extra["importance_source"] == "estimated"
        decision = decide(outcome.checks)
        rec = decision.recommendation
        assert rec is not None and rec.action == "retrain", decision.no_action
        assert "roc_auc" in rec.evidence and rec.evidence["importance_source"] == "estimated"
        assert any("of the score's dependence on the features" in r for r in rec.reasons)
        assert rec.evidence["drifted_features"][0] == "x0"


def test_a_population_mix_block_gets_investigate_data(config, model) -> None:  # type: ignore[no-untyped-def]
    reference = logged(sample(5000, seed=1), model)
    block = pd.concat([sample(2500, seed=20), sample(2500, seed=21, shift=dict.fromkeys(range(7), 0.8))])
    outcome = suite(config, reference, logged(block, model), seed=0)
    by_name = {c.check: c for c in outcome.checks}
    assert by_name["calibration"].status != "alert"
    assert by_name["drift"].metrics["share_drifted"] >= 0.5 and by_name["drift"].metrics["prediction_drifted"]
    rec = decide(outcome.checks).recommendation
    assert rec is not None and rec.action == "investigate_data"
    assert rec.reasons[0].startswith("The population changed")
    assert rec.evidence["base_rate"] > rec.evidence["reference_base_rate"] + 0.05
    assert any("Calibration holds" in r for r in rec.reasons)


def test_suspect_data_gets_investigate_data_even_with_lost_ranking(model) -> None:  # type: ignore[no-untyped-def]
    reference = logged(sample(4000, seed=2), model)
    current = sample(4000, seed=3)
    broken = np.random.default_rng(3).uniform(size=len(current)) < 0.3
    current.loc[broken, "x0"] = 0.0  # an upstream default stands in for the lost value ...
    current = logged(current, model)
    current.loc[broken, "x0"] = np.nan  # ... and the log shows it missing
    quality = data_quality(reference, current, numeric=FEATURES, categorical=["channel"])
    perf = performance(
        current["label"],
        y_score=current["score"],
        task="binary",
        reference=(reference["label"], None, reference["score"]),
        n_resamples=200,
    )
    assert "roc_auc" in {f.method for f in perf.findings}
    rec = decide([quality, perf]).recommendation
    assert rec is not None and rec.action == "investigate_data"
    assert rec.reasons[0].startswith("Data quality: ") and "x0" in rec.reasons[0]
    assert rec.evidence["data_quality_findings"] == ["feature:x0 missing_share"]


def test_a_vanished_category_gets_investigate_data(model) -> None:  # type: ignore[no-untyped-def]
    reference = logged(sample(4000, seed=4), model)
    current = sample(6000, seed=5)
    current = logged(current[current["channel"] != "store"], model)
    drift = dataset_drift(reference, current, numeric=FEATURES, categorical=["channel"], prediction="score")
    concept = replace_weights(current, model)
    perf = performance(
        concept["label"],
        y_score=concept["score"],
        task="binary",
        reference=(reference["label"], None, reference["score"]),
        n_resamples=200,
    )
    rec = decide([drift, perf]).recommendation
    assert rec is not None and rec.action == "investigate_data"
    assert "Category 'store' of channel held" in rec.reasons[0]
    assert rec.evidence["vanished_categories"] == ["channel=store"]


def replace_weights(frame: pd.DataFrame, model: LogisticRegression) -> pd.DataFrame:
    """The same rows with labels from a changed concept (x0's effect reversed): ranking is lost."""
    rng = np.random.default_rng(6)
    weights = WEIGHTS * np.array([-1, 1, 1, 1, 1, 1, 1])
    margin = frame[FEATURES].to_numpy() @ weights - 1
    return frame.assign(label=(rng.uniform(size=len(frame)) < 1 / (1 + np.exp(-margin))).astype(float))


def finding(subject: str, method: str, severity: str = "alert", **evidence: object) -> Finding:
    return Finding(
        subject, method, 0.5, 0.4, severity=severity, message=f"{subject} {method}", evidence=evidence
    )


def test_threshold_metrics_that_fell_with_ranking_and_calibration_intact_get_a_stated_no_action() -> None:
    perf = CheckResult(
        "performance",
        "alert",
        metrics={"roc_auc": 0.95, "reference_roc_auc": 0.951},
        findings=(finding("model", "f1"), finding("model", "precision")),
    )
    decision = decide([perf, CheckResult("calibration", "ok", metrics={"ece": 0.01})])
    assert decision.recommendation is None
    assert decision.no_action is not None and decision.no_action.startswith("No action: f1, precision fell")
    assert "within the configured tolerance" in decision.no_action


def test_a_mild_segment_alert_gets_a_stated_no_action() -> None:
    segment = finding(
        "segment:region=north", "error_rate", flagged_against=["reference"], ratio_of_ratios=1.4, share=0.2
    )
    decision = decide([CheckResult("segments", "alert", findings=(segment,))])
    assert decision.recommendation is None
    assert "region=north is worse (ratio of ratios 1.40, 20% of the rows) but below the retrain rule" in str(
        decision.no_action
    )


def test_an_estimated_drop_other_than_ranking_waits_for_labels() -> None:
    estimated = CheckResult("estimated_performance", "warn", findings=(finding("model", "accuracy", "warn"),))
    decision = decide([estimated, CheckResult.skipped("performance", "labels not mature")])
    assert decision.recommendation is None and "labelled checks decide" in str(decision.no_action)


def test_findings_that_are_not_model_actions_say_so_and_a_clean_run_says_nothing() -> None:
    latency = CheckResult("latency", "alert", findings=(finding("latency:p99", "p99"),))
    drift = CheckResult("drift", "warn", findings=(finding("feature:x5", "ks", "warn", importance=0.01),))
    assert decide([latency, drift]).no_action == (
        "No model action: the latency, drift findings are alerts in their own right; the drifted "
        "features do not carry enough of the importance to call for retraining."
    )
    assert decide([CheckResult("drift", "ok"), CheckResult("performance", "ok")]).no_action is None


def test_a_segment_warn_is_not_a_trigger() -> None:
    small = finding(
        "segment:region=tiny", "error_rate", "warn", flagged_against=["reference"], ratio_of_ratios=3.0
    )
    decision = decide([CheckResult("segments", "warn", findings=(small,))])
    assert decision.recommendation is None and decision.no_action is not None
    assert decision.no_action.startswith("No model action: the segments findings")


def test_at_most_one_recommendation_whatever_fires() -> None:
    calibration = CheckResult(
        "calibration", "alert", metrics={"ece": 0.2}, findings=(finding("model", "ece"),)
    )
    threshold = CheckResult("threshold", "warn", findings=(finding("threshold", "f1", "warn"),))
    perf = CheckResult("performance", "alert", findings=(finding("model", "roc_auc", reference=0.9),))
    for checks in ([calibration, threshold], [calibration, threshold, perf], [threshold], [calibration]):
        decision = decide(checks)
        assert len(decision.recommendations) == 1 and decision.no_action is None
    assert decide([calibration, threshold, perf]).recommendation.action == "retrain"  # type: ignore[union-attr]
    assert decide([calibration, threshold]).recommendation.action == "recalibrate"  # type: ignore[union-attr]


def test_the_drift_result_carries_where_the_importance_came_from() -> None:
    drift = CheckResult(
        "drift",
        "warn",
        findings=(finding("feature:x0", "ks", "warn", importance=0.71),),
        details={"importance_source": "estimated"},
    )
    rec = decide([drift]).recommendation
    assert rec is not None and rec.action == "retrain"
    assert rec.reasons == (
        "The drifted features (x0) carry 71% of the score's dependence on the features (estimated on the "
        "reference window) (rule: 50%).",
    )
    configured = decide([replace(drift, details={})]).recommendation
    assert configured is not None and "71% of the feature importance" in configured.reasons[0]


@pytest.mark.parametrize("method", ["vanished_categories", "traffic_volume"])
def test_a_quality_finding_of_vanished_categories_or_traffic_makes_the_data_suspect(method: str) -> None:
    perf = CheckResult(
        "performance",
        "alert",
        metrics={"roc_auc": 0.80, "reference_roc_auc": 0.95},
        findings=(finding("model", "roc_auc"),),
    )
    quality = CheckResult("data_quality", "alert", findings=(finding("channel", method),))
    rec = decide([perf, quality]).recommendation
    assert rec is not None and rec.action == "investigate_data"
    assert rec.evidence["data_quality_findings"] == [f"channel {method}"]
    assert decide([perf]).recommendation.action == "retrain"
