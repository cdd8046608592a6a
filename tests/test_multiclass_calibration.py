"""Multiclass calibration measures, the check's rule, temperature/vector scaling and prior correction."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from checks._params import InvalidParameter
from checks.multiclass_calibration import multiclass_calibration, multiclass_calibration_check
from checks.temperature import (
    MulticlassRecalibrator,
    fit_temperature,
    fit_vector_scaling,
    prior_correction,
    propose_multiclass_recalibration,
)
from tests.multiclass_world import CLASSES, softmax, world


def hand_ece(y01: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE with bins (e[k-1], e[k]] written out row by row."""
    edges = np.linspace(0, 1, n_bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (p > lo) & (p <= hi) if lo > 0 else (p >= lo) & (p <= hi)
        if inside.any():
            total += inside.sum() * abs(p[inside].mean() - y01[inside].mean())
    return total / len(p)


def test_measures_match_hand_computation_and_sklearn() -> None:
    y, p, _ = world(2000, seed=1, temperature=0.6)
    m = multiclass_calibration(y, p, classes=CLASSES)
    top, correct = p.max(axis=1), (CLASSES[p.argmax(axis=1)] == y).astype(float)
    assert m.top_label_ece == pytest.approx(hand_ece(correct, top), abs=1e-12)
    per_class = [hand_ece((y == c).astype(float), p[:, k]) for k, c in enumerate(CLASSES)]
    assert m.classwise_ece == pytest.approx(np.mean(per_class), abs=1e-12)
    assert m.class_ece["b"] == pytest.approx(per_class[1], abs=1e-12)
    assert m.brier == pytest.approx(skm.brier_score_loss(y, p, labels=CLASSES), abs=1e-12)
    # The generalised decomposition holds exactly (sum over the one-vs-rest columns).
    identity = (
        m.reliability - m.resolution + m.uncertainty + m.within_bin_variance - 2 * m.within_bin_covariance
    )
    assert identity == pytest.approx(m.brier, abs=1e-12)
    shares = np.array([np.mean(y == c) for c in CLASSES])
    assert m.uncertainty == pytest.approx(1 - np.sum(shares**2), abs=1e-12)


def test_per_class_reliability_curves_are_sklearns() -> None:
    y, p, _ = world(2000, seed=2)
    y_ref, p_ref, _ = world(2000, seed=3)
    r = multiclass_calibration_check(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=100)
    for k, c in enumerate(CLASSES):
        frac, mean = calibration_curve(y == c, p[:, k], n_bins=10)
        curve = r.details["class_reliability"][c]
        filled = curve.count > 0
        assert np.allclose(curve.fraction_positive[filled], frac)
        assert np.allclose(curve.mean_predicted[filled], mean)
    assert set(r.details["class_reliability_reference"]) == {"a", "b", "c"}
    assert len(r.details["reliability"].count) == 10


def test_calibrated_windows_are_ok_and_overconfidence_alerts() -> None:
    y_ref, p_ref, _ = world(6000, seed=4)
    y, p, _ = world(3000, seed=5)
    ok = multiclass_calibration_check(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=300)
    assert ok.status == "ok", ok.findings
    y, p, _ = world(3000, seed=5, temperature=0.5)  # over-confident in every bin
    bad = multiclass_calibration_check(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=300)
    methods = {f.method for f in bad.findings}
    assert bad.status == "alert" and {"ece_delta", "classwise_ece_delta"} <= methods
    f = next(f for f in bad.findings if f.method == "ece_delta")
    assert f.evidence["ci_low"] > 0 and f.statistic >= 0.02
    assert bad.metrics["mean_confidence"] > bad.metrics["accuracy"]


def test_the_noise_correction_keeps_a_small_calibrated_window_quiet() -> None:
    # A 300-row window's ECE is larger by noise alone than a 10,000-row reference's.
    y_ref, p_ref, _ = world(10000, seed=6)
    quiet = 0
    for seed in range(10, 18):
        y, p, _ = world(300, seed=seed)
        r = multiclass_calibration_check(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=200)
        assert r.metrics["ece"] > r.metrics["reference_ece"]  # raw ECE is inflated...
        quiet += r.status == "ok"
    assert quiet >= 7  # ...but counted beyond noise, calibration holds


def test_temperature_scaling_recovers_the_temperature_and_round_trips_as_json() -> None:
    y, p, _ = world(6000, seed=7, temperature=0.5)
    r = fit_temperature(y, p, classes=CLASSES)
    assert r.params["temperature"] == pytest.approx(2.0, rel=0.08)
    doc = json.loads(json.dumps(r.to_json()))
    assert doc["format"] == "driftwatch.multiclass_recalibrator" and doc["version"] == 1 and "apply" in doc
    again = MulticlassRecalibrator.from_json(doc)
    # The documented formula, by hand.
    a, b = np.asarray(doc["params"]["a"]), np.asarray(doc["params"]["b"])
    by_hand = softmax(a * np.log(np.clip(p[:5], doc["params"]["eps"], 1)) + b)
    assert np.allclose(again.apply(p[:5]), by_hand)
    assert (again.apply(p).argmax(axis=1) == p.argmax(axis=1)).all()  # temperature keeps the arg-max
    with pytest.raises(InvalidParameter, match="version"):
        MulticlassRecalibrator.from_json({**doc, "version": 9})


def test_vector_scaling_is_chosen_only_when_it_validates_better() -> None:
    y, p, _ = world(6000, seed=8, temperature=0.5)
    plain = propose_multiclass_recalibration(y, p, np.arange(6000), classes=CLASSES)
    assert plain.improved and plain.method == "temperature"
    assert plain.after["log_loss"] < plain.before["log_loss"] and plain.after["ece"] < plain.before["ece"]
    assert set(plain.candidates) == {"temperature", "vector"}
    # A per-class bias temperature cannot undo: vector scaling validates better.
    y, p, _ = world(6000, seed=9, model_priors=(0.7, 0.2, 0.1))
    biased = propose_multiclass_recalibration(y, p, np.arange(6000), classes=CLASSES)
    assert biased.method == "vector" and biased.improved
    assert biased.candidates["vector"]["log_loss"] < biased.candidates["temperature"]["log_loss"]
    vector = fit_vector_scaling(y, p, classes=CLASSES)
    assert vector.params["b"][0] < 0 < vector.params["b"][2]  # undoes the over-weighted class a


def test_a_calibrated_model_gets_no_proposal() -> None:
    y, p, _ = world(4000, seed=10)
    proposal = propose_multiclass_recalibration(y, p, np.arange(4000), classes=CLASSES)
    assert not proposal.improved and proposal.recalibrator is None and "no method" in proposal.reason


def test_prior_correction_by_hand() -> None:
    r = prior_correction([0.5, 0.25, 0.25], [0.25, 0.25, 0.5], classes=CLASSES)
    p = np.array([[0.5, 0.3, 0.2]])
    w = np.array([0.5, 1.0, 2.0])
    assert np.allclose(r.apply(p), p * w / (p * w).sum())
    assert r.to_json()["method"] == "prior_correction"
    with pytest.raises(InvalidParameter, match="positive priors"):
        prior_correction([0.5, 0.5, 0.0], [0.2, 0.3, 0.5], classes=CLASSES)
