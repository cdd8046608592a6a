import numpy as np
import pytest
from scipy import stats

from checks._params import InvalidParameter
from checks.latency import latency_check


def lognormal(n, seed, scale=1.0):
    return np.random.default_rng(seed).lognormal(3.0, 0.6, n) * scale


def by_method(result):
    return {f.method: f for f in result.findings}


def test_metrics_agree_with_numpy():
    ref, cur = lognormal(3000, 1), lognormal(2000, 2)
    errors = np.random.default_rng(3).random(2000) < 0.02
    r = latency_check(ref, cur, current_errors=errors, window_seconds=600, reference_window_seconds=1800)
    p50, p95, p99 = np.percentile(cur, [50, 95, 99])
    assert r.metrics["p50_ms"] == pytest.approx(p50)
    assert r.metrics["p95_ms"] == pytest.approx(p95)
    assert r.metrics["p99_ms"] == pytest.approx(p99)
    assert r.metrics["max_ms"] == cur.max()
    assert r.metrics["error_rate"] == errors.mean()
    assert r.metrics["n"] == 2000 and r.metrics["n_errors"] == errors.sum()
    assert r.metrics["throughput_per_min"] == pytest.approx(200.0)
    assert r.metrics["reference_p95_ms"] == pytest.approx(np.percentile(ref, 95))
    assert r.metrics["reference_throughput_per_min"] == pytest.approx(100.0)
    assert r.metrics["reference_error_rate"] == 0.0
    assert [f.method for f in r.findings] == ["error_rate_regression"]  # 0% -> 2% errors


def test_nan_latencies_count_as_requests_but_not_in_percentiles():
    cur = np.r_[lognormal(100, 4), [np.nan] * 20]
    r = latency_check(None, cur, current_errors=20, window_seconds=60)
    assert r.metrics["n"] == 120
    assert r.metrics["p95_ms"] == pytest.approx(np.nanpercentile(cur, 95))
    assert r.metrics["error_rate"] == pytest.approx(20 / 120)
    assert "reference_p95_ms" not in r.metrics


def test_slo_breaches_are_alerts():
    cur = lognormal(1000, 5)
    p95 = np.percentile(cur, 95)
    errors = np.zeros(1000, bool)
    errors[:30] = True
    r = latency_check(
        None,
        cur,
        current_errors=errors,
        window_seconds=3600,
        slo_p50_ms=1e6,
        slo_p95_ms=p95 - 1,
        max_error_rate=0.01,
        min_throughput_per_min=60,
    )
    found = by_method(r)
    assert r.status == "alert"
    assert set(found) == {"p95_slo", "error_rate_slo", "throughput_slo"}
    assert found["p95_slo"].subject == "latency:p95"
    assert found["p95_slo"].statistic == pytest.approx(p95) and found["p95_slo"].threshold == p95 - 1
    assert found["error_rate_slo"].subject == "errors" and found["error_rate_slo"].statistic == 0.03
    assert found["throughput_slo"].subject == "throughput"
    assert found["throughput_slo"].statistic == pytest.approx(1000 / 60)
    assert all(f.severity == "alert" for f in r.findings)


def test_no_traffic_breaches_the_throughput_floor_or_is_skipped():
    r = latency_check(lognormal(100, 6), [], window_seconds=300, min_throughput_per_min=1)
    assert r.status == "alert" and r.findings[0].subject == "throughput"
    assert r.metrics["p95_ms"] is None
    skipped = latency_check(lognormal(100, 6), [], window_seconds=300)
    assert skipped.status == "skipped" and skipped.reason == "no requests in the current window"


def test_material_and_significant_regression_is_detected():
    ref, cur = lognormal(5000, 7), lognormal(3000, 8, scale=1.5)
    r = latency_check(ref, cur, window_seconds=3600)
    found = by_method(r)
    assert {"p50_regression", "p95_regression", "p99_regression"} <= set(found)
    f = found["p95_regression"]
    ref_p95 = np.percentile(ref, 95)
    table = [[np.sum(cur > ref_p95), np.sum(cur <= ref_p95)], [np.sum(ref > ref_p95), np.sum(ref <= ref_p95)]]
    assert f.p_value == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue)
    assert f.subject == "latency:p95" and f.severity == "warn" and r.status == "warn"
    assert f.threshold == pytest.approx(1.2 * ref_p95)
    assert f.effect_size == pytest.approx(np.percentile(cur, 95) / ref_p95 - 1)


def test_tiny_but_significant_slowdown_at_large_n_is_not_flagged():
    ref, cur = lognormal(200_000, 9), lognormal(200_000, 10, scale=1.05)
    ref_p95 = np.percentile(ref, 95)
    table = [[np.sum(cur > ref_p95), np.sum(cur <= ref_p95)], [np.sum(ref > ref_p95), np.sum(ref <= ref_p95)]]
    assert stats.fisher_exact(table, alternative="greater").pvalue < 1e-6  # significant...
    r = latency_check(ref, cur, window_seconds=3600)
    assert r.status == "ok" and r.findings == ()  # ...but 5% is not material


def test_material_but_insignificant_p99_on_few_requests_is_not_flagged():
    ref = lognormal(1000, 11)
    cur = np.r_[np.full(9, np.median(ref)), [10 * ref.max()]]
    r = latency_check(ref, cur, window_seconds=60)
    assert r.metrics["p99_ms"] > 1.2 * r.metrics["reference_p99_ms"]
    assert "p99_regression" not in by_method(r)


def test_error_rate_regression_needs_materiality_and_significance():
    ref = lognormal(10_000, 12)
    ref_errors = np.arange(10_000) < 100  # 1%
    cur = lognormal(5_000, 13)
    worse = latency_check(
        ref, cur, reference_errors=ref_errors, current_errors=np.arange(5_000) < 150, window_seconds=60
    )
    f = by_method(worse)["error_rate_regression"]
    expected = stats.fisher_exact([[150, 4850], [100, 9900]], alternative="greater").pvalue
    assert f.p_value == pytest.approx(expected) and f.statistic == 0.03
    slightly = latency_check(ref, cur, reference_errors=100, current_errors=55, window_seconds=60)
    assert "error_rate_regression" not in by_method(slightly)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"current_errors": [True, False]}, "one flag per request"),
        ({"current_errors": 5}, "within"),
        ({"window_seconds": 0}, "'window_seconds' of latency_check"),
        ({"current_latency_ms": [1.0, -2.0, 3.0]}, "non-negative"),
    ],
)
def test_bad_input_is_rejected(kwargs, message):
    args = {
        "reference_latency_ms": None,
        "current_latency_ms": [1.0, 2.0, 3.0],
        "window_seconds": 60,
        **kwargs,
    }
    with pytest.raises(InvalidParameter, match=message):
        latency_check(args.pop("reference_latency_ms"), args.pop("current_latency_ms"), **args)


def test_slos_are_reported_in_details_even_when_met():
    rng = np.random.default_rng(3)
    result = latency_check(
        None, rng.gamma(2.0, 10.0, 1000), window_seconds=3600, slo_p99_ms=500, max_error_rate=0.05
    )
    assert result.status == "ok"
    assert result.details["slo"].bounds() == {"p99_ms": 500, "error_rate": 0.05}


def test_window_quantiles_of_a_sampled_window_replace_the_samples_in_metrics_and_slos():
    rng = np.random.default_rng(5)
    window = rng.lognormal(3.0, 0.5, 50_000)
    sample = window[:2_000]
    exact = dict(zip(("p50_ms", "p95_ms", "p99_ms"), np.percentile(window, [50, 95, 99]), strict=True))
    slo = float(exact["p95_ms"]) * 1.0001  # the whole window meets it
    plain = latency_check(None, sample, window_seconds=60)
    got = latency_check(
        None, sample, window_seconds=60, slo_p95_ms=slo, window_quantiles={**exact, "max_ms": window.max()},
        quantile_rank_error=1e-4,
    )  # fmt: skip
    assert got.metrics["p95_ms"] == exact["p95_ms"] != plain.metrics["p95_ms"]
    assert got.metrics["max_ms"] == window.max() and got.metrics["quantile_rank_error"] == 1e-4
    assert "quantile_rank_error" not in plain.metrics
    assert not [f for f in got.findings if f.subject == "latency:p95"]
    breach = latency_check(None, sample, window_seconds=60, slo_p95_ms=exact["p95_ms"] * 0.99,
                           window_quantiles=exact)  # fmt: skip
    assert [f.statistic for f in breach.findings] == [exact["p95_ms"]]
