"""The policy on real check results of a real scikit-learn model in each situation it must tell apart."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from checks.calibration import calibration_check
from checks.drift.dataset import dataset_drift
from checks.estimation import estimate_performance
from checks.performance import performance, performance_metrics
from checks.result import CheckResult
from checks.segments import segment_check
from checks.threshold import threshold_check
from monitor.policy.decision import PolicyRules, recommend

FEATURES = [f"x{i}" for i in range(6)]
WEIGHTS = np.array([2.0, -1.5, 1.0, 0.5, 0.0, 0.0])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def sample(
    n: int, seed: int, *, weights: np.ndarray = WEIGHTS, shift: dict[int, float] | None = None
) -> pd.DataFrame:
    """Standard normal features (optionally shifted) and labels drawn from a logistic concept."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    for j, delta in (shift or {}).items():
        x[:, j] += delta
    df = pd.DataFrame(x, columns=FEATURES)
    df["channel"] = rng.choice(["web", "app", "store"], n, p=[0.3, 0.5, 0.2])
    df["y"] = (rng.uniform(size=n) < sigmoid(x @ weights)).astype(int)
    return df


@dataclass
class Deployed:
    model: LogisticRegression
    reference: pd.DataFrame
    threshold: float
    importance: dict[str, float]

    def score(self, frame: pd.DataFrame, model: LogisticRegression | None = None) -> pd.DataFrame:
        out = frame.copy()
        out["score"] = (model or self.model).predict_proba(frame[FEATURES])[:, 1]
        out["pred"] = (out["score"] >= self.threshold).astype(int)
        return out


@pytest.fixture(scope="module")
def deployed() -> Deployed:
    train = sample(5000, seed=0)
    model = LogisticRegression().fit(train[FEATURES], train["y"])
    reference = sample(5000, seed=1)
    reference["score"] = model.predict_proba(reference[FEATURES])[:, 1]
    tuned = threshold_check(reference["y"], reference["score"], current_threshold=0.5, n_resamples=20)
    threshold = tuned.metrics["proposed_threshold"]
    reference["pred"] = (reference["score"] >= threshold).astype(int)
    raw = np.abs(model.coef_[0]) * train[FEATURES].std().to_numpy()
    return Deployed(model, reference, threshold, dict(zip(FEATURES, raw / raw.sum(), strict=True)))


def run_checks(d: Deployed, current: pd.DataFrame) -> list[CheckResult]:
    ref, y, s = d.reference, current["y"], current["score"]
    return [
        performance(y, y_score=s, task="binary", reference=(ref["y"], None, ref["score"]), n_resamples=300),
        calibration_check(y, s, reference=(ref["y"], ref["score"]), n_resamples=300),
        threshold_check(y, s, current_threshold=d.threshold, n_resamples=200),
        dataset_drift(
            ref,
            current,
            numeric=FEATURES,
            categorical=["channel"],
            prediction="score",
            importance=d.importance,
        ),
        segment_check(current, ref, segments=["channel"], y_true="y", y_pred="pred"),
    ]


def actions(recommendations) -> list[str]:
    return [r.action for r in recommendations]


def test_stationary_window_recommends_nothing(deployed: Deployed) -> None:
    checks = run_checks(deployed, deployed.score(sample(4000, seed=2)))
    assert recommend(checks) == ()


def test_shifted_scores_with_intact_ranking_recommend_recalibration(deployed: Deployed) -> None:
    broken = copy.deepcopy(deployed.model)
    broken.intercept_ = broken.intercept_ + 1.5  # e.g. a bad deployment adds a constant to the margin
    current = deployed.score(sample(4000, seed=3), model=broken)
    checks = run_checks(deployed, current)
    by_name = {c.check: c for c in checks}
    assert by_name["calibration"].status == "alert"
    assert not [f for f in by_name["performance"].findings if f.method == "roc_auc"]
    (rec,) = recommend(checks)
    assert rec.action == "recalibrate" and rec.artifact is None
    assert rec.evidence["ece"] > rec.evidence["reference_ece"]
    assert rec.evidence["roc_auc"] == pytest.approx(by_name["performance"].metrics["roc_auc"])
    assert any("Ranking holds" in r for r in rec.reasons)
    assert by_name["threshold"].status == "warn"  # the distorted scores also move the best threshold ...
    assert any("follows from the distorted scores" in r for r in rec.reasons)  # ... which is not retuned
    json.dumps(rec.to_dict())


def test_class_balance_shift_with_stable_ranking_recommends_a_new_threshold(deployed: Deployed) -> None:
    pool = sample(20000, seed=4)
    positives, negatives = pool[pool.y == 1], pool[pool.y == 0]
    current = deployed.score(pd.concat([negatives.iloc[:3400], positives.iloc[:600]]))  # 50% -> 15% positives
    checks = run_checks(deployed, current)
    by_name = {c.check: c for c in checks}
    assert by_name["threshold"].status == "warn"
    assert not [f for f in by_name["performance"].findings if f.method == "roc_auc"]
    (rec,) = recommend(checks)
    assert rec.action == "retune_threshold"
    assert rec.evidence["proposed_threshold"] == by_name["threshold"].metrics["proposed_threshold"]
    assert rec.evidence["proposed_threshold"] > rec.evidence["current_threshold"]
    assert rec.evidence["base_rate"] == pytest.approx(0.15)
    assert rec.reasons[0].startswith("The class balance shifted")
    assert by_name["drift"].status == "alert"  # the new class mix moves the important features too ...
    assert any("does not call for retraining" in r for r in rec.reasons)  # ... which the policy explains


def test_concept_drift_recommends_retraining_and_supersedes_the_rest(deployed: Deployed) -> None:
    concept = WEIGHTS * np.array([-1.0, 1.0, -1.0, 1.0, 1.0, 1.0])
    current = deployed.score(sample(4000, seed=5, weights=concept))
    checks = run_checks(deployed, current)
    (rec,) = recommend(checks)
    assert rec.action == "retrain"
    assert rec.evidence["roc_auc"] < rec.evidence["reference_roc_auc"] - 0.1
    assert "lost predictive power" in rec.reasons[0]
    assert {c.check: c.status for c in checks if c.check in ("calibration", "threshold")} == {
        "calibration": "alert",
        "threshold": "warn",
    }
    assert "supersedes recalibration" in rec.reasons[-1] and "threshold retune" in rec.reasons[-1]


def test_heavy_drift_in_important_features_recommends_retraining(deployed: Deployed) -> None:
    current = deployed.score(sample(4000, seed=6, shift={0: 1.5, 1: -1.5}))
    checks = run_checks(deployed, current)
    (rec,) = recommend(checks)
    assert rec.action == "retrain"
    assert rec.evidence["drifted_features"][:2] == ["x0", "x1"]
    assert rec.evidence["drifted_importance_share"] >= 0.5


def test_drift_of_unimportant_features_recommends_nothing(deployed: Deployed) -> None:
    current = deployed.score(sample(4000, seed=7, shift={5: 1.0}))
    checks = run_checks(deployed, current)
    drift = next(c for c in checks if c.check == "drift")
    assert [f.subject for f in drift.findings] == ["feature:x5"]
    assert recommend(checks) == ()


def test_only_a_severe_segment_degradation_recommends_retraining(deployed: Deployed) -> None:
    def with_broken_channel(corruption: float, seed: int) -> CheckResult:
        current = sample(6000, seed=seed)
        web = current["channel"] == "web"
        rng = np.random.default_rng(seed)
        broken = web & (rng.uniform(size=len(current)) < corruption)  # a web client bug flips the sign of x0
        current.loc[broken, "x0"] = -current.loc[broken, "x0"]
        current = deployed.score(current)
        return segment_check(current, deployed.reference, segments=["channel"], y_true="y", y_pred="pred")

    severe = with_broken_channel(1.0, seed=8)
    assert severe.findings[0].subject == "segment:channel=web"
    (rec,) = recommend([severe])
    assert rec.action == "retrain" and rec.evidence["severe_segments"][0]["ratio"] >= 2
    mild = with_broken_channel(0.25, seed=9)
    assert mild.findings[0].subject == "segment:channel=web"
    assert mild.status == "warn" and mild.findings[0].evidence["alert_ratio"] < 1.5  # below the page rule
    assert recommend([mild]) == ()


def test_estimated_loss_of_ranking_without_labels_recommends_retraining(deployed: Deployed) -> None:
    current = sample(4000, seed=10)
    current[FEATURES] = current[FEATURES] * 0.3  # rows crowd near the decision boundary: harder to rank
    current = deployed.score(current)
    reference_auc = performance_metrics(
        deployed.reference["y"], y_score=deployed.reference["score"], task="binary"
    )
    label_free = estimate_performance(
        current["score"], reference={"roc_auc": reference_auc["roc_auc"]}, n_resamples=300
    )
    assert [f.method for f in label_free.findings if f.method == "roc_auc"] == ["roc_auc"]
    no_labels = CheckResult.skipped("performance", "no mature labels")
    (rec,) = recommend([label_free, no_labels])
    assert rec.action == "retrain" and rec.reasons[0].startswith("Estimated")
    assert rec.evidence["roc_auc_source"] == "estimated_performance"
    assert recommend([label_free, no_labels], rules=PolicyRules(retrain_metrics=frozenset({"rmse"}))) == ()
    assert recommend([label_free, no_labels], rules=PolicyRules(use_estimated_performance=False)) == ()


def test_a_degradation_shared_by_every_segment_is_not_a_severe_segment(deployed: Deployed) -> None:
    # Every channel's error doubles (labels flipped at random everywhere), and web a little more:
    # web is worse than its reference by far more than 2x, but only ~1.5x beyond the rest's change.
    current = deployed.score(sample(20000, seed=11))
    rng = np.random.default_rng(11)
    base_error = float((deployed.reference["y"] != deployed.reference["pred"]).mean())
    noise = np.where(current["channel"] == "web", 2.5, 1.5) * base_error
    flip = rng.uniform(size=len(current)) < noise
    current.loc[flip, "y"] = 1 - current.loc[flip, "y"]
    result = segment_check(current, deployed.reference, segments=["channel"], y_true="y", y_pred="pred")
    web = next(f for f in result.findings if f.subject == "segment:channel=web")
    assert web.statistic / web.evidence["reference_value"] >= 2  # what the old rule measured
    assert "reference" in web.evidence["flagged_against"] and web.evidence["ratio_of_ratios"] < 2
    assert recommend([result]) == ()
