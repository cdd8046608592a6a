import itertools

import numpy as np
import pytest
from sklearn import metrics as skm

from checks._params import InvalidParameter
from checks.bootstrap import percentile_interval
from checks.details import Detail
from checks.estimation import ESTIMATED_METRICS, estimate_performance, expected_metrics

SKLEARN = {
    "roc_auc": lambda y, p, s: skm.roc_auc_score(y, s),
    "accuracy": lambda y, p, s: skm.accuracy_score(y, p),
    "precision": lambda y, p, s: skm.precision_score(y, p, zero_division=0),
    "recall": lambda y, p, s: skm.recall_score(y, p, zero_division=0),
    "f1": lambda y, p, s: skm.f1_score(y, p, zero_division=0),
}


def by_name(result):
    return {m["name"]: m for m in map(Detail.to_dict, result.details["metrics"])}


def test_expected_confusion_metrics_and_auc_match_exhaustive_enumeration():
    s = np.array([0.9, 0.7, 0.7, 0.4, 0.2, 0.55])  # includes a tie
    pred = (s >= 0.5).astype(int)
    sums = dict.fromkeys(["tp", "fp", "fn", "correct", "concordant", "pairs"], 0.0)
    for labels in itertools.product([0, 1], repeat=len(s)):
        y = np.array(labels)
        prob = np.prod(np.where(y == 1, s, 1 - s))
        cm = skm.confusion_matrix(y, pred, labels=[0, 1])
        sums["tp"] += prob * cm[1, 1]
        sums["fp"] += prob * cm[0, 1]
        sums["fn"] += prob * cm[1, 0]
        sums["correct"] += prob * (cm[0, 0] + cm[1, 1])
        n_pos = y.sum()
        if 0 < n_pos < len(y):
            pairs = n_pos * (len(y) - n_pos)
            sums["concordant"] += prob * skm.roc_auc_score(y, s) * pairs
            sums["pairs"] += prob * pairs
    est = expected_metrics(s, threshold=0.5)
    assert est["accuracy"] == pytest.approx(sums["correct"] / len(s))
    assert est["precision"] == pytest.approx(sums["tp"] / (sums["tp"] + sums["fp"]))
    assert est["recall"] == pytest.approx(sums["tp"] / (sums["tp"] + sums["fn"]))
    assert est["f1"] == pytest.approx(2 * sums["tp"] / (2 * sums["tp"] + sums["fp"] + sums["fn"]))
    assert est["roc_auc"] == pytest.approx(sums["concordant"] / sums["pairs"])


@pytest.mark.parametrize("decimals", [2, None])
def test_interval_is_the_percentiles_of_sklearn_metrics_on_simulated_labels(decimals):
    # Rounded scores: every cell holds equal scores (exact draws); unrounded: 300 distinct scores
    # in rank groups. Either way the interval is that of sklearn's metrics on labels drawn row by
    # row, within Monte Carlo error (3,000 simulations against 1,000).
    s = np.random.default_rng(1).beta(2, 3, 300)
    s[:20] = 0.5  # ties in the ranking
    if decimals is not None:
        s = np.round(s, decimals)
    r = estimate_performance(s, threshold=0.4, n_resamples=3000, seed=7)
    rows = by_name(r)
    pred = (s >= 0.4).astype(int)
    draws = (np.random.default_rng(8).random((1000, s.size)) < s).astype(int)
    for name, fn in SKLEARN.items():
        realised = np.array([fn(y, pred, s) for y in draws])
        low, high = percentile_interval(realised)
        sd = realised.std()
        assert rows[name]["ci_low"] == pytest.approx(low, abs=0.3 * sd), name
        assert rows[name]["ci_high"] == pytest.approx(high, abs=0.3 * sd), name
        assert rows[name]["estimated"] is True
        assert rows[name]["value"] == pytest.approx(np.mean(realised), abs=0.1 * sd), name
    assert r.status == "ok" and r.findings == ()


def test_calibrated_model_realised_metrics_land_in_the_interval_for_at_least_90_percent_of_windows():
    inside = dict.fromkeys(ESTIMATED_METRICS, 0)
    for seed in range(50):
        rng = np.random.default_rng(500 + seed)
        s = rng.beta(2, 4, 800)
        y = (rng.random(800) < s).astype(int)  # labels drawn from the scores: calibrated
        rows = by_name(estimate_performance(s, threshold=0.35, n_resamples=400, seed=seed))
        pred = (s >= 0.35).astype(int)
        for name, fn in SKLEARN.items():
            inside[name] += rows[name]["ci_low"] <= fn(y, pred, s) <= rows[name]["ci_high"]
    assert all(count >= 45 for count in inside.values()), inside


def test_miscalibrated_model_gives_biased_estimates_documented_limitation():
    misses, bias = 0, []
    for seed in range(20):
        rng = np.random.default_rng(900 + seed)
        q = rng.beta(2, 5, 1000)
        y = (rng.random(1000) < q).astype(int)
        s = np.sqrt(q)  # the model over-states P(y=1)
        rows = by_name(estimate_performance(s, threshold=0.5, n_resamples=300, seed=seed))
        realised = skm.precision_score(y, (s >= 0.5).astype(int))
        misses += not rows["precision"]["ci_low"] <= realised <= rows["precision"]["ci_high"]
        bias.append(rows["precision"]["value"] - realised)
    assert misses >= 18
    assert np.mean(bias) > 0.2  # optimistic: it believes its over-stated scores


def test_estimated_degradation_versus_reference_is_a_warning():
    s = np.random.default_rng(2).uniform(0.3, 0.7, 2000)  # weak ranking: expected AUC about 0.6
    r = estimate_performance(s, reference={"roc_auc": 0.85, "accuracy": 0.5}, n_resamples=300)
    assert r.status == "warn"
    (f,) = r.findings
    assert f.method == "roc_auc" and f.subject == "model" and f.severity == "warn"
    assert f.threshold == pytest.approx(0.83)
    assert f.evidence["estimated"] is True and f.p_value < 0.05
    assert r.metrics["reference_roc_auc"] == 0.85
    assert by_name(r)["accuracy"]["degraded"] is False


def test_empty_window_is_skipped_and_bad_scores_rejected():
    assert estimate_performance([]).status == "skipped"
    with pytest.raises(InvalidParameter, match=r"probabilities in \[0, 1\]"):
        estimate_performance([0.2, 1.5])
    with pytest.raises(InvalidParameter, match="'threshold' of estimate_performance"):
        estimate_performance([0.2], threshold=2.0)
    with pytest.raises(InvalidParameter, match="unknown metrics"):
        estimate_performance([0.2], min_delta={"rmse": 1.0})
