"""Multiclass performance: values against scikit-learn, resample kernel, decision rule."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from checks._params import InvalidParameter
from checks.bootstrap import bootstrap_distribution, percentile_interval
from checks.details import Detail
from checks.metric_kernels import metric_distribution, tie_groups
from checks.multiclass_performance import ClassRanks, _kernel, multiclass_performance, multiclass_window
from tests.multiclass_world import CLASSES, rounded, world


def sklearn_values(y, p, weight=None):  # type: ignore[no-untyped-def]
    pred = CLASSES[p.argmax(axis=1)]
    out = {
        "roc_auc": skm.roc_auc_score(y, p, multi_class="ovr", labels=CLASSES, sample_weight=weight),
        "accuracy": skm.accuracy_score(y, pred, sample_weight=weight),
        "macro_f1": skm.f1_score(y, pred, average="macro", sample_weight=weight),
        "weighted_f1": skm.f1_score(y, pred, average="weighted", sample_weight=weight),
        "log_loss": skm.log_loss(y, p, labels=CLASSES, sample_weight=weight),
        "brier": skm.brier_score_loss(y, p, labels=CLASSES, sample_weight=weight),
    }
    precision = skm.precision_score(y, pred, average=None, labels=CLASSES, sample_weight=weight)
    recall = skm.recall_score(y, pred, average=None, labels=CLASSES, sample_weight=weight)
    for k, c in enumerate(CLASSES):
        out[f"roc_auc[{c}]"] = skm.roc_auc_score(y == c, p[:, k], sample_weight=weight)
        out[f"precision[{c}]"], out[f"recall[{c}]"] = precision[k], recall[k]
    return out


@pytest.mark.parametrize("ties", [False, True])
def test_values_match_sklearn(ties: bool) -> None:
    y, p, _ = world(1500, seed=1)
    if ties:  # rounded probabilities: ties in every one-vs-rest ranking
        p = rounded(p)
    values = multiclass_window(y, p, classes=CLASSES).values
    for name, expected in sklearn_values(y, p).items():
        assert values[name] == pytest.approx(expected, abs=1e-12), name


def test_the_resample_kernel_equals_sklearn_with_the_counts_as_weights() -> None:
    y, p, _ = world(600, seed=2)
    p = rounded(p)
    window = multiclass_window(y, p, classes=CLASSES)
    counts = np.random.default_rng(0).multinomial(len(y), np.full(len(y), 1 / len(y)), size=3)
    # At most 256 distinct probabilities per class: the cells are exact, so the kernel of the
    # rows' counts summed per cell is scikit-learn's metric with the counts as sample weights.
    assert window.cells is not None and len(window.sizes) < len(y)
    k = len(window.sizes)
    cell_counts = np.stack([np.bincount(window.cells, weights=c, minlength=k) for c in counts])
    got = window.kernel(cell_counts)
    for r in range(3):
        for j, (name, expected) in enumerate(sklearn_values(y, p, counts[r]).items()):
            assert got[r, window.names.index(name)] == pytest.approx(expected, abs=1e-10), (r, j, name)


def row_kernel(y, p):  # type: ignore[no-untyped-def]
    """The previous kernel: one weight per row, each class's exact ranking, resample size fixed."""
    onehot = (y[:, None] == CLASSES[None, :]).astype(float)
    pred = (p.argmax(axis=1)[:, None] == np.arange(3)[None, :]).astype(float)
    ll = -np.log(np.clip(np.sum(p * onehot, axis=1), 1e-15, 1 - 1e-15))
    brier = np.sum((p - onehot) ** 2, axis=1)
    orders = [np.argsort(p[:, j], kind="stable") for j in range(3)]
    ranks = ClassRanks.of_ties(orders, [tie_groups(p[o, j]) for j, o in enumerate(orders)], onehot.argmax(1))
    kernel = _kernel(onehot, pred, ll, brier, ranks)
    return lambda counts, _rows: kernel(counts.astype(float))


def test_cell_intervals_match_the_row_bootstrap_within_monte_carlo_error() -> None:
    # Continuous probabilities: the cells are score groups of every class (16 per class).
    y, p, _ = world(6000, seed=7)
    window = multiclass_window(y, p, classes=CLASSES)
    assert len(window.sizes) < len(y) / 2
    new = metric_distribution(window, 2000, np.random.SeedSequence(1))
    old = bootstrap_distribution(row_kernel(y, p), np.arange(len(y)), n_resamples=2000, seed=2, weighted=True)
    for j, name in enumerate(window.names):
        low_new, high_new = percentile_interval(new[:, j])
        low_old, high_old = percentile_interval(old[:, j])
        width = high_old - low_old
        # Each endpoint of a 2,000-resample interval has a Monte Carlo sd of about 1.6% of the
        # width; allow 5 sd of the difference of two independent ones.
        assert abs(low_new - low_old) < 0.12 * width, name
        assert abs(high_new - high_old) < 0.12 * width, name
        assert abs(np.std(new[:, j]) / np.std(old[:, j]) - 1) < 0.1, name


def test_no_change_gives_no_finding() -> None:
    y, p, _ = world(3000, seed=3)
    y_ref, p_ref, _ = world(3000, seed=4)
    r = multiclass_performance(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=400, seed=1)
    assert r.status == "ok" and r.findings == ()
    rows = [row.to_dict() for row in r.details["metrics"]]
    assert len(rows) == 6 + 3 * 3 and all(row["adjusted_p_value"] >= row["p_value"] for row in rows)
    assert (
        r.details["confusion"].current
        == skm.confusion_matrix(y, CLASSES[p.argmax(1)], labels=CLASSES).tolist()
    )
    assert sum(map(sum, r.details["confusion"].reference)) == 3000
    assert [c.class_ for c in r.details["per_class"]] == ["a", "b", "c"]


def test_lost_ranking_is_found_overall_and_per_class() -> None:
    y_ref, p_ref, _ = world(3000, seed=5)
    y, p, _ = world(3000, seed=6, sep=0.8)  # classes overlap: the same model ranks worse
    r = multiclass_performance(y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=400, seed=1)
    assert r.status == "alert"
    found = {(f.subject, f.method) for f in r.findings}
    assert ("model", "roc_auc") in found and ("model", "macro_f1") in found
    assert {s for s, m in found if m == "recall"} <= {"class:a", "class:b", "class:c"}
    assert any(m == "roc_auc" and s.startswith("class:") for s, m in found)
    auc = next(f for f in r.findings if f.subject == "model" and f.method == "roc_auc")
    assert auc.statistic < auc.threshold == pytest.approx(r.metrics["reference_roc_auc"] - 0.02)
    assert auc.p_value < 0.05 and auc.evidence["n"] == 3000


def test_a_significant_but_immaterial_change_is_not_a_finding() -> None:
    y_ref, p_ref, _ = world(20000, seed=7)
    y, p, _ = world(20000, seed=8, sep=1.45)  # AUC falls by about 0.005: significant, below 0.02
    r = multiclass_performance(
        y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=300, seed=1, min_delta={"recall": 0.5}
    )
    auc = next(row for row in map(Detail.to_dict, r.details["metrics"]) if row["name"] == "roc_auc")
    assert 0 < -auc["delta"] < 0.02 and not auc["degraded"]
    assert not any(f.method == "roc_auc" and f.subject == "model" for f in r.findings)
    recall_rows = [
        row for row in map(Detail.to_dict, r.details["metrics"]) if row["name"].startswith("recall[")
    ]
    assert [row["min_delta"] for row in recall_rows] == [0.5] * 3  # the base metric's override, per class
    assert not any(f.method == "recall" for f in r.findings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_score": [[0.5, 0.2, 0.2]]}, "row 0 sums to 0.9"),
        ({"y_score": [[0.5, 0.5]]}, "n_classes = 3"),
        ({"y_score": [[0.5, np.nan, 0.5]]}, "no NaN"),
        ({"y_true": ["z"]}, "unknown: ['z']"),
    ],
)
def test_bad_input_is_named(kwargs: dict, message: str) -> None:
    args = {"y_true": ["a"], "y_score": [[0.5, 0.25, 0.25]], **kwargs}
    with pytest.raises(InvalidParameter, match=message.replace("[", r"\[").replace("]", r"\]")):
        multiclass_performance(args["y_true"], args["y_score"], classes=CLASSES, n_resamples=100)


def test_stationary_windows_rarely_alert_on_any_metric() -> None:
    # Holm across the 15 metrics (overall and per class) keeps the family-wise rate near alpha.
    alerts = 0
    for seed in range(60):
        y_ref, p_ref, _ = world(800, seed=1000 + seed)
        y, p, _ = world(800, seed=2000 + seed)
        r = multiclass_performance(
            y, p, classes=CLASSES, reference=(y_ref, p_ref), n_resamples=320, seed=seed
        )
        alerts += r.status == "alert"
    assert alerts <= 6  # 10% of 60 windows; alpha = 5%


@pytest.mark.parametrize("classes", [["c", "a", "b"], [3, 1, 2]])
def test_confusion_matches_sklearn(classes: list) -> None:  # type: ignore[type-arg]
    from checks.multiclass_performance import confusion

    rng = np.random.default_rng(0)
    y, pred = rng.choice(classes, 500), rng.choice(classes, 500)
    assert confusion(y, pred, classes) == skm.confusion_matrix(y, pred, labels=classes).tolist()


def test_the_class_aucs_do_not_depend_on_how_many_classes_are_summed_at_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One class at a time (the exact ranking of a large window) or all together: the same AUCs."""
    from checks import multiclass_performance as mp

    y, p, _ = world(3000, seed=11)
    index = np.searchsorted(CLASSES, y)
    orders = [np.argsort(p[:, j], kind="stable") for j in range(3)]
    ranks = ClassRanks.of_ties(orders, [tie_groups(p[o, j]) for j, o in enumerate(orders)], index)
    w = np.random.default_rng(0).poisson(1.0, size=(4, len(y))).astype(float)
    together = ranks.aucs(w)
    assert np.isfinite(together).all()
    monkeypatch.setattr(mp, "MAX_DRAWN", 1)
    np.testing.assert_array_equal(ranks.aucs(w), together)
    for j, label in enumerate(CLASSES):
        expected = [skm.roc_auc_score(y == label, p[:, j], sample_weight=w[r]) for r in range(4)]
        np.testing.assert_allclose(together[:, j], expected, rtol=1e-12)
