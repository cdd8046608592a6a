"""Realistic ModelRuns for report tests, built from seeded synthetic data with scipy and scikit-learn.

``full_run()`` fills every section: drift on 25 features (one named like an XSS payload,
one categorical with a hostile category), data quality, latency with SLOs, realised and
estimated performance, calibration with a recalibrator, segments and a threshold curve,
plus recommendations. ``labels_pending_run()`` has every label check skipped.
``model_history()`` gives a series of runs of one model for trends. Builders are cached: the
results are frozen and shared, do not mutate their ``details``.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss

from checks.details import DriftRow, read_details
from checks.result import CheckResult, Finding, ModelRun, Recommendation
from checks.segment_calibration import calibration_by_segment

MODEL = "fraud-detector"
XSS = "<script>alert(1)</script>"
#: Sets ``data-xss`` on <html> if it ever runs: the browser test looks for that attribute.
XSS_DOM = "<img src=x onerror=\"document.documentElement.setAttribute('data-xss','1')\">"
T_END = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
N_FEATURES = 25
DRIFTED = ("amount", "merchant_risk", XSS, "country")


def feature_samples(seed: int = 0, shift: float = 1.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference and current samples per numeric feature (the drifted ones shifted by ``shift``)."""
    rng = np.random.default_rng(seed)
    names = ["amount", "merchant_risk", XSS] + [f"f{i:02d}_score" for i in range(N_FEATURES - 4)]
    out = {}
    for name in names:
        ref = rng.normal(0.0, 1.0, 1500)
        delta = 0.6 * shift if name in DRIFTED else 0.0
        out[name] = (ref, rng.normal(delta, 1.0 + 0.2 * (delta > 0), 1200))
    return out


CATEGORIES = ["DE", "FR", "US", "GB", XSS_DOM]
REF_SHARES = [0.4, 0.3, 0.2, 0.1, 0.0]
CUR_SHARES = [0.25, 0.25, 0.3, 0.1, 0.1]


def _drift_rows(samples: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    rows = []
    for name, (ref, cur) in samples.items():
        ks = stats.ks_2samp(ref, cur)
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=12)
        ref_h = np.histogram(ref, bins=edges)[0] / len(ref)
        cur_h = np.histogram(cur, bins=edges)[0] / len(cur)
        rows.append(
            {
                "column": name,
                "kind": "numeric",
                "method": "ks",
                "statistic": float(ks.statistic),
                "p_value": float(ks.pvalue),
                "significance_p_adjusted": min(1.0, float(ks.pvalue) * N_FEATURES),
                "threshold": 0.05,
                "effect_size": float(stats.wasserstein_distance(ref, cur) / np.std(ref)),
                "drifted": float(ks.pvalue) * N_FEATURES < 0.05,
                "histogram": {"bins": edges.tolist(), "reference": ref_h.tolist(), "current": cur_h.tolist()},
            }
        )
    counts = np.array([np.array(REF_SHARES) * 1500, np.array(CUR_SHARES) * 1200]).round()
    chi = stats.chi2_contingency(counts)
    rows.append(
        {
            "column": "country",
            "kind": "categorical",
            "method": "psi",
            "statistic": 0.41,
            "p_value": float(chi.pvalue),
            "significance_p_adjusted": min(1.0, float(chi.pvalue) * N_FEATURES),
            "threshold": 0.2,
            "effect_size": 0.41,
            "drifted": True,
            "histogram": {"bins": CATEGORIES, "reference": REF_SHARES, "current": CUR_SHARES},
        }
    )
    return sorted(rows, key=lambda r: -r["effect_size"])


@functools.cache
def drift_result(seed: int = 0, shift: float = 1.0) -> CheckResult:
    rows = _drift_rows(feature_samples(seed, shift))
    drifted = [r for r in rows if r["drifted"]]
    findings = tuple(
        Finding(
            subject=f"feature:{r['column']}",
            method=r["method"],
            statistic=r["statistic"],
            threshold=r["threshold"],
            p_value=r["significance_p_adjusted"],
            effect_size=r["effect_size"],
            severity="alert",
            message=f"{r['column']} drifted (effect {r['effect_size']:.2f})",
        )
        for r in drifted
    )
    share = len(drifted) / len(rows)
    return CheckResult(
        check="drift",
        status="alert" if drifted else "ok",
        findings=findings,
        metrics={
            "n_reference": 1500,
            "n_current": 1200,
            "n_columns": len(rows),
            "n_drifted": len(drifted),
            "share_drifted": share,
            "dataset_drifted": share > 0.1,
        },
        details=read_details("drift", {"columns": rows}),
    )


def quality_result() -> CheckResult:
    columns = [
        {
            "column": "amount",
            "kind": "numeric",
            "missing_ref": 0.001,
            "missing_cur": 0.042,
            "new_categories": {},
            "out_of_range_share": 0.013,
            "ref_min": 0.5,
            "ref_max": 9800.0,
            "constant": False,
        },
        {
            "column": "country",
            "kind": "categorical",
            "missing_ref": 0.0,
            "missing_cur": 0.0,
            "new_categories": {XSS_DOM: 0.1, "BR": 0.004},
            "out_of_range_share": None,
            "constant": False,
        },
        {
            "column": "f00_score",
            "kind": "numeric",
            "missing_ref": 0.0,
            "missing_cur": 0.0,
            "new_categories": {},
            "out_of_range_share": 0.0,
            "ref_min": -3.9,
            "ref_max": 4.1,
            "constant": False,
        },
    ]
    finding = Finding(
        subject="feature:amount",
        method="missing_share",
        statistic=0.042,
        threshold=0.02,
        severity="warn",
        message="amount is missing in 4.2% of rows (reference 0.1%)",
    )
    return CheckResult(
        check="data_quality",
        status="warn",
        findings=(finding,),
        metrics={"n_rows": 1200, "quarantined_rows": 17, "n_columns_with_issues": 2},
        details=read_details("data_quality", {"columns": columns}),
    )


@functools.cache
def latency_result(seed: int = 0, scale: float = 1.0) -> CheckResult:
    rng = np.random.default_rng(seed)
    lat = rng.lognormal(np.log(40 * scale), 0.5, 5000)
    ref = rng.lognormal(np.log(40), 0.5, 5000)
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    metrics = {
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": float(lat.max()),
        "error_rate": 0.004 * scale,
        "throughput_per_min": 5000 / 1440,
        "n": 5000,
        "reference_p50_ms": float(np.percentile(ref, 50)),
        "reference_p95_ms": float(np.percentile(ref, 95)),
        "reference_p99_ms": float(np.percentile(ref, 99)),
    }
    status = "alert" if p99 > 250 else "ok"
    findings = (
        (
            Finding(
                subject="latency:p99",
                method="p99",
                statistic=p99,
                threshold=250.0,
                severity="alert",
                message=f"p99 latency {p99:.0f} ms above SLO 250 ms",
            ),
        )
        if status == "alert"
        else ()
    )
    return CheckResult(
        check="latency",
        status=status,
        metrics=metrics,
        findings=findings,
        details=read_details("latency", {"slo": {"p99_ms": 250.0, "error_rate": 0.01}}),
    )


def classifier_data(seed: int = 0, miscalibration: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and over-confident scores: ``y ~ Bernoulli(sigmoid(z))``, score ``sigmoid(z * (1 + m))``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-z * (1 + miscalibration)))


def _ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    return float(
        sum(
            abs(y[idx == b].mean() - p[idx == b].mean()) * (idx == b).mean()
            for b in range(n_bins)
            if (idx == b).any()
        )
    )


def _reliability(y: np.ndarray, p: np.ndarray) -> dict:
    frac, pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    idx = np.minimum((p * 10).astype(int), 9)
    counts = np.bincount(idx, minlength=10)
    return {
        "mean_predicted": pred.tolist(),
        "fraction_positive": frac.tolist(),
        "count": counts[counts > 0].tolist(),
        "bin_edges": np.linspace(0, 1, 11).tolist(),
    }


def _calibration_segments(y: np.ndarray, p: np.ndarray, seed: int) -> list:
    """Calibration per segment: "BR" gets squared (deflated) scores; one segment name is hostile."""
    rng = np.random.default_rng(seed + 1)
    frame = pd.DataFrame({"y": y, "score": 1 / (1 + np.exp(-np.log(p / (1 - p)) / 2))})
    frame["country"] = rng.choice(["US", "BR", XSS], len(frame))
    frame.loc[frame["country"] == "BR", "score"] **= 2
    return calibration_by_segment(
        frame, None, segments=["country"], y_true="y", y_score="score", n_simulations=50
    )


@functools.cache
def calibration_result(seed: int = 0) -> CheckResult:
    y, p = classifier_data(seed)
    logit = np.log(p / (1 - p)).reshape(-1, 1)
    fitted = LogisticRegression().fit(logit, y).predict_proba(logit)[:, 1]
    ece_before, ece_after = _ece(y, p), _ece(y, fitted)
    finding = Finding(
        subject="model",
        method="ece",
        statistic=ece_before,
        threshold=0.05,
        severity="alert",
        message=f"probabilities are miscalibrated (ECE {ece_before:.3f} > 0.05)",
    )
    return CheckResult(
        check="calibration",
        status="alert",
        findings=(finding,),
        metrics={"ece": ece_before, "brier": float(np.mean((p - y) ** 2)), "n": len(y)},
        details=read_details(
            "calibration",
            {
                "reliability": _reliability(y, p),
                "recalibrated_reliability": _reliability(y, fitted),
                "segments": _calibration_segments(y, p, seed),
                "recalibration": {
                    "method": "platt",
                    "ece_before": ece_before,
                    "ece_after": ece_after,
                    "log_loss_before": log_loss(y, p),
                    "log_loss_after": log_loss(y, fitted),
                },
            },
        ),
    )


def performance_result(auc: float = 0.84, *, estimated: bool = False, degraded: bool = True) -> CheckResult:
    metrics = [
        {
            "name": "roc_auc",
            "value": auc,
            "ci_low": auc - 0.02,
            "ci_high": auc + 0.02,
            "reference": 0.91,
            "reference_ci_low": 0.9,
            "reference_ci_high": 0.92,
            "direction": "higher_is_better",
            "degraded": degraded,
            "estimated": estimated,
        },
        {
            "name": "f1",
            "value": auc - 0.2,
            "ci_low": auc - 0.23,
            "ci_high": auc - 0.17,
            "reference": 0.7,
            "direction": "higher_is_better",
            "degraded": False,
            "estimated": estimated,
        },
    ]
    name = "estimated_performance" if estimated else "performance"
    findings = (
        (
            Finding(
                subject="model",
                method="roc_auc",
                statistic=auc,
                threshold=0.88,
                severity="alert",
                message=f"AUC {auc:.3f} below reference 0.910",
            ),
        )
        if degraded
        else ()
    )
    return CheckResult(
        check=name,
        status="alert" if degraded else "ok",
        findings=findings,
        metrics={m["name"]: m["value"] for m in metrics},
        details=read_details(name, {"metrics": metrics}),
    )


def segments_result() -> CheckResult:
    segments = [
        {
            "column": "country",
            "value": XSS_DOM,
            "support": 120,
            "metric": "roc_auc",
            "value_metric": 0.71,
            "ci_low": 0.64,
            "ci_high": 0.78,
            "reference_value": 0.9,
            "rest_value": 0.86,
            "p_value": 1e-5,
            "p_adjusted": 4e-4,
            "flagged": True,
        },
        {
            "column": "channel",
            "value": "mobile",
            "support": 480,
            "metric": "roc_auc",
            "value_metric": 0.8,
            "ci_low": 0.76,
            "ci_high": 0.84,
            "reference_value": 0.9,
            "rest_value": 0.86,
            "p_value": 0.003,
            "p_adjusted": 0.04,
            "flagged": True,
        },
        {
            "column": "channel",
            "value": "web",
            "support": 720,
            "metric": "roc_auc",
            "value_metric": 0.87,
            "ci_low": 0.84,
            "ci_high": 0.9,
            "reference_value": 0.9,
            "rest_value": 0.82,
            "p_value": 0.2,
            "p_adjusted": 1.0,
            "flagged": False,
        },
    ]
    return CheckResult(
        check="segments",
        status="alert",
        details=read_details("segments", {"segments": segments}),
        metrics={"n_segments": 3, "n_flagged": 2},
        findings=(
            Finding(
                subject=f"segment:country={XSS_DOM}",
                method="roc_auc",
                statistic=0.71,
                threshold=0.05,
                p_value=4e-4,
                severity="alert",
                message=f"segment country={XSS_DOM} AUC 0.71 vs rest 0.86",
            ),
        ),
    )


@functools.cache
def threshold_result(seed: int = 0) -> CheckResult:
    y, p = classifier_data(seed, miscalibration=0.0)
    thresholds = np.round(np.linspace(0.05, 0.95, 19), 4)
    f1 = [f1_score(y, p >= t) for t in thresholds]
    best = float(thresholds[int(np.argmax(f1))])
    gain = float(max(f1) - f1[list(thresholds).index(0.7)])
    return CheckResult(
        check="threshold",
        status="warn",
        metrics={"current": 0.7, "proposed": best, "gain": gain},
        details=read_details(
            "threshold",
            {
                "curve": {"thresholds": thresholds.tolist(), "objective": f1},
                "current": 0.7,
                "proposed": best,
                "gain": gain,
                "gain_ci": [gain - 0.01, gain + 0.01],
                "objective": "f1",
            },
        ),
    )


@functools.cache
def full_run(*, run_id: int = 42, window_end: datetime = T_END, step: int = 0) -> ModelRun:
    """Every section filled; ``step`` (0 = latest) makes older runs of a history a little healthier."""
    health = max(0.0, 1.0 - 0.25 * step)
    checks = (
        drift_result(seed=step, shift=health),
        quality_result(),
        latency_result(seed=step, scale=1.0 + 1.2 * health),
        performance_result(0.91 - 0.07 * health, degraded=health > 0.5),
        performance_result(0.905 - 0.06 * health, estimated=True, degraded=health > 0.5),
        calibration_result(seed=step),
        segments_result(),
        threshold_result(seed=step),
        CheckResult(check="prediction_volume", status="ok", metrics={"n": 1200, "per_hour": 50.0}),
    )
    recs = (
        Recommendation(
            action="retrain",
            reasons=(
                f"AUC fell from 0.910 to {0.91 - 0.07 * health:.3f}",
                f"4 important features drifted, including {XSS}",
            ),
            evidence={"auc": 0.91 - 0.07 * health, "reference_auc": 0.91, "share_drifted": 0.16},
        ),
        Recommendation(
            action="recalibrate",
            reasons=("ECE 0.09 above 0.05 while ranking holds",),
            evidence={"ece_before": 0.09, "ece_after": 0.01},
            artifact="artifacts/fraud-detector/platt-run42.json",
        ),
    )
    return ModelRun(
        model=MODEL,
        window_start=window_end - timedelta(days=1),
        window_end=window_end,
        reference={"kind": "fixed", "start": "2026-01-01", "end": "2026-02-01", "rows": 1500, "file": XSS},
        checks=checks,
        recommendations=recs,
        run_id=run_id,
        model_version=f"2026.02.1 {XSS_DOM}",  # from the logs: hostile as any logged value
    )


@functools.cache
def labels_pending_run(*, run_id: int = 43, window_end: datetime = T_END + timedelta(days=1)) -> ModelRun:
    """Label checks skipped (labels have not arrived); estimated performance stands in."""
    reason = "label coverage 12% < 50% (labels arrive after up to 14 days)"
    checks = (
        drift_result(seed=5, shift=0.0),
        latency_result(seed=5),
        CheckResult.skipped("performance", reason, label_coverage=0.12),
        performance_result(0.9, estimated=True, degraded=False),
        CheckResult.skipped("calibration", reason),
        CheckResult.skipped("segments", reason),
        CheckResult.skipped("threshold", reason),
    )
    return ModelRun(
        model=MODEL,
        window_start=window_end - timedelta(days=1),
        window_end=window_end,
        reference={"kind": "trailing", "days": 30},
        checks=checks,
        run_id=run_id,
    )


def model_history(n: int = 6) -> list[ModelRun]:
    """``n`` daily runs ending with :func:`full_run` (oldest first, healthier in the past)."""
    return [full_run(run_id=42 - i, window_end=T_END - timedelta(days=i), step=i) for i in reversed(range(n))]


#: The label column as the drift check reports a 0/1 label: numeric, one bin per value.
LABEL_DRIFT_ROW = {
    "column": "is_fraud",
    "role": "label",
    "kind": "numeric",
    "method": "jensenshannon",
    "statistic": 0.05,
    "p_value": None,
    "threshold": 0.1,
    "effect_size": 0.05,
    "drifted": False,
    "histogram": {"bins": [0.0, 1.0, 1.0], "reference": [0.97, 0.03], "current": [0.95, 0.05]},
}


def with_label_drift(run: ModelRun) -> ModelRun:
    """``run`` whose drift result also tested the 0/1 label column (:data:`LABEL_DRIFT_ROW`)."""
    checks = []
    for c in run.checks:
        if c.check == "drift":
            c = dataclasses.replace(
                c,
                details={
                    **c.details,
                    "columns": [*c.details["columns"], DriftRow.from_dict(LABEL_DRIFT_ROW)],
                },
            )
        checks.append(c)
    return dataclasses.replace(run, checks=tuple(checks))


def empty_window(window_end: datetime, run_id: int) -> ModelRun:
    """A window the daemon checked before any data arrived: every check skipped."""
    reason = "no rows in the window"
    return ModelRun(
        model=MODEL,
        window_start=window_end - timedelta(days=7),
        window_end=window_end,
        reference={"kind": "trailing", "days": 30},
        checks=tuple(CheckResult.skipped(c, reason) for c in ("drift", "latency", "performance")),
        run_id=run_id,
    )


def long_history(years: int = 3, *, empty_after: int = 3) -> list[ModelRun]:
    """Weekly runs over ``years`` years ending with :func:`full_run` at :data:`T_END` (oldest first,
    healthier in the past, every check ``ok`` before the last 26 weeks; the latest with
    :func:`with_label_drift`), then ``empty_after`` skipped empty windows after it."""
    n = years * 52 + 1
    runs = []
    for k in range(n):
        end = T_END - timedelta(weeks=n - 1 - k)
        base = full_run(step=min(5, (n - 1 - k) * 6 // n))
        if k < n - 26:  # calm until the last half year
            calm = tuple(dataclasses.replace(c, status="ok", findings=()) for c in base.checks)
            base = dataclasses.replace(base, checks=calm, recommendations=())
        runs.append(
            dataclasses.replace(base, window_start=end - timedelta(days=7), window_end=end, run_id=1000 + k)
        )
    runs[-1] = with_label_drift(runs[-1])
    return runs + [empty_window(T_END + timedelta(weeks=w), 2000 + w) for w in range(1, empty_after + 1)]
