import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from checks import metric_kernels
from checks._params import InvalidParameter
from checks.bootstrap import bootstrap_distribution, percentile_interval, poisson_weights
from checks.details import Detail
from checks.labels import label_coverage
from checks.performance import LabelledWindow, holm_adjusted, performance, performance_metrics

BINARY = {
    "roc_auc": lambda y, s, p, **kw: skm.roc_auc_score(y, s, **kw),
    "pr_auc": lambda y, s, p, **kw: skm.average_precision_score(y, s, **kw),
    "f1": lambda y, s, p, **kw: skm.f1_score(y, p, zero_division=0, **kw),
    "precision": lambda y, s, p, **kw: skm.precision_score(y, p, zero_division=0, **kw),
    "recall": lambda y, s, p, **kw: skm.recall_score(y, p, zero_division=0, **kw),
    "accuracy": lambda y, s, p, **kw: skm.accuracy_score(y, p, **kw),
    "log_loss": lambda y, s, p, **kw: skm.log_loss(y, s, labels=[0, 1], **kw),
    "brier": lambda y, s, p, **kw: skm.brier_score_loss(y, s, labels=[0, 1], **kw),
}


def binary_window(n, shift, seed, *, ties=False):
    """Scores sorted ascending (so the check's internal sort is the identity), labels 0/1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    z = rng.normal(size=n) + shift * y
    s = 1 / (1 + np.exp(-z))
    if ties:
        s = np.round(s, 1)
    order = np.argsort(s, kind="stable")
    return y[order], s[order]


def by_name(result):
    return {m["name"]: m for m in map(Detail.to_dict, result.details["metrics"])}


@pytest.mark.parametrize("ties", [False, True])
def test_binary_values_and_intervals_match_sklearn_on_the_same_resamples(ties, monkeypatch):
    # Up to MAX_GROUPS distinct scores the cells are exact: a resample's Poisson count of each
    # distinct (score, label, prediction) row is a sample weight for scikit-learn.
    monkeypatch.setattr(metric_kernels, "MAX_GROUPS", 400)
    y, s = binary_window(400, 1.0, seed=1, ties=ties)
    r = performance(y, y_score=s, task="binary", threshold=0.6, n_resamples=60, seed=3)
    rows = by_name(r)
    p = (s >= 0.6).astype(int)
    cells = np.unique(np.c_[s, y, p], axis=0)  # the kernel's cell order: score, label, prediction
    us, uy, up = cells[:, 0], cells[:, 1].astype(int), cells[:, 2].astype(int)
    sizes = [np.sum((s == a) & (y == b) & (p == c)) for a, b, c in zip(us, uy, up, strict=True)]
    seq_cur, _ = np.random.SeedSequence(3).spawn(2)
    w = poisson_weights(sizes, n_resamples=60, rng=np.random.default_rng(seq_cur))
    for name, fn in BINARY.items():
        assert rows[name]["value"] == pytest.approx(fn(y, s, p), abs=1e-12)
        assert r.metrics[name] == rows[name]["value"]
        plain = [fn(uy, us, up, sample_weight=wr) for wr in w]
        low, high = percentile_interval(plain)
        assert rows[name]["ci_low"] == pytest.approx(low, abs=1e-9), name
        assert rows[name]["ci_high"] == pytest.approx(high, abs=1e-9), name
        assert rows[name]["estimated"] is False


def test_multiclass_values_and_intervals_match_sklearn():
    rng = np.random.default_rng(2)
    classes = np.array(["a", "b", "c"])
    proba = rng.dirichlet([2, 2, 2], 300)
    y = np.array([rng.choice(classes, p=q) for q in proba])
    r = performance(y, y_score=proba, task="multiclass", classes=classes, n_resamples=50, seed=1)
    rows = by_name(r)
    pred = classes[proba.argmax(axis=1)]
    fns = {
        "accuracy": lambda yy, pp, qq: skm.accuracy_score(yy, pp),
        "macro_f1": lambda yy, pp, qq: skm.f1_score(yy, pp, labels=classes, average="macro", zero_division=0),
        "log_loss": lambda yy, pp, qq: skm.log_loss(yy, qq, labels=classes),
    }
    seq_cur, _ = np.random.SeedSequence(1).spawn(2)
    for name, fn in fns.items():
        assert rows[name]["value"] == pytest.approx(fn(y, pred, proba), abs=1e-12)
        low, high = percentile_interval(
            bootstrap_distribution(fn, y, pred, proba, n_resamples=50, seed=seq_cur)
        )
        assert (rows[name]["ci_low"], rows[name]["ci_high"]) == pytest.approx((low, high), abs=1e-9), name


def test_regression_values_and_intervals_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, 3.0, 300)
    pred = y + rng.normal(0, 1.5, 300)
    r = performance(y, pred, task="regression", n_resamples=60, seed=2)
    rows = by_name(r)
    fns = {
        "rmse": skm.root_mean_squared_error,
        "mae": skm.mean_absolute_error,
        "mape": skm.mean_absolute_percentage_error,
        "r2": skm.r2_score,
    }
    seq_cur, _ = np.random.SeedSequence(2).spawn(2)
    for name, fn in fns.items():
        assert rows[name]["value"] == pytest.approx(fn(y, pred), rel=1e-12)
        low, high = percentile_interval(bootstrap_distribution(fn, y, pred, n_resamples=60, seed=seq_cur))
        assert (rows[name]["ci_low"], rows[name]["ci_high"]) == pytest.approx((low, high), rel=1e-9), name


def test_nominal_95_interval_covers_the_true_auc_in_90_to_99_percent_of_draws():
    shift = 1.0
    true_auc = stats.norm.cdf(shift / np.sqrt(2))  # binormal model, equal variances
    covered = 0
    for seed in range(100):
        y, s = binary_window(300, shift, seed=100 + seed)
        rows = by_name(performance(y, y_score=s, task="binary", n_resamples=200, seed=seed))
        covered += rows["roc_auc"]["ci_low"] <= true_auc <= rows["roc_auc"]["ci_high"]
    assert 0.90 <= covered / 100 <= 0.99


def test_auc_drop_that_is_material_and_significant_alerts_with_evidence():
    ref = binary_window(2000, 2.0, seed=10)
    cur = binary_window(2000, 1.0, seed=11)
    r = performance(cur[0], y_score=cur[1], task="binary", reference=LabelledWindow(ref[0], y_score=ref[1]))
    assert r.status == "alert"
    f = next(f for f in r.findings if f.method == "roc_auc")
    ref_auc = skm.roc_auc_score(*ref)
    assert f.subject == "model"
    assert f.severity == "alert"
    assert f.statistic == pytest.approx(skm.roc_auc_score(*cur))
    assert f.threshold == pytest.approx(ref_auc - 0.02)
    assert f.p_value < 0.05
    assert f.evidence["reference"] == pytest.approx(ref_auc)
    assert f.evidence["n"] == 2000 and f.evidence["n_reference"] == 2000
    assert f.evidence["ci_low"] <= f.statistic <= f.evidence["ci_high"]
    assert f.evidence["delta"] == pytest.approx(f.statistic - ref_auc)
    row = by_name(r)["roc_auc"]
    assert row["degraded"] is True and row["direction"] == "higher_is_better"
    assert row["reference_ci_low"] < ref_auc < row["reference_ci_high"]
    assert r.metrics["reference_roc_auc"] == pytest.approx(ref_auc)
    assert r.to_dict()["details"]["metrics"][0]["name"] == "roc_auc"


def test_improvement_is_never_a_finding():
    ref = binary_window(2000, 1.0, seed=12)
    cur = binary_window(2000, 2.0, seed=13)
    r = performance(cur[0], y_score=cur[1], task="binary", reference=(ref[0], None, ref[1]))
    assert r.status == "ok"
    assert not any(m["degraded"] for m in map(Detail.to_dict, r.details["metrics"]))


def test_rmse_rise_alerts_and_rmse_fall_does_not():
    rng = np.random.default_rng(4)
    y_ref, y_cur = rng.normal(size=1500), rng.normal(size=1500)
    good_ref = (y_ref, y_ref + rng.normal(0, 1.0, 1500))
    worse = performance(y_cur, y_cur + rng.normal(0, 1.3, 1500), task="regression", reference=good_ref)
    assert {f.method for f in worse.findings} >= {"rmse", "mae"}
    rmse = next(f for f in worse.findings if f.method == "rmse")
    ref_rmse = skm.root_mean_squared_error(*good_ref)
    assert rmse.threshold == pytest.approx(ref_rmse * 1.1)
    better = performance(y_cur, y_cur + rng.normal(0, 0.7, 1500), task="regression", reference=good_ref)
    assert better.status == "ok"


def test_tiny_but_significant_change_at_large_n_is_not_material():
    ref = binary_window(60_000, 1.50, seed=20)
    cur = binary_window(60_000, 1.42, seed=21)
    ref_values = performance_metrics(ref[0], y_score=ref[1], task="binary")
    r = performance(cur[0], y_score=cur[1], task="binary", reference=ref_values, n_resamples=200)
    row = by_name(r)["roc_auc"]
    assert row["p_value"] < 0.01  # significant...
    assert 0 < -row["delta"] < row["min_delta"]  # ...but below the materiality bar
    assert row["degraded"] is False and r.status == "ok"


def test_material_but_insignificant_change_at_small_n_is_not_flagged():
    ref = binary_window(5000, 1.5, seed=30)
    cur = binary_window(40, 1.2, seed=33)
    r = performance(cur[0], y_score=cur[1], task="binary", reference=(ref[0], None, ref[1]))
    row = by_name(r)["roc_auc"]
    assert -row["delta"] >= row["min_delta"]
    assert row["p_value"] >= 0.05 and r.status == "ok"


def test_precomputed_reference_and_min_delta_override():
    y, s = binary_window(1000, 1.0, seed=5)
    r = performance(y, y_score=s, task="binary", reference={"roc_auc": 0.9}, min_delta={"roc_auc": 0.01})
    f = r.findings[0]
    assert f.method == "roc_auc" and f.threshold == pytest.approx(0.89)
    assert by_name(r)["roc_auc"]["reference_ci_low"] is None
    assert "n_reference" not in r.metrics


def test_y_pred_comes_from_threshold_and_labels_only_metrics_without_scores():
    y, s = binary_window(300, 1.0, seed=6)
    with_scores = by_name(performance(y, y_score=s, task="binary", threshold=0.7, n_resamples=20))
    only_pred = by_name(performance(y, (s >= 0.7).astype(int), task="binary", n_resamples=20))
    assert set(only_pred) == {"f1", "precision", "recall", "accuracy"}
    assert only_pred["f1"]["value"] == with_scores["f1"]["value"]


def test_single_class_window_reports_undefined_auc_without_crashing():
    r = performance(
        np.zeros(50, int), y_score=np.linspace(0, 1, 50), task="binary", reference={"roc_auc": 0.8}
    )
    assert np.isnan(by_name(r)["roc_auc"]["value"])
    assert r.to_dict()["details"]["metrics"][0]["value"] is None


def test_empty_window_is_skipped():
    r = performance([], y_score=[], task="binary")
    assert r.status == "skipped" and "no labelled rows" in r.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"y_true": [0, 2], "y_score": [0.1, 0.2], "task": "binary"},
            r"'y_true' of performance must hold only 0 and 1; got \[2.0\]",
        ),
        (
            {"y_true": [0, 1], "y_score": [0.1, 1.2], "task": "binary"},
            r"'y_score' of performance must lie in \[0, 1\]; got \[1.2\]",
        ),
        ({"y_true": [0, 1], "task": "binary"}, "needs 'y_pred' or 'y_score'"),
        ({"y_true": [0, 1], "y_score": [0.1, 0.2], "task": "ranking"}, "'task' of performance"),
        ({"y_true": [1.0, 2.0], "task": "regression"}, "needs y_pred"),
        ({"y_true": ["a", "b"], "y_score": [[0.5, 0.5]], "task": "multiclass"}, "probability matrix"),
        (
            {"y_true": [0, 1], "y_score": [0.1, 0.2], "task": "binary", "min_delta": {"auc": 0.1}},
            "unknown metrics",
        ),
    ],
)
def test_bad_input_is_rejected(kwargs, message):
    with pytest.raises(InvalidParameter, match=message):
        performance(**kwargs)


def test_label_coverage_decides_maturity():
    assert label_coverage(1000, 600) == (
        True,
        None,
        {"n_predictions": 1000, "n_labelled": 600, "label_coverage": 0.6},
    )
    mature, reason, _ = label_coverage(1000, 300)
    assert not mature and reason.startswith("label coverage 30.0% < 50.0%")
    mature, reason, _ = label_coverage(150, 150)
    assert not mature and reason == "only 150 labelled predictions (< 200)"
    assert label_coverage(0, 0).reason == "no predictions in the window"
    with pytest.raises(InvalidParameter, match="cannot exceed"):
        label_coverage(10, 11)


def _holm_step_down(p, alpha):
    """Holm (1979) as published: reject in ascending order while p_(i) <= alpha / (m - i)."""
    rejected = set()
    for i, j in enumerate(np.argsort(p, kind="stable")):
        if p[j] > alpha / (len(p) - i):
            break
        rejected.add(int(j))
    return rejected


def test_holm_adjusted_p_values_reject_exactly_what_the_step_down_procedure_rejects():
    rng = np.random.default_rng(7)
    for _ in range(200):
        p = rng.uniform(0, 0.2, rng.integers(1, 10)) ** rng.uniform(0.5, 3)
        adjusted = holm_adjusted(p)
        assert np.all(adjusted >= p) and np.all(adjusted <= 1)
        for alpha in (0.01, 0.05, 0.1):
            assert {i for i, a in enumerate(adjusted) if a <= alpha} == _holm_step_down(p, alpha)


def test_stable_model_alerts_on_any_metric_in_at_most_alpha_of_windows():
    # min_delta 0 makes every metric's decision rest on its test alone: without the adjustment
    # eight correlated tests at 0.05 alert on some metric far more often than 5% of the time.
    no_bar = dict.fromkeys(BINARY, 0.0)
    windows, alerts, raw_alerts = 300, 0, 0
    for seed in range(windows):
        ref, cur = binary_window(400, 1.0, seed=2 * seed), binary_window(400, 1.0, seed=2 * seed + 1)
        r = performance(
            cur[0],
            y_score=cur[1],
            task="binary",
            reference=LabelledWindow(ref[0], y_score=ref[1]),
            n_resamples=200,
            seed=seed,
            min_delta=no_bar,
        )
        alerts += r.status == "alert"
        raw_alerts += any(m["p_value"] < 0.05 for m in map(Detail.to_dict, r.details["metrics"]))
        assert r.details["p_value_adjustment"] == "holm"
    assert alerts / windows <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / windows)
    assert raw_alerts > alerts


def test_a_bootstrap_too_small_to_ever_be_significant_is_refused():
    ref, cur = binary_window(500, 3.0, seed=40), binary_window(500, 0.0, seed=41)
    reference = LabelledWindow(ref[0], y_score=ref[1])
    with pytest.raises(InvalidParameter, match="use at least 160"):
        performance(cur[0], y_score=cur[1], task="binary", reference=reference, n_resamples=150)
    # 160 resamples: 8 / 161 < 0.05, and a collapse of the AUC is found
    r = performance(cur[0], y_score=cur[1], task="binary", reference=reference, n_resamples=160)
    assert "roc_auc" in {f.method for f in r.findings}
