"""Multiclass CBPE, the class-prior shift check and the prior-correction policy rule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from checks.estimation import expected_metrics
from checks.multiclass_estimation import expected_multiclass_metrics, multiclass_estimate
from checks.prior_shift import class_prior_shift, em_priors
from checks.result import CheckResult, Finding
from monitor.pipeline.check_suite import run_suite
from monitor.policy.class_prior import prior_correction
from monitor.policy.decision import recommend
from tests.conftest import START, make_config
from tests.multiclass_world import CLASSES, world
from tests.test_multiclass_scenario import multiclass_model


def test_point_estimates_by_hand() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5]])
    m = expected_multiclass_metrics(p, classes=CLASSES)
    assert m["accuracy"] == pytest.approx((0.7 + 0.6 + 0.8 + 0.5) / 4)
    # class a: predicted twice, expected TP 1.3, expected members 1.6 -> F1 2.6 / 3.6
    f1 = [2 * 1.3 / (2 + 1.6), 2 * 0.8 / (1 + 1.6), 2 * 0.5 / (1 + 0.8)]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    assert m["roc_auc"] == pytest.approx(np.mean([expected_metrics(p[:, k])["roc_auc"] for k in range(3)]))


def test_a_calibrated_window_s_realised_metrics_fall_in_the_interval() -> None:
    covered = {"accuracy": 0, "macro_f1": 0, "roc_auc": 0}
    for seed in range(8):
        y, p, _ = world(1500, seed=seed)
        r = multiclass_estimate(p, classes=CLASSES, n_resamples=200, seed=seed)
        pred = CLASSES[p.argmax(axis=1)]
        realised = {
            "accuracy": skm.accuracy_score(y, pred),
            "macro_f1": skm.f1_score(y, pred, average="macro"),
            "roc_auc": skm.roc_auc_score(y, p, multi_class="ovr", labels=CLASSES),
        }
        for name, value in realised.items():
            covered[name] += r.metrics[f"{name}_ci_low"] <= value <= r.metrics[f"{name}_ci_high"]
    assert all(c >= 7 for c in covered.values()), covered


def test_compared_like_for_like_with_the_reference_estimate() -> None:
    _, p_ref, _ = world(3000, seed=20)
    baseline = expected_multiclass_metrics(p_ref, classes=CLASSES)
    _, same, _ = world(3000, seed=21)
    assert multiclass_estimate(same, classes=CLASSES, reference=baseline, n_resamples=300).status == "ok"
    _, vaguer, _ = world(3000, seed=22, sep=0.6, model_sep=0.6)  # inputs drifted to where the model is unsure
    r = multiclass_estimate(vaguer, classes=CLASSES, reference=baseline, n_resamples=300)
    assert r.status == "warn"
    assert {f.method for f in r.findings} >= {"accuracy", "macro_f1", "roc_auc"}
    assert all(f.severity == "warn" and f.evidence["estimated"] for f in r.findings)


def label_shift(seed: int) -> tuple[tuple, tuple]:
    ref = world(6000, seed=seed)[:2]
    cur = world(6000, seed=seed + 1, shares=(0.6, 0.3, 0.1))[:2]
    return ref, cur


def test_em_recovers_the_new_priors_from_the_probabilities() -> None:
    _, (_, p) = label_shift(30)
    priors, _ = em_priors(p, [1 / 3, 1 / 3, 1 / 3])
    assert np.allclose(priors, [0.6, 0.3, 0.1], atol=0.03)


def test_a_label_shift_is_found_and_the_correction_validates() -> None:
    ref, (y, p) = label_shift(40)
    r = class_prior_shift(y, p, classes=CLASSES, reference=ref)
    assert r.status == "alert" and r.findings[0].method == "prior_shift"
    correction = r.details["correction"]
    assert correction["improved"] and correction["log_loss_after"] < correction["log_loss_before"]
    assert np.allclose(correction["label_share_priors"], [0.6, 0.3, 0.1], atol=0.02)
    assert r.details["artifact"]["method"] == "prior_correction"
    assert r.metrics["max_conditional_ks"] < 0.1


def test_no_shift_and_a_shift_within_classes_are_not_prior_shifts() -> None:
    ref = world(6000, seed=50)[:2]
    same = world(6000, seed=51)[:2]
    assert class_prior_shift(*same, classes=CLASSES, reference=ref).status == "ok"
    # The mix moved and so did the scores within each class (the classes overlap more now).
    moved = world(6000, seed=52, shares=(0.6, 0.3, 0.1), sep=0.7)[:2]
    r = class_prior_shift(*moved, classes=CLASSES, reference=ref)
    assert r.status == "ok" and r.details["conditional_moved"] and "not a prior shift" in r.details["note"]


def performance_result(auc_finding: bool) -> CheckResult:
    findings = [
        Finding(
            subject="model", method="macro_f1", statistic=0.6, threshold=0.67, severity="alert", message="m"
        )
    ]
    if auc_finding:
        findings.append(
            Finding(
                subject="model", method="roc_auc", statistic=0.7, threshold=0.8, severity="alert", message="a"
            )
        )
    metrics = {"roc_auc": 0.81 if not auc_finding else 0.7, "reference_roc_auc": 0.82}
    return CheckResult(check="performance", status="alert", metrics=metrics, findings=tuple(findings))


def test_policy_recommends_a_prior_correction_only_with_ranking_intact() -> None:
    ref, (y, p) = label_shift(60)
    prior = class_prior_shift(y, p, classes=CLASSES, reference=ref)
    (rec,) = recommend([prior, performance_result(auc_finding=False)])
    assert rec.action == "correct_priors"
    assert np.allclose(rec.evidence["new_priors"], [0.6, 0.3, 0.1], atol=0.02)
    assert rec.evidence["log_loss_after"] < rec.evidence["log_loss_before"]
    assert any("model: macro_f1" in reason for reason in rec.reasons)  # explained, no retrain
    (rec,) = recommend([prior, performance_result(auc_finding=True)])
    assert rec.action == "retrain"
    assert prior_correction({"class_prior": prior}) is None  # ranking not verified: no correction


def suite_frame(seed: int, *, labelled: bool, **shift: float) -> pd.DataFrame:
    y, p, x = world(2000, seed=seed, **shift)
    frame = pd.DataFrame(
        {
            "ts": [START + timedelta(seconds=s) for s in range(2000)],
            "prediction": CLASSES[p.argmax(axis=1)],
            "latency_ms": 10.0,
            "error": False,
            "label": y if labelled else None,
        }
    )
    for k in range(3):
        frame[f"p_{k}"], frame[f"x{k}"] = p[:, k], x[:, k]
    return frame


def test_before_labels_mature_the_suite_estimates_and_the_policy_reads_the_estimate(tmp_path: Path) -> None:
    model = make_config("sqlite:///unused.db", tmp_path, [multiclass_model("triage")]).models[0]
    reference = suite_frame(70, labelled=True)
    current = suite_frame(71, labelled=False, sep=0.6)  # inputs moved to where the model is unsure
    outcome = run_suite(model, reference, current, quarantined=0, window_seconds=86400, seed=0)
    by_name = {c.check: c for c in outcome.checks}
    assert by_name["class_prior"].status == by_name["calibration"].status == "skipped"
    estimated = by_name["estimated_performance"]
    assert estimated.status == "warn" and {"roc_auc", "macro_f1"} <= {f.method for f in estimated.findings}
    assert estimated.metrics["reference_accuracy"] == pytest.approx(
        expected_multiclass_metrics(reference[["p_0", "p_1", "p_2"]].to_numpy(), classes=CLASSES)["accuracy"]
    )
    recs = recommend([c for c in outcome.checks if c.check != "drift"])  # the estimate alone
    assert [r.action for r in recs] == ["retrain"] and recs[0].reasons[0].startswith("Estimated")
