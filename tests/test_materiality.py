"""Materiality on the right scale: an absolute ``min_delta`` or a relative rise of the error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from checks._params import InvalidParameter
from checks.details import Detail
from checks.performance import METRICS, LabelledWindow, materiality, performance


def binormal_window(auc: float, *, n: int = 5000, prevalence: float = 0.3, offset: float = 0.0):
    """Scores at evenly spaced normal quantiles, positives shifted so that the AUC is ``auc``.

    The binormal model with unit variances has AUC = Phi(d / sqrt(2)); quantile grids instead of
    random draws make the window's AUC that value to about 1e-3 without depending on a seed.
    """
    n_pos = int(n * prevalence)
    n_neg = n - n_pos
    d = np.sqrt(2) * stats.norm.ppf(auc)

    def grid(k: int) -> np.ndarray:
        return stats.norm.ppf((np.arange(k) + 0.5 + offset) / (k + 1))

    z = np.concatenate([grid(n_neg), grid(n_pos) + d])
    y = np.r_[np.zeros(n_neg, dtype=int), np.ones(n_pos, dtype=int)]
    return y, 1 / (1 + np.exp(-(z - 1.5)))


def roc_row(result):
    return next(m for m in map(Detail.to_dict, result.details["metrics"]) if m["name"] == "roc_auc")


@pytest.fixture(scope="module")
def reference():
    y, s = binormal_window(0.971)
    assert roc_auc_score(y, s) == pytest.approx(0.971, abs=1e-3)
    return LabelledWindow(y, y_score=s)


def test_an_auc_drop_near_the_ceiling_is_material_by_the_relative_rule(reference) -> None:
    y, s = binormal_window(0.960, offset=0.3)
    assert roc_auc_score(y, s) == pytest.approx(0.960, abs=1e-3)
    r = performance(y, y_score=s, task="binary", reference=reference, n_resamples=500, seed=1)
    row = roc_row(r)
    # Hand computation: 1 - AUC went from 0.029 to 0.040, a 38% rise, while the drop is 0.011 < 0.02.
    ref_auc, cur_auc = roc_auc_score(reference.y_true, reference.y_score), roc_auc_score(y, s)
    assert row["relative_rise"] == pytest.approx((ref_auc - cur_auc) / (1 - ref_auc))
    assert -row["delta"] < row["min_delta"] == 0.02
    assert row["material_by"] == "relative" and row["degraded"]
    finding = next(f for f in r.findings if f.method == "roc_auc")
    assert finding.evidence["material_by"] == "relative" and finding.p_value < 0.05
    assert "error 1 - roc_auc rose 38%" in finding.message
    assert finding.threshold == pytest.approx(ref_auc - 0.25 * (1 - ref_auc))


def test_a_small_auc_drop_near_the_ceiling_is_not_material(reference) -> None:
    y, s = binormal_window(0.968, offset=0.3)
    r = performance(y, y_score=s, task="binary", reference=reference, n_resamples=500, seed=1)
    row = roc_row(r)
    assert row["relative_rise"] == pytest.approx(0.10, abs=0.02)  # 0.029 -> 0.032
    assert row["material_by"] is None and not row["degraded"]
    assert "roc_auc" not in {f.method for f in r.findings}


@pytest.mark.parametrize(
    ("name", "reference", "value", "expected"),
    [
        ("roc_auc", 0.80, 0.78, "absolute"),  # far from the ceiling: 0.02 is only +10% error
        ("roc_auc", 0.80, 0.79, None),
        ("accuracy", 0.944, 0.910, "absolute"),
        ("accuracy", 0.990, 0.986, "relative"),  # 0.010 -> 0.014: +40%
        ("f1", 0.95, 0.94, None),  # +20% < 25%, 0.01 < 0.03
        ("brier", 0.10, 0.111, "absolute"),  # error metrics: min_delta is 10% of the reference
        ("brier", 0.10, 0.105, None),
        ("r2", 0.90, 0.87, None),  # unbounded below: absolute 0.05 only
        ("roc_auc", 0.971, 0.975, None),  # improvement
    ],
)
def test_materiality_matches_a_hand_computation(name, reference, value, expected) -> None:
    m = materiality(METRICS[name], value, reference)
    assert m["material_by"] == expected and m["material"] is (expected is not None)
    if METRICS[name].bounded:
        assert m["relative_rise"] == pytest.approx((reference - value) / (1 - reference))


def test_min_relative_is_validated_and_can_be_tightened(reference) -> None:
    y, s = binormal_window(0.960, offset=0.3)
    with pytest.raises(InvalidParameter, match="'min_relative' of performance must be > 0"):
        performance(y, y_score=s, task="binary", reference=reference, min_relative=0.0)
    strict = performance(y, y_score=s, task="binary", reference=reference, n_resamples=200, min_relative=0.5)
    assert not roc_row(strict)["degraded"]


def test_stationary_false_alarm_rate_stays_below_alpha_near_the_ceiling() -> None:
    # AUC ~0.97: the relative clause makes a drop of ~0.008 material, so significance alone decides.
    windows, alerts = 300, 0
    for seed in range(windows):
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(2):
            y = (rng.uniform(size=600) < 0.3).astype(int)
            z = rng.normal(size=600) + 2.68 * y
            draws.append((y, 1 / (1 + np.exp(-(z - 1.5)))))
        (ry, rs), (cy, cs) = draws
        r = performance(
            cy,
            y_score=cs,
            task="binary",
            reference=LabelledWindow(ry, y_score=rs),
            n_resamples=200,
            seed=seed,
        )
        alerts += r.status == "alert"
    assert alerts / windows <= 0.05  # measured: 10 of 300 (5 of them on ROC AUC)
