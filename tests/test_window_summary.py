"""The summary contract: counts against numpy, merging, the hash sample, verdicts as in memory."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from checks.drift import bin_counts, dataset_drift, reference_edges
from checks.drift.window_summary import (
    counts_from_at_or_above,
    hash_cutoff,
    in_hash_sample,
    summarise_frame,
    summary_drift,
    summary_edges,
)
from checks.result import jsonable


def frames(seed: int = 3, n: int = 4000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.random(n) < 0.05] = np.nan
        c = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]).astype(object)
        c[rng.random(n) < 0.02] = None
        return pd.DataFrame({"x": x, "c": c, "s": rng.random(n)})

    return one(0.0), one(0.5)


def test_bin_counts_match_numpy_and_the_at_or_above_form() -> None:
    ref, cur = frames()
    edges = reference_edges(ref["x"].dropna())
    got = summarise_frame(cur, {"x": edges}, [])
    assert got.numeric["x"].counts == tuple(bin_counts(cur["x"], edges).tolist())
    present = cur["x"].dropna().to_numpy()
    above = [(present >= e).sum() for e in edges]
    assert counts_from_at_or_above(present.size, above).tolist() == list(got.numeric["x"].counts)
    assert got.numeric["x"].std == pytest.approx(np.std(present), rel=1e-9)
    assert got.numeric["x"].missing == cur["x"].isna().sum()


def test_summaries_merge_like_the_concatenated_rows() -> None:
    ref, _ = frames()
    edges = {"x": reference_edges(ref["x"].dropna())}
    whole = summarise_frame(ref, edges, ["c"])
    halves = summarise_frame(ref.iloc[:1500], edges, ["c"]).merge(
        summarise_frame(ref.iloc[1500:], edges, ["c"])
    )
    assert halves.rows == whole.rows and halves.categorical == whole.categorical
    assert halves.numeric["x"].counts == whole.numeric["x"].counts
    assert halves.numeric["x"].total == pytest.approx(whole.numeric["x"].total)
    assert (halves.numeric["x"].low, halves.numeric["x"].high) == (
        whole.numeric["x"].low,
        whole.numeric["x"].high,
    )


def test_hash_sample_is_md5_uniform_and_nested() -> None:
    ids = [f"e{i}" for i in range(20_000)]
    small, large = in_hash_sample(ids, 0.1), in_hash_sample(ids, 0.3)
    assert abs(small.mean() - 0.1) < 0.01 and abs(large.mean() - 0.3) < 0.015
    assert not (small & ~large).any()  # a larger sample keeps the rows of a smaller one
    by_hand = int(hashlib.md5(b"e0").hexdigest()[:8], 16) < 0.1 * 2**32
    assert small[0] == by_hand
    assert in_hash_sample(ids, 1.0).all() and hash_cutoff(1.0) is None
    assert not in_hash_sample(ids, 0.0).any()


def test_summary_verdicts_match_the_in_memory_check_for_binned_methods() -> None:
    ref, cur = frames()
    edges = {c: summary_edges(ref[c].dropna(), int(ref[c].notna().sum())) for c in ("x", "s")}
    methods = {"x": "psi", "c": "jensenshannon", "s": "psi"}
    got = summary_drift(
        summarise_frame(ref, edges, ["c"]),
        summarise_frame(cur, edges, ["c"]),
        edges=edges,
        roles={"x": "feature", "c": "feature", "s": "prediction"},
        methods=methods,
    )
    expected = dataset_drift(ref, cur, numeric=["x"], categorical=["c"], prediction="s", methods=methods)
    rows = {r.column: jsonable(r) for r in got.details["columns"]}
    for row in map(jsonable, expected.details["columns"]):
        mine = rows[row["column"]]
        assert mine["statistic"] == pytest.approx(row["statistic"], rel=1e-9)
        assert mine["histogram"]["current"] == pytest.approx(row["histogram"]["current"], abs=1e-12)
        assert mine["drifted"] == row["drifted"]
    assert rows["x"]["drifted"] and not rows["c"]["drifted"] and not rows["s"]["drifted"]
    assert got.status == expected.status


def test_the_numeric_effect_has_one_name_in_memory_and_from_summaries() -> None:
    ref, cur = frames()
    edges = {"x": summary_edges(ref["x"].dropna(), int(ref["x"].notna().sum()))}
    binned = summary_drift(
        summarise_frame(ref, edges, []), summarise_frame(cur, edges, []), edges=edges, roles={"x": "feature"}
    )
    memory = dataset_drift(ref, cur, numeric=["x"], categorical=[], methods={"x": "wasserstein"})
    (b,), (m,) = binned.details["columns"], memory.details["columns"]
    assert (m.method, b.method) == ("wasserstein", "ks")  # Wasserstein needs rows: binned KS
    assert m.effect_measure == b.effect_measure == "wasserstein_norm"
