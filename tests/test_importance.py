"""Importance estimated from the reference window: the score's dependence on each feature."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from checks._params import InvalidParameter
from checks.importance import dependence_sample, estimate_dependence, score_dependence
from monitor.config import load_config
from monitor.pipeline.check_suite import run_suite

WEIGHTS = np.array([2.0, -1.5, 1.0, 0.5, 0.0, 0.0])
FEATURES = [f"x{i}" for i in range(len(WEIGHTS))]


def gaussian_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(WEIGHTS)))
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["channel"] = rng.choice(["web", "app"], n)
    frame["score"] = 1 / (1 + np.exp(-(x @ WEIGHTS)))
    return frame


def test_shares_match_the_gaussian_mutual_information() -> None:
    # Independent standard normal features and a score monotone in the margin w.x: the mutual
    # information of feature j with the score is -log(1 - rho_j^2) / 2 with rho_j = w_j / |w|.
    rho = WEIGHTS / np.linalg.norm(WEIGHTS)
    exact = -0.5 * np.log(1 - rho**2)
    exact /= exact.sum()
    estimated = score_dependence(
        gaussian_frame(20000, seed=1), numeric=FEATURES, categorical=["channel"], score="score"
    )
    assert list(estimated) == [*FEATURES, "channel"]
    assert sum(estimated.values()) == pytest.approx(1.0)
    np.testing.assert_allclose([estimated[f] for f in FEATURES], exact, atol=0.04)
    assert estimated["channel"] < 0.02


def test_a_constant_score_or_missing_column_is_handled() -> None:
    frame = gaussian_frame(500, seed=2).assign(score=0.3)
    assert score_dependence(frame, numeric=FEATURES, score="score") == {}
    with pytest.raises(InvalidParameter, match="lacks columns \\['nope'\\]"):
        score_dependence(frame, numeric=["nope"], score="score")


def test_the_suite_estimates_importance_when_none_is_configured(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[models]]\nname = "m"\n[models.features]\nnumeric = ["x0", "x1", "x2", "x3", "x4", "x5"]\n',
        encoding="utf-8",
    )
    model = load_config(path).models[0]
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def window(seed: int, shift: float) -> pd.DataFrame:
        frame = gaussian_frame(3000, seed)
        frame["x0"] += shift
        frame["score"] = 1 / (1 + np.exp(-(frame[FEATURES].to_numpy() @ WEIGHTS)))
        return frame.assign(
            ts=[start + timedelta(seconds=i) for i in range(len(frame))],
            prediction=(frame["score"] >= 0.5).astype(float),
            latency_ms=10.0,
            error=False,
            label=np.nan,
        )

    outcome = run_suite(model, window(3, 0.0), window(4, 1.0), quarantined=0, window_seconds=86400, seed=0)
    drift = next(c for c in outcome.checks if c.check == "drift")
    assert outcome.extra["importance_source"] == drift.details["importance_source"] == "estimated"
    assert max(outcome.extra["importance"], key=outcome.extra["importance"].get) == "x0"
    x0 = next(f for f in drift.findings if f.subject == "feature:x0")
    assert x0.evidence["importance"] == pytest.approx(outcome.extra["importance"]["x0"])


def test_the_sample_digest_names_what_the_estimate_depends_on() -> None:
    frame = gaussian_frame(3000, seed=3)
    options = {"numeric": FEATURES, "categorical": ["channel"], "score": "score", "max_rows": 1000}
    sample = dependence_sample(frame, seed=7, **options)
    assert sample is not None
    assert estimate_dependence(sample) == score_dependence(frame, seed=7, **options)
    assert dependence_sample(frame.copy(), seed=7, **options).digest() == sample.digest()  # type: ignore[union-attr]
    changed = frame.copy()
    changed.loc[sample_row(frame, seed=7, max_rows=1000), "x3"] += 1e-9
    others = [
        dependence_sample(frame, seed=8, **options),
        dependence_sample(changed, seed=7, **options),
        dependence_sample(
            frame.rename(columns={"x5": "z"}), seed=7, **{**options, "numeric": [*FEATURES[:5], "z"]}
        ),
        dependence_sample(frame, seed=7, n_neighbors=4, **options),
        dependence_sample(frame.assign(score=frame["score"] > 0.5), seed=7, **options),
    ]
    digests = {s.digest() for s in others if s is not None}
    assert len(digests) == len(others) and sample.digest() not in digests
    assert dependence_sample(frame.iloc[:3], seed=7, **options) is None  # too few rows to estimate


def sample_row(frame: pd.DataFrame, *, seed: int, max_rows: int) -> int:
    """A row the seeded subset of ``score_dependence`` uses."""
    return int(frame.sample(max_rows, random_state=seed).index[0])
