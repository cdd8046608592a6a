"""run_suite: which reference the label-based checks compare with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from monitor.config import load_config
from monitor.pipeline.check_suite import LABEL_CHECKS, run_suite

START = datetime(2026, 10, 1, tzinfo=UTC)


def window(n: int, seed: int, *, labelled_share: float = 1.0) -> pd.DataFrame:
    """Calibrated scores; with ``labelled_share < 1`` the positives' outcomes arrived first."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    score = 1 / (1 + np.exp(-(x - 1.0)))
    y = (rng.uniform(size=n) < score).astype(float)
    # Chargebacks (positives) come in first: a partly labelled window over-represents them.
    arrival = np.where(y == 1, rng.uniform(0, 0.3, n), rng.uniform(0.1, 1.0, n))
    label = np.where(arrival <= np.quantile(arrival, labelled_share), y, np.nan)
    return pd.DataFrame(
        {
            "ts": [START + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 86400, n))],
            "prediction": (score >= 0.5).astype(float),
            "score": score,
            "latency_ms": rng.gamma(2.0, 10.0, n),
            "error": False,
            "x": x,
            "label": label,
        }
    )


def model(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(
        """
[[models]]
name = "fraud"
task = "binary"
[models.features]
numeric = ["x"]
[models.performance]
n_resamples = 200
""",
        encoding="utf-8",
    )
    return load_config(path).models[0]


def label_checks(outcome):  # type: ignore[no-untyped-def]
    return [c for c in outcome.checks if c.check in LABEL_CHECKS]


def test_a_half_labelled_reference_is_not_compared_with(tmp_path: Path) -> None:
    m, current = model(tmp_path), window(4000, seed=1)
    biased = run_suite(
        m, window(4000, seed=2, labelled_share=0.3), current, quarantined=0, window_seconds=86400, seed=0
    )
    checks = label_checks(biased)
    assert checks and all("label coverage 30.0%" in c.details["reference_unused"] for c in checks)
    performance = next(c for c in checks if c.check == "performance")
    assert "reference_roc_auc" not in performance.metrics
    assert performance.status == "ok"

    mature = run_suite(m, window(4000, seed=2), current, quarantined=0, window_seconds=86400, seed=0)
    checks = label_checks(mature)
    assert not any("reference_unused" in c.details for c in checks)
    performance = next(c for c in checks if c.check == "performance")
    assert "reference_roc_auc" in performance.metrics and performance.status == "ok"


def test_comparing_with_the_half_labelled_reference_would_raise_a_false_alert(tmp_path: Path) -> None:
    # What the gate prevents: the same stationary windows, the reference taken at any coverage.
    m = model(tmp_path)
    m = m.model_copy(update={"labels": m.labels.model_copy(update={"min_coverage": 0.0})})
    reference = window(4000, seed=2, labelled_share=0.3)
    outcome = run_suite(m, reference, window(4000, seed=1), quarantined=0, window_seconds=86400, seed=0)
    performance = next(c for c in outcome.checks if c.check == "performance")
    assert performance.status == "alert"  # PR AUC and precision "fell": positives were over-represented


def test_before_labels_the_estimate_is_compared_with_the_estimate_on_the_reference(tmp_path: Path) -> None:
    m, reference = model(tmp_path), window(4000, seed=2)
    stable = window(4000, seed=3).assign(label=np.nan)
    outcome = run_suite(m, reference, stable, quarantined=0, window_seconds=86400, seed=0)
    estimated = next(c for c in outcome.checks if c.check == "estimated_performance")
    assert estimated.metrics["reference_roc_auc"] > 0.7 and estimated.status == "ok"

    # Rows crowd near the boundary: the scores (still calibrated) rank worse.
    harder = stable.assign(score=1 / (1 + np.exp(-(0.3 * stable["x"] - 1.0))))
    outcome = run_suite(m, reference, harder, quarantined=0, window_seconds=86400, seed=0)
    estimated = next(c for c in outcome.checks if c.check == "estimated_performance")
    assert estimated.status == "warn" and "roc_auc" in {f.method for f in estimated.findings}
    assert estimated.details["p_value_adjustment"] == "holm"


def test_a_model_miscalibrated_since_the_reference_gets_no_estimated_warning(tmp_path: Path) -> None:
    # Under-confident scores in both windows: CBPE is biased, but equally so in both.
    def underconfident(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(score=1 / (1 + np.exp(-0.6 * (frame["x"] - 1.0))))

    m = model(tmp_path)
    reference = underconfident(window(4000, seed=2))
    current = underconfident(window(4000, seed=3)).assign(label=np.nan)
    outcome = run_suite(m, reference, current, quarantined=0, window_seconds=86400, seed=0)
    estimated = next(c for c in outcome.checks if c.check == "estimated_performance")
    assert estimated.status == "ok" and "reference_roc_auc" in estimated.metrics


def test_without_reference_rows_data_quality_is_skipped_with_the_reason(tmp_path: Path) -> None:
    # A first window (trailing reference still empty) lists data_quality as skipped, not absent.
    m, current = model(tmp_path), window(1000, seed=3)
    empty = current.iloc[0:0]
    outcome = run_suite(m, empty, current, quarantined=0, window_seconds=86400, seed=0)
    by_name = {c.check: c for c in outcome.checks}
    assert by_name["drift"].status == "skipped"
    assert by_name["data_quality"].status == "skipped"
    assert by_name["data_quality"].reason == "the reference has no rows"
