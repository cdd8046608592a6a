import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from checks._params import InvalidParameter
from checks.quality import data_quality

COLUMN_KEYS = {
    "column",
    "kind",
    "missing_ref",
    "missing_cur",
    "missing_p_value",
    "new_categories",
    "n_new_categories",
    "new_category_share",
    "out_of_range_share",
    "ref_min",
    "ref_max",
    "constant",
    "vanished_categories",
    "vanished_p_value",
}


def frame(n, seed, *, missing=0.0, countries=("FR", "DE", "IT")):
    rng = np.random.default_rng(seed)
    amount = rng.normal(100, 15, n)
    amount[rng.random(n) < missing] = np.nan
    return pd.DataFrame({"amount": amount, "country": rng.choice(countries, n)})


def check(ref, cur, **kwargs):
    return data_quality(ref, cur, numeric=["amount"], categorical=["country"], **kwargs)


def by_method(result):
    return {f.method: f for f in result.findings}


def test_clean_window_is_ok_and_details_have_every_column_field():
    r = check(frame(2000, 1), frame(1000, 2))
    assert r.status == "ok" and r.findings == ()
    columns = [row.to_dict() for row in r.details["columns"]]
    assert [c["column"] for c in columns] == ["amount", "country"]
    assert all(set(c) == COLUMN_KEYS for c in columns)
    ref = frame(2000, 1)
    assert columns[0]["ref_min"] == ref["amount"].min() and columns[0]["ref_max"] == ref["amount"].max()
    json.dumps(r.to_dict())


def test_significant_and_material_missing_increase_alerts():
    ref, cur = frame(2000, 3, missing=0.02), frame(1000, 4, missing=0.12)
    r = check(ref, cur)
    f = by_method(r)["missing_share"]
    ref_miss, cur_miss = int(ref["amount"].isna().sum()), int(cur["amount"].isna().sum())
    expected = stats.fisher_exact(
        [[cur_miss, 1000 - cur_miss], [ref_miss, 2000 - ref_miss]], alternative="greater"
    )
    assert f.subject == "feature:amount" and f.severity == "alert" and r.status == "alert"
    assert f.p_value == pytest.approx(expected.pvalue)
    assert f.statistic == cur_miss / 1000
    assert f.threshold == pytest.approx(ref_miss / 2000 + 0.05)
    assert r.details["columns"][0].missing_cur == cur_miss / 1000
    assert r.metrics["columns_missing_increase"] == 1


def test_tiny_but_significant_missing_increase_at_large_n_is_not_flagged():
    ref, cur = frame(100_000, 5, missing=0.01), frame(100_000, 6, missing=0.03)
    r = check(ref, cur)
    n_ref, n_cur = int(ref["amount"].isna().sum()), int(cur["amount"].isna().sum())
    p = stats.fisher_exact([[n_cur, 100_000 - n_cur], [n_ref, 100_000 - n_ref]], alternative="greater").pvalue
    assert p < 1e-6
    assert "missing_share" not in by_method(r)


def test_material_but_insignificant_missing_increase_on_few_rows_is_not_flagged():
    ref = frame(50, 7)
    cur = frame(10, 8)
    cur.loc[0, "amount"] = np.nan  # 0% -> 10%, but one row of ten
    r = check(ref, cur)
    assert r.details["columns"][0].missing_p_value > 0.01
    assert "missing_share" not in by_method(r)


def test_new_categories_with_share_and_top_values():
    ref = frame(1000, 9)
    cur = frame(1000, 10)
    cur.loc[:29, "country"] = "US"
    cur.loc[30:34, "country"] = "BR"
    r = check(ref, cur)
    f = by_method(r)["new_categories"]
    assert f.subject == "feature:country" and f.severity == "warn" and r.status == "warn"
    assert f.statistic == pytest.approx(0.035)
    column = r.details["columns"][1].to_dict()
    assert column["new_categories"] == {"US": 0.03, "BR": 0.005}
    assert column["n_new_categories"] == 2
    cur.loc[:199, "country"] = "US"
    assert by_method(check(ref, cur))["new_categories"].severity == "alert"


def test_rare_new_category_below_threshold_is_quiet():
    cur = frame(1000, 11)
    cur.loc[0, "country"] = "US"
    r = check(frame(1000, 12), cur)
    assert r.status == "ok" and r.details["columns"][1].new_categories == {"US": 0.001}


def test_out_of_range_share_against_reference_min_max():
    ref = frame(1000, 13)
    cur = frame(1000, 14)
    cur.loc[:49, "amount"] = 1e6
    cur.loc[50:59, "amount"] = -5.0
    cur.loc[60:69, "amount"] = np.nan
    r = check(ref, cur)
    f = by_method(r)["out_of_range"]
    present = cur["amount"].dropna()
    lo, hi = ref["amount"].min(), ref["amount"].max()
    assert f.statistic == pytest.approx(((present < lo) | (present > hi)).mean())
    assert f.evidence["share_above"] == pytest.approx((present > hi).mean())
    assert f.evidence["share_below"] == pytest.approx((present < lo).mean())
    assert (present > hi).sum() >= 50 and (present < lo).sum() >= 10
    assert f.severity == "warn"
    assert r.details["columns"][0].out_of_range_share == f.statistic


def test_constant_column_in_current_but_not_in_reference():
    ref, cur = frame(500, 15), frame(500, 16)
    cur["country"] = "FR"
    r = check(ref, cur)
    f = by_method(r)["constant"]
    assert f.subject == "feature:country" and f.severity == "warn"
    assert f.evidence == {"value": "FR", "reference_n_unique": 3, "n": 500}
    assert r.details["columns"][1].constant is True
    always_constant = check(frame(500, 15, countries=("FR",)), cur)
    assert "constant" not in by_method(always_constant)


def test_quarantine_share_over_threshold_is_an_ingestion_alert():
    cur = frame(950, 17)
    r = check(frame(1000, 18), cur, quarantined=50)
    f = by_method(r)["quarantine_share"]
    assert f.subject == "ingestion" and f.severity == "alert"
    assert f.statistic == pytest.approx(50 / 1000)
    assert r.metrics["quarantined"] == 50 and r.metrics["n_ingested"] == 1000
    quiet = check(frame(1000, 18), cur, quarantined=5, n_ingested=2000)
    assert quiet.status == "ok" and quiet.metrics["quarantine_share"] == 0.0025


def test_empty_windows():
    empty = frame(0, 19)
    assert check(frame(100, 20), empty).status == "skipped"
    everything_quarantined = check(frame(100, 20), empty, quarantined=40)
    assert everything_quarantined.status == "alert"
    assert everything_quarantined.details["columns"] == []
    assert check(empty, frame(100, 21)).reason == "the reference window has no rows"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"numeric": ["amount", "age"], "categorical": []}, r"lacks declared columns \['age'\]"),
        ({"numeric": ["country"], "categorical": []}, "are not numeric"),
        ({"numeric": ["amount"], "categorical": ["amount"]}, "both numeric and categorical"),
        ({"numeric": [], "categorical": [], "quarantined": 5, "n_ingested": 2}, "smaller than"),
        ({"numeric": [], "categorical": [], "missing_alpha": 2.0}, "'missing_alpha' of data_quality"),
    ],
)
def test_bad_input_is_rejected(kwargs, message):
    with pytest.raises(InvalidParameter, match=message):
        data_quality(frame(10, 0), frame(10, 1), **kwargs)
