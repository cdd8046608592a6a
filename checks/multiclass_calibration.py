"""Calibration of a multiclass model's class probabilities: top-label and class-wise ECE.

* **Top-label ECE** bins the confidence ``max_k p_k`` and compares it with the accuracy of
  the arg-max class in each bin ([1]_): the binary ECE of (``correct``, ``confidence``).
* **Class-wise ECE** is the mean over classes of the binary ECE of (``[y = k]``, ``p_k``)
  ([2]_): it also sees the probabilities of the classes that were not predicted.
* Reliability curves per class (and of the top label), and the **multiclass Brier
  decomposition**: the multiclass Brier score ``mean_i sum_k (p_ik - [y_i = k])^2`` is the sum
  over classes of the binary Brier scores of the one-vs-rest columns, so each of Murphy's terms
  (and the two within-bin terms) is the sum of the binary ones
  (:func:`checks.calibration.brier_decomposition`) and the identity holds exactly.

The decision rule is the binary check's (:func:`checks.calibration.calibration_check`): each
ECE counts beyond its own noise, the mean ECE of outcomes simulated from the window's own
probabilities (:func:`checks.calibration.calibrated_eces`; for the class-wise ECE the mean of
the classes' noises, since each class's ECE sees only ``[y = k] ~ Bernoulli(p_k)``). The
top-label ECE alerts above ``ece_threshold`` beyond its noise; against a reference, a measure
degraded when its rise beyond noise is at least ``min_delta`` and its bootstrap test (both
measures from the same resamples of the rows, bins held fixed, windows resampled
independently) is significant after Holm's adjustment over the two measures at the binary
check's level (one-sided ``alpha / 2``, i.e. the two-sided interval excludes 0).

Each window is binned once per measure (:func:`binned`) and every measure read from those
bins. The resamples are Poisson bootstrap counts of *cells* (:func:`gap_cells`: rows of one
true class, one top-label outcome and one bin of every measure), so ``b`` resamples cost ``b``
times the cells (a few hundred for three classes), not the rows; with many classes, where
there are about as many cells as rows, the cells' totals of index resamples of the rows. A
bin's sum of ``p - y`` is then its cells' counts times their mean gaps plus what varies inside
the cells, added as a normal vector with its exact covariance: the bins' sums keep the row
bootstrap's mean and covariance exactly, and the normal term, the one approximation, carries
about 0.4% of their variance with 10 bins (5% with 3; both bounded in the tests, the
intervals matching the row bootstrap's within Monte Carlo error).

References
----------
.. [1] Guo, C., Pleiss, G., Sun, Y., Weinberger, K. Q. (2017). On calibration of modern
   neural networks. ICML.
.. [2] Kull, M., Perello-Nieto, M., Kängsepp, M., Silva Filho, T., Song, H., Flach, P.
   (2019). Beyond temperature scaling: obtaining well-calibrated multiclass probabilities
   with Dirichlet calibration. NeurIPS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from checks._params import check_interval, check_n_resamples, check_one_of
from checks.bootstrap import MAX_CELLS, counts_from_indices, poisson_weights
from checks.calibration import STRATEGIES, bin_edges, bin_ids, bin_sums, score_group_of_rows, simulated_eces
from checks.details import ReliabilityCurve
from checks.multiclass_performance import cells_of_keys, multiclass_inputs
from checks.performance import holm_adjusted
from checks.result import CheckResult, Finding


def top_label(y_true: np.ndarray, y_score: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(correct, confidence)``: whether the arg-max class is right (0/1) and its probability."""
    top = np.argmax(y_score, axis=1)
    return (labels[top] == y_true).astype(np.float64), y_score[np.arange(len(top)), top]


def _onehot(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (y[:, None] == labels[None, :]).astype(np.float64)


@dataclass(frozen=True)
class MulticlassCalibration:
    """The calibration measures of one window (see the module docstring)."""

    top_label_ece: float
    classwise_ece: float
    class_ece: dict[str, float]
    top_label_mce: float
    brier: float
    reliability: float
    resolution: float
    uncertainty: float
    within_bin_variance: float
    within_bin_covariance: float


def multiclass_calibration(
    y_true: Any, y_score: Any, *, classes: Sequence[Any], n_bins: int = 10, strategy: str = "uniform"
) -> MulticlassCalibration:
    """Top-label and class-wise ECE, top-label MCE and the multiclass Brier decomposition.

    >>> p = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    >>> m = multiclass_calibration(["a", "b", "b"], p, classes=["a", "b"], n_bins=2)
    >>> round(m.top_label_ece, 4), round(m.brier, 4)
    (0.1, 0.2733)
    """
    func = "multiclass_calibration"
    labels, y, p, _ = multiclass_inputs(y_true, y_score, classes, func)
    check_interval("n_bins", n_bins, func, low=1, integer=True)
    check_one_of("strategy", strategy, STRATEGIES, func)
    return _measures(binned(y, p, labels, n_bins, strategy))


@dataclass(frozen=True)
class BinnedWindow:
    """One window's calibration inputs binned once, a column per measure: the top label (``0``),
    then each class. ``truth`` is 0/1 (correct, ``[y = k]``), ``score`` the probability
    (confidence, ``p_k``), ``ids`` each row's bin (bins ``(e[k-1], e[k]]`` at ``edges``, as
    :func:`checks.calibration.reliability_curve`), ``count``/``sum_p``/``sum_y`` ``(K + 1, n_bins)``
    per-bin sums; ``y``, ``p``, ``labels``, ``n_bins`` and ``strategy`` as given."""

    y: np.ndarray
    p: np.ndarray
    labels: np.ndarray
    n_bins: int
    strategy: str
    truth: np.ndarray
    score: np.ndarray
    edges: np.ndarray
    ids: np.ndarray
    count: np.ndarray
    sum_p: np.ndarray
    sum_y: np.ndarray

    def curve(self, j: int) -> ReliabilityCurve:
        """The reliability curve of measure ``j`` (empty bins NaN)."""
        count = self.count[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_p = np.where(count > 0, self.sum_p[j] / count, np.nan)
            frac_y = np.where(count > 0, self.sum_y[j] / count, np.nan)
        return ReliabilityCurve(mean_p, frac_y, count.astype(np.int64), self.edges[j])


def binned(y: np.ndarray, p: np.ndarray, labels: np.ndarray, n_bins: int, strategy: str) -> BinnedWindow:
    """The :class:`BinnedWindow` of validated labels and probabilities (one binning per measure)."""
    correct, conf = top_label(y, p, labels)
    truth = np.column_stack([correct, _onehot(y, labels)])
    score = np.column_stack([conf, p])
    n, measures = score.shape
    edges = np.empty((measures, n_bins + 1))
    ids = np.empty((n, measures), dtype=np.int64)
    sums = np.empty((3, measures, n_bins))
    for j in range(measures):
        edges[j] = bin_edges(score[:, j], n_bins, strategy)
        ids[:, j] = bin_ids(score[:, j], edges[j])
        sums[:, j] = bin_sums(ids[:, j], truth[:, j], score[:, j], n_bins)
    return BinnedWindow(y, p, labels, n_bins, strategy, truth, score, edges, ids, *sums)


def _measures(w: BinnedWindow) -> MulticlassCalibration:
    """The measures of :func:`multiclass_calibration` from the binned window: each ECE as
    :func:`checks.calibration.expected_calibration_error`, the MCE as
    :func:`checks.calibration.maximum_calibration_error` and the Brier terms as
    :func:`checks.calibration.brier_decomposition` of each class, summed."""
    n = float(len(w.y))
    eces = np.abs(w.sum_p - w.sum_y).sum(axis=1) / w.count.sum(axis=1)
    top = w.curve(0)
    filled = top.count > 0
    count, sum_p, sum_y = w.count[1:], w.sum_p[1:], w.sum_y[1:]
    safe = np.maximum(count, 1.0)
    f_k, o_k, o = sum_p / safe, sum_y / safe, w.truth[:, 1:].mean(axis=0)
    classes = np.arange(len(w.labels))
    dev_p = w.score[:, 1:] - f_k[classes, w.ids[:, 1:]]
    dev_y = w.truth[:, 1:] - o_k[classes, w.ids[:, 1:]]
    per_class = {str(c): float(e) for c, e in zip(w.labels, eces[1:], strict=True)}
    return MulticlassCalibration(
        top_label_ece=float(eces[0]),
        classwise_ece=float(np.mean(list(per_class.values()))),
        class_ece=per_class,
        top_label_mce=float(np.max(np.abs(top.mean_predicted[filled] - top.fraction_positive[filled]))),
        brier=float(np.sum(np.mean((w.score[:, 1:] - w.truth[:, 1:]) ** 2, axis=0))),
        reliability=float(np.sum(np.sum(count * (f_k - o_k) ** 2, axis=1) / n)),
        resolution=float(np.sum(np.sum(count * (o_k - o[:, None]) ** 2, axis=1) / n)),
        uncertainty=float(np.sum(o * (1.0 - o))),
        within_bin_variance=float(np.sum(np.mean(dev_p**2, axis=0))),
        within_bin_covariance=float(np.sum(np.mean(dev_p * dev_y, axis=0))),
    )


@dataclass(frozen=True)
class GapCells:
    """A window's rows grouped into cells of one true class, one top-label outcome and one bin
    of every measure (the top label, then each class), for the bootstrap of both ECEs.

    ``gaps`` is a sparse ``(m, (K + 1) * n_bins)`` matrix: each cell's mean ``p - y`` of each
    measure in the column of its bin; ``within_root`` a root ``R`` (``R.T @ R``) of the
    covariance of the per-bin sums of ``p - y`` inside the cells (the score's spread inside a
    cell, which the cell means do not carry); ``cell_of_row`` is each row's cell; ``by_row`` whether the cells
    hold fewer than four rows on average (then resampled by row, :func:`_cell_counts`).
    """

    sizes: np.ndarray
    gaps: sparse.csr_matrix
    within_root: np.ndarray
    cell_of_row: np.ndarray

    @property
    def by_row(self) -> bool:
        return len(self.sizes) * 4 > len(self.cell_of_row)


def gap_cells(w: BinnedWindow) -> GapCells:
    """The :class:`GapCells` of a binned window (bins at the window's own edges)."""
    truth, score, ids, n_bins = w.truth, w.score, w.ids, w.n_bins
    n, measures = score.shape
    correct = truth[:, 0]
    key = np.column_stack([truth[:, 1:].argmax(axis=1), correct.astype(np.int64), ids])
    cell_of_row, first = cells_of_keys(key, [len(w.labels), 2, *([n_bins] * measures)])
    sizes = np.bincount(cell_of_row).astype(np.float64)
    row_gap = score - truth
    mean_gap = (
        np.column_stack([np.bincount(cell_of_row, weights=row_gap[:, j]) for j in range(measures)])
        / sizes[:, None]
    )
    columns = ids + np.arange(measures) * n_bins
    gaps = sparse.csr_matrix(
        (mean_gap.ravel(), (np.repeat(np.arange(len(sizes)), measures), columns[first].ravel())),
        shape=(len(sizes), measures * n_bins),
    )
    deviation = sparse.csr_matrix(
        ((row_gap - mean_gap[cell_of_row]).ravel(), (np.repeat(np.arange(n), measures), columns.ravel())),
        shape=(n, measures * n_bins),
    )
    values, vectors = np.linalg.eigh((deviation.T @ deviation).toarray())
    return GapCells(sizes, gaps, (vectors * np.sqrt(np.clip(values, 0.0, None))).T, cell_of_row)


def _cell_counts(cells: GapCells, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, m)`` bootstrap counts of the cells: Poisson(``sizes``)
    (:func:`checks.bootstrap.poisson_weights`), or where the cells hold fewer than four rows on
    average (``by_row``: with many classes there are about as many cells as rows) the cells'
    totals of an index resample of the rows, a row index being a quarter of a count's cost."""
    if not cells.by_row:
        return poisson_weights(cells.sizes, n_resamples=n_resamples, rng=rng)
    n = len(cells.cell_of_row)
    idx = cells.cell_of_row[rng.integers(0, n, size=(n_resamples, n))]
    return counts_from_indices(idx, len(cells.sizes)).astype(np.float64)


def _bootstrap(
    cells: GapCells, k: int, n_bins: int, n_resamples: int, seed: np.random.SeedSequence
) -> np.ndarray:
    """``(n_resamples, 2)``: top-label and class-wise ECE of bootstrap resamples, bins fixed.

    One matrix of cell counts (:func:`_cell_counts`, in batches of at most
    :data:`~checks.bootstrap.MAX_CELLS` draws) gives each bin's sum of ``p - y`` from the cell
    means; the part that varies inside the cells is added as a normal vector with its exact
    covariance (uncorrelated with the cell counts, as it is in the bootstrap).
    """
    rng = np.random.default_rng(seed)
    batch = max(1, MAX_CELLS // (len(cells.cell_of_row) if cells.by_row else len(cells.sizes)))
    out = []
    for done in range(0, n_resamples, batch):
        w = _cell_counts(cells, min(batch, n_resamples - done), rng)
        within = rng.standard_normal((len(w), len(cells.within_root))) @ cells.within_root
        sums = (cells.gaps.T @ w.T).T + within
        total = np.maximum(w.sum(axis=1), 1.0)[:, None]
        eces = np.abs(sums).reshape(len(w), k + 1, n_bins).sum(axis=2) / total
        out.append(np.column_stack([eces[:, 0], eces[:, 1:].mean(axis=1)]))
    return np.concatenate(out)


def _noise(w: BinnedWindow, seed: int) -> tuple[float, float]:
    """Top-label and class-wise ECE noise: :func:`checks.calibration.calibrated_eces` of each
    measure's probabilities (seeds ``seed``, then ``seed + 1 + k``), means, from the window's bins."""
    eces = [
        simulated_eces(
            w.ids[:, j], score_group_of_rows(w.score[:, j]), w.score[:, j], w.n_bins, 200, seed + j
        ).mean()
        for j in range(w.score.shape[1])
    ]
    return float(eces[0]), float(np.mean(eces[1:]))


def multiclass_calibration_check(
    y_true: Any,
    y_score: Any,
    *,
    classes: Sequence[Any],
    reference: tuple[Any, Any] | None = None,
    n_bins: int = 10,
    strategy: str = "uniform",
    ece_threshold: float = 0.1,
    min_delta: float = 0.02,
    alpha: float = 0.05,
    n_resamples: int = 500,
    min_samples: int = 100,
    seed: int = 0,
) -> CheckResult:
    """Calibration of a multiclass model on the current window, against a reference window.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_score : array-like of shape (n_samples, n_classes)
        Class probabilities, columns in the order of ``classes``.
    classes : sequence
    reference : (y_true, y_score) or None, default=None
    n_bins, strategy, ece_threshold, min_delta, alpha, n_resamples, min_samples, seed
        As :func:`checks.calibration.calibration_check`; ``ece_threshold`` applies to the
        top-label ECE, ``min_delta`` to the rise of either ECE.

    Returns
    -------
    CheckResult
        ``check="calibration"``; metrics ``ece`` (top label), ``classwise_ece``, ``ece[<class>]``,
        their noises, ``mce``, ``brier`` and its decomposition, ``mean_score[<class>]`` and
        ``share[<class>]``, and with a reference the same prefixed ``reference_`` and
        ``ece_delta`` / ``classwise_ece_delta`` with intervals and p-values. Details:
        ``reliability`` (top label), ``class_reliability`` and their ``_reference``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.dirichlet([1, 1, 1], 3000)
    >>> y = np.array([rng.choice(3, p=row) for row in p])
    >>> multiclass_calibration_check(y, p, classes=[0, 1, 2], reference=(y, p), n_resamples=100).status
    'ok'
    >>> sharp = p**3 / (p**3).sum(axis=1, keepdims=True)
    >>> multiclass_calibration_check(y, sharp, classes=[0, 1, 2], reference=(y, p), n_resamples=100).status
    'alert'
    """
    func = "multiclass_calibration_check"
    labels, y, p, _ = multiclass_inputs(y_true, y_score, classes, func)
    check_interval("ece_threshold", ece_threshold, func, low=0.0, high=1.0)
    check_interval("min_delta", min_delta, func, low=0.0, high=1.0)
    check_interval("alpha", alpha, func, low=0.0, high=1.0, closed="neither")
    check_n_resamples(n_resamples, func)
    check_interval("min_samples", min_samples, func, low=1)
    check_interval("n_bins", n_bins, func, low=1, integer=True)
    check_one_of("strategy", strategy, STRATEGIES, func)
    if y.size < min_samples:
        return CheckResult.skipped(
            "calibration", f"{y.size} labelled rows < min_samples={min_samples}", n=y.size
        )
    cur = binned(y, p, labels, n_bins, strategy)
    metrics, details = _window_metrics(cur, seed, prefix="")
    findings: list[Finding] = []
    noise = metrics["ece_noise"]
    if metrics["ece"] - noise > ece_threshold:
        findings.append(
            Finding(
                subject="model",
                method="ece",
                statistic=metrics["ece"],
                threshold=ece_threshold,
                effect_size=metrics["ece"],
                severity="alert",
                message=f"top-label calibration error {metrics['ece']:.3f} is above {ece_threshold:g}",
                evidence={"n": int(y.size), "ece_noise": noise, "mce": metrics["mce"], "n_bins": n_bins},
            )
        )
    if reference is not None:
        _, y_ref, p_ref, _ = multiclass_inputs(reference[0], reference[1], labels, func)
        if y_ref.size < min_samples:
            details["reference_note"] = (
                f"reference has {y_ref.size} rows < min_samples={min_samples}; not compared"
            )
        else:
            ref = binned(y_ref, p_ref, labels, n_bins, strategy)
            ref_metrics, ref_details = _window_metrics(ref, seed + 100, prefix="reference_")
            metrics.update(ref_metrics)
            details.update(ref_details)
            findings += _compare(cur, ref, metrics, min_delta, alpha, n_resamples, seed)
    return CheckResult(
        check="calibration",
        status="alert" if findings else "ok",
        metrics=metrics,
        findings=tuple(findings),
        details=details,
    )


MEASURES = ("ece", "classwise_ece")


def _window_metrics(w: BinnedWindow, seed: int, *, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    m = _measures(w)
    top_noise, cw_noise = _noise(w, seed)
    y, p, labels = w.y, w.p, w.labels
    metrics: dict[str, Any] = {
        "n": int(y.size),
        "ece": m.top_label_ece,
        "ece_noise": top_noise,
        "classwise_ece": m.classwise_ece,
        "classwise_ece_noise": cw_noise,
        "mce": m.top_label_mce,
        "brier": m.brier,
        "reliability": m.reliability,
        "resolution": m.resolution,
        "uncertainty": m.uncertainty,
        "accuracy": float(w.truth[:, 0].mean()),
        "mean_confidence": float(w.score[:, 0].mean()),
    }
    for k, c in enumerate(labels):
        metrics[f"ece[{c}]"] = m.class_ece[str(c)]
        metrics[f"mean_score[{c}]"] = float(p[:, k].mean())
        metrics[f"share[{c}]"] = float(np.mean(y == c))
    suffix = "_reference" if prefix else ""
    details: dict[str, Any] = {
        f"reliability{suffix}": w.curve(0),
        f"class_reliability{suffix}": {str(c): w.curve(1 + k) for k, c in enumerate(labels)},
    }
    if not prefix:
        details.update(strategy=w.strategy, n_bins=w.n_bins, classes=[str(c) for c in labels])
    return {f"{prefix}{k}": v for k, v in metrics.items()}, details


def _compare(
    cur: BinnedWindow,
    ref: BinnedWindow,
    metrics: dict[str, Any],
    min_delta: float,
    alpha: float,
    n_resamples: int,
    seed: int,
) -> list[Finding]:
    """Fill the deltas in ``metrics``; the findings of the measures that degraded."""
    seq_cur, seq_ref = np.random.SeedSequence(seed).spawn(2)
    k, n_bins = len(cur.labels), cur.n_bins
    boot = _bootstrap(gap_cells(cur), k, n_bins, n_resamples, seq_cur)
    boot -= _bootstrap(gap_cells(ref), k, n_bins, n_resamples, seq_ref)
    rows = []
    for j, name in enumerate(MEASURES):
        beyond = metrics[name] - metrics[f"{name}_noise"]
        delta = beyond - (metrics[f"reference_{name}"] - metrics[f"reference_{name}_noise"])
        # Resampling inflates an ECE of its own: keep the bootstrap's spread, centred on the estimate.
        b = boot[:, j] + delta - boot[:, j].mean()
        low, high = (float(v) for v in np.quantile(b, [alpha / 2, 1 - alpha / 2]))
        p_value = float((1 + np.sum(b <= 0)) / (n_resamples + 1))
        metrics.update({f"{name}_delta": delta, f"{name}_delta_ci_low": low, f"{name}_delta_ci_high": high})
        metrics[f"{name}_delta_p_value"] = p_value
        rows.append((name, delta, low, high, p_value))
    adjusted = holm_adjusted([r[4] for r in rows])
    findings = []
    for (name, delta, low, high, _), adj in zip(rows, adjusted, strict=True):
        metrics[f"{name}_delta_adjusted_p_value"] = float(adj)
        if not (delta >= min_delta and adj < alpha / 2):
            continue
        label = "top-label ECE" if name == "ece" else "class-wise ECE"
        findings.append(
            Finding(
                subject="model",
                method=f"{name}_delta",
                statistic=delta,
                threshold=min_delta,
                p_value=float(adj),
                effect_size=delta,
                severity="alert",
                message=(
                    f"calibration degraded: {label} {metrics[name]:.3f} vs "
                    f"{metrics[f'reference_{name}']:.3f} in the reference (+{delta:.3f} beyond noise, "
                    f"{100 * (1 - alpha):g}% CI [{low:.3f}, {high:.3f}])"
                ),
                evidence={
                    name: metrics[name],
                    f"reference_{name}": metrics[f"reference_{name}"],
                    "noise": metrics[f"{name}_noise"],
                    "reference_noise": metrics[f"reference_{name}_noise"],
                    "ci_low": low,
                    "ci_high": high,
                    "confidence": 1 - alpha,
                    "n": int(cur.y.size),
                    "reference_n": int(ref.y.size),
                    "brier": metrics["brier"],
                    "reference_brier": metrics["reference_brier"],
                },
            )
        )
    return findings
