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


def cell_weights(window, seed):
    """Poisson counts of the window's cells, and the same counts spread evenly over each cell's rows."""
    w = poisson_weights(window.sizes, n_resamples=3, rng=np.random.default_rng(seed))
    return w, w[:, window.cells] / window.sizes[window.cells]


def test_multiclass_values_and_the_cell_kernel_match_sklearn():
    rng = np.random.default_rng(2)
    classes = np.array(["a", "b", "c"])
    proba = rng.dirichlet([2, 2, 2], 300)
    y = np.array([rng.choice(classes, p=q) for q in proba])
    r = performance(y, y_score=proba, task="multiclass", classes=classes, n_resamples=50, seed=1)
    rows = by_name(r)
    pred = classes[proba.argmax(axis=1)]
    fns = {
        "accuracy": lambda w: skm.accuracy_score(y, pred, sample_weight=w),
        "macro_f1": lambda w: skm.f1_score(
            y, pred, labels=classes, average="macro", zero_division=0, sample_weight=w
        ),
        "log_loss": lambda w: skm.log_loss(y, proba, labels=classes, sample_weight=w),
    }
    window = metric_kernels.metric_window(y, None, proba, "multiclass", 0.5, classes)
    assert len(window.sizes) <= 9  # cells: (true class, predicted class)
    counts, spread = cell_weights(window, seed=3)
    got = window.kernel(counts)
    for j, (name, fn) in enumerate(fns.items()):
        assert rows[name]["value"] == pytest.approx(fn(None), abs=1e-12)
        assert rows[name]["ci_low"] < rows[name]["value"] < rows[name]["ci_high"], name
        for b in range(3):  # a resample's metric: scikit-learn's, each cell's count spread over its rows
            assert got[b, j] == pytest.approx(fn(spread[b]), abs=1e-10), name


def test_regression_values_and_the_cell_kernel_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.gamma(2.0, 3.0, 3000)
    pred = y + rng.normal(0, 1.5, 3000)
    r = performance(y, pred, task="regression", n_resamples=60, seed=2)
    rows = by_name(r)
    fns = {
        "rmse": skm.root_mean_squared_error,
        "mae": skm.mean_absolute_error,
        "mape": skm.mean_absolute_percentage_error,
        "r2": skm.r2_score,
    }
    window = metric_kernels.metric_window(y, pred, None, "regression", 0.5, None)
    assert len(window.sizes) == metric_kernels.MAX_GROUPS  # rank groups of the error
    counts, spread = cell_weights(window, seed=4)
    got = window.kernel(counts)
    for j, (name, fn) in enumerate(fns.items()):
        assert rows[name]["value"] == pytest.approx(fn(y, pred), rel=1e-12)
        assert rows[name]["ci_low"] < rows[name]["value"] < rows[name]["ci_high"], name
        for b in range(3):
            assert got[b, j] == pytest.approx(fn(y, pred, sample_weight=spread[b]), rel=1e-9), name


def old_multiclass_kernel(y, proba, classes):
    """The previous kernel: one weight per row, resample size fixed at n."""
    onehot = (y[:, None] == classes[None, :]).astype(float)
    onehot_pred = (proba.argmax(axis=1)[:, None] == np.arange(len(classes))[None, :]).astype(float)
    ll = -np.log(np.clip(np.sum(proba * onehot, axis=1), 1e-15, 1 - 1e-15))
    correct, n = np.sum(onehot * onehot_pred, axis=1), len(y)

    def kernel(w, _rows):
        w = w.astype(float)
        tp, pos, pp = w @ (onehot * onehot_pred), w @ onehot, w @ onehot_pred
        f1 = np.divide(2 * tp, pos + pp, out=np.zeros_like(tp), where=pos + pp > 0).mean(axis=1)
        return np.column_stack([w @ correct / n, f1, w @ ll / n])

    return kernel


def old_regression_kernel(y, pred):
    err, centred, n = y - pred, y - y.mean(), len(y)
    ape = np.abs(err) / np.abs(y)

    def kernel(w, _rows):
        w = w.astype(float)
        sse, sst = w @ err**2, w @ centred**2 - (w @ centred) ** 2 / n
        return np.column_stack([np.sqrt(sse / n), w @ np.abs(err) / n, w @ ape / n, 1 - sse / sst])

    return kernel


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_cell_intervals_match_the_row_bootstrap_within_monte_carlo_error(task):
    rng = np.random.default_rng(5)
    n = 6000
    if task == "multiclass":
        classes = np.array(["a", "b", "c"])
        proba = rng.dirichlet([2, 2, 2], n)
        y = classes[(rng.random(n)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)]
        window = metric_kernels.metric_window(y, None, proba, task, 0.5, classes)
        old_kernel = old_multiclass_kernel(y, proba, classes)
    else:
        y = rng.gamma(2.0, 3.0, n)
        pred = y + rng.standard_t(3, n)  # heavy-tailed errors: the largest sit in the top cell
        window = metric_kernels.metric_window(y, pred, None, task, 0.5, None)
        old_kernel = old_regression_kernel(y, pred)
    new = metric_kernels.metric_distribution(window, 2000, np.random.SeedSequence(1))
    old = bootstrap_distribution(old_kernel, np.arange(n), n_resamples=2000, seed=2, weighted=True)
    for j, name in enumerate(window.names):
        low_new, high_new = percentile_interval(new[:, j])
        low_old, high_old = percentile_interval(old[:, j])
        width = high_old - low_old
        # Each endpoint of a 2,000-resample interval has a Monte Carlo sd of about 1.6% of the
        # width; allow 5 sd of the difference of two independent ones.
        assert abs(low_new - low_old) < 0.12 * width, name
        assert abs(high_new - high_old) < 0.12 * width, name
        assert abs(np.std(new[:, j]) / np.std(old[:, j]) - 1) < 0.1, name


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
