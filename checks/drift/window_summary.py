"""The summary contract: what an engine computes where the data lives, and its verdict.

A window's ``drift`` check needs only **mergeable summaries** of each column, which any
engine (pandas in memory, PostgreSQL, DuckDB, Spark) computes in one scan:

* numeric: rows per bin on the reference-fixed edges of :func:`checks.drift.reference_edges`,
  count, sum and sum of squares, min and max, and the missing count;
* categorical: rows per category (every category seen) and the missing count.

**Boundary convention (one, pinned).** The bins are ``(-inf, e[0]), [e[0], e[1]), ...,
[e[-1], +inf)``: a value exactly on an edge belongs to the bin on its right (numpy
``searchsorted(side="right")``, PostgreSQL ``width_bucket``). An engine counts, for each
edge, the rows with ``x >= e`` (:func:`counts_from_at_or_above` turns those into bin
counts), so no engine-specific bucketing function is involved. ``NULL`` and ``NaN`` are
missing (SQL engines order ``NaN`` above every number; they must turn it into ``NULL``
first). Categories are compared as text.

**The label checks and the other row-level checks run on a uniform sample chosen by a
hash of the id**: a row is in the sample when the first 8 hex digits of ``md5(id as
text)`` are below :func:`hash_cutoff` of the sampled fraction. The digits are uniform,
every engine has ``md5``, and comparing fixed-width lower-case hex strings compares their
values, so every engine picks the same rows and a re-check sees the same sample.

>>> import pandas as pd
>>> frame = pd.DataFrame({"x": [1.0, 2.0, 2.0, None, float("nan")], "c": ["a", "b", None, "a", "z"]})
>>> s = summarise_frame(frame, {"x": np.array([2.0])}, ["c"])
>>> s.numeric["x"].counts, s.numeric["x"].missing, s.categorical["c"].counts
((1, 2), 2, (('a', 2), ('b', 1), ('z', 1)))
>>> counts_from_at_or_above(3, [2]).tolist()
[1, 2]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from checks._params import InvalidParameter, check_interval
from checks.drift.binned import BINNED_METHODS, binned_drift
from checks.drift.binning import reference_edges, sturges_bins
from checks.drift.column import ColumnDrift
from checks.drift.methods import METHODS, default_method
from checks.drift.summary import drift_result
from checks.result import CheckResult

#: Hex digits of ``md5(id)`` that decide the sample (32 bits).
HASH_DIGITS = 8


@dataclass(frozen=True)
class NumericSummary:
    """Mergeable summary of a numeric column on fixed edges (``len(counts) == len(edges) + 1``)."""

    counts: tuple[int, ...]
    missing: int
    total: float
    squares: float
    low: float | None
    high: float | None

    @property
    def n(self) -> int:
        """Non-missing rows."""
        return int(sum(self.counts))

    @property
    def std(self) -> float:
        """Population standard deviation (ddof=0) from the count, sum and sum of squares."""
        if self.n == 0:
            return 0.0
        mean = self.total / self.n
        return math.sqrt(max(self.squares / self.n - mean * mean, 0.0))

    def merge(self, other: NumericSummary) -> NumericSummary:
        if len(self.counts) != len(other.counts):
            raise InvalidParameter("numeric summaries on different edges cannot be merged")
        lows = [v for v in (self.low, other.low) if v is not None]
        highs = [v for v in (self.high, other.high) if v is not None]
        return NumericSummary(
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            missing=self.missing + other.missing,
            total=self.total + other.total,
            squares=self.squares + other.squares,
            low=min(lows) if lows else None,
            high=max(highs) if highs else None,
        )


@dataclass(frozen=True)
class CategoricalSummary:
    """Mergeable summary of a categorical column: ``(category, rows)`` sorted by category."""

    counts: tuple[tuple[str, int], ...]
    missing: int

    @property
    def n(self) -> int:
        return int(sum(n for _, n in self.counts))

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        merged: dict[str, int] = dict(self.counts)
        for value, n in other.counts:
            merged[value] = merged.get(value, 0) + n
        return CategoricalSummary(counts=tuple(sorted(merged.items())), missing=self.missing + other.missing)


@dataclass(frozen=True)
class WindowSummary:
    """Summaries of every monitored column of one window (``rows``: all rows of the window)."""

    rows: int
    numeric: Mapping[str, NumericSummary] = field(default_factory=dict)
    categorical: Mapping[str, CategoricalSummary] = field(default_factory=dict)

    def merge(self, other: WindowSummary) -> WindowSummary:
        """The summary of both windows' rows together (e.g. two partitions)."""
        if set(self.numeric) != set(other.numeric) or set(self.categorical) != set(other.categorical):
            raise InvalidParameter("window summaries of different columns cannot be merged")
        return WindowSummary(
            rows=self.rows + other.rows,
            numeric={c: s.merge(other.numeric[c]) for c, s in self.numeric.items()},
            categorical={c: s.merge(other.categorical[c]) for c, s in self.categorical.items()},
        )


def summary_to_json(edges: Mapping[str, np.ndarray], summary: WindowSummary) -> dict[str, Any]:
    """Edges and summary as JSON-able data (:func:`summary_from_json` reads them back exactly)."""
    return {
        "edges": {c: [float(e) for e in v] for c, v in edges.items()},
        "rows": summary.rows,
        "numeric": {c: asdict(s) for c, s in summary.numeric.items()},
        "categorical": {c: asdict(s) for c, s in summary.categorical.items()},
    }


def summary_from_json(data: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], WindowSummary]:
    """The edges and summary written by :func:`summary_to_json`.

    >>> s = WindowSummary(3, {"x": NumericSummary((1, 2), 0, 4.5, 8.25, 0.5, 2.0)},
    ...                   {"c": CategoricalSummary((("a", 3),), 1)})
    >>> edges, back = summary_from_json(summary_to_json({"x": np.array([1.0])}, s))
    >>> back == s, edges["x"].tolist()
    (True, [1.0])
    """
    edges = {c: np.asarray(v, dtype=np.float64) for c, v in data["edges"].items()}
    numeric = {c: NumericSummary(**{**s, "counts": tuple(s["counts"])}) for c, s in data["numeric"].items()}
    categorical = {
        c: CategoricalSummary(counts=tuple((str(k), int(n)) for k, n in s["counts"]), missing=s["missing"])
        for c, s in data["categorical"].items()
    }
    return edges, WindowSummary(rows=data["rows"], numeric=numeric, categorical=categorical)


def counts_from_at_or_above(n: int, at_or_above: Sequence[int]) -> np.ndarray:
    """Bin counts from ``n`` non-missing rows and the rows with ``x >= e`` for each edge ``e``.

    >>> counts_from_at_or_above(10, [7, 3, 3]).tolist()
    [3, 4, 0, 3]
    """
    above = np.asarray(at_or_above, dtype=np.int64)
    return -np.diff(np.concatenate(([n], above, [0])))


def category_key(value: Any) -> str:
    """A category as every engine spells it: text (an integer-valued float without ``.0``)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def summarise_frame(
    frame: pd.DataFrame, edges: Mapping[str, np.ndarray], categorical: Iterable[str]
) -> WindowSummary:
    """The in-memory engine: summaries of ``frame``'s columns (the reference implementation).

    Parameters
    ----------
    frame : DataFrame
        The window's rows.
    edges : mapping of str to ndarray
        Interior edges per numeric column (:func:`checks.drift.reference_edges`).
    categorical : iterable of str
        Categorical columns.

    Returns
    -------
    WindowSummary
    """
    numeric = {}
    for col, col_edges in edges.items():
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        present = values[~np.isnan(values)]
        counts = np.bincount(np.searchsorted(col_edges, present, side="right"), minlength=len(col_edges) + 1)
        numeric[col] = NumericSummary(
            counts=tuple(int(c) for c in counts),
            missing=int(values.size - present.size),
            total=float(present.sum()),
            squares=float(np.square(present).sum()),
            low=float(present.min()) if present.size else None,
            high=float(present.max()) if present.size else None,
        )
    cats = {}
    for col in categorical:
        values = frame[col]
        present = values[values.notna()].map(category_key)
        counts = present.value_counts()
        cats[col] = CategoricalSummary(
            counts=tuple(sorted((str(k), int(v)) for k, v in counts.items())),
            missing=int(len(values) - len(present)),
        )
    return WindowSummary(rows=len(frame), numeric=numeric, categorical=cats)


def hash_cutoff(fraction: float) -> str | None:
    """The hex bound below which ``md5(id)[:8]`` falls for a ``fraction`` of the ids (``None``: all).

    >>> hash_cutoff(0.5), hash_cutoff(0.0), hash_cutoff(1.0)
    ('80000000', '00000000', None)
    """
    check_interval("fraction", fraction, "hash_cutoff", low=0.0, high=1.0)
    value = round(fraction * 16**HASH_DIGITS)
    return f"{value:0{HASH_DIGITS}x}" if value < 16**HASH_DIGITS else None


def in_hash_sample(ids: Iterable[Any], fraction: float) -> np.ndarray:
    """Whether each id is in the hash sample of ``fraction`` (what every engine computes)."""
    cutoff = hash_cutoff(fraction)
    digests = [hashlib.md5(str(i).encode()).hexdigest()[:HASH_DIGITS] for i in ids]
    return np.array([cutoff is None or d < cutoff for d in digests], dtype=bool)


def summary_edges(sample: Any, n_present: int) -> np.ndarray:
    """Edges of a numeric column from a sample of its reference, binned for ``n_present`` rows.

    The same edges as in memory when the sample is the whole reference (Sturges' rule on
    the column's non-missing rows).

    >>> summary_edges([1.0, 2.0, 3.0, 4.0], 4).tolist()
    [2.0, 3.0]
    """
    return reference_edges(sample, n_bins=sturges_bins(n_present))


def binned_method(wanted: str | None, kind: str, n_reference: int, n_unique: int) -> str:
    """The method used on summaries: the wanted one when computable from counts, else a binned stand-in.

    A sample-based method (the numeric default, Wasserstein) becomes the binned KS test for
    numeric columns and Jensen-Shannon for categorical ones.

    >>> binned_method(None, "numeric", 5000, 100), binned_method("psi", "numeric", 5000, 100)
    ('ks', 'psi')
    """
    if wanted and wanted in BINNED_METHODS:
        return wanted
    chosen = default_method(kind, n_reference, n_unique)
    if chosen in BINNED_METHODS:
        return chosen
    return "ks" if kind == "numeric" else "jensenshannon"


def summary_drift(
    reference: WindowSummary,
    current: WindowSummary,
    *,
    edges: Mapping[str, np.ndarray],
    roles: Mapping[str, str],
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    importance: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    fdr: float = 0.05,
    sampled: Sequence[tuple[str, ColumnDrift]] = (),
) -> CheckResult:
    """The ``drift`` check from two windows' summaries, through :func:`checks.drift.binned_drift`.

    Parameters
    ----------
    reference, current : WindowSummary
        Summaries on the same ``edges``.
    edges : mapping of str to ndarray
        Interior edges of each numeric column.
    roles : mapping of str to str
        Role (``"feature"``, ``"prediction"``) of every monitored column, in report order.
        A column absent from the summaries (a numeric column without edges: its reference
        has no value) is skipped.
    methods, thresholds : mapping of str to ..., default=None
        Method and threshold per column (:func:`binned_method` picks when absent; a
        threshold applies only to the method it was configured for).
    importance, drift_share, fdr
        See :func:`checks.drift.summary.drift_result`.
    sampled : sequence of (role, ColumnDrift), default=()
        Columns tested on rows instead (the label, on the hash sample), in the same
        multiple-testing procedure.

    Returns
    -------
    CheckResult
    """
    if reference.rows == 0 or current.rows == 0:
        return CheckResult.skipped(
            "drift", "empty reference or current window", n_reference=reference.rows, n_current=current.rows
        )
    methods, thresholds = dict(methods or {}), dict(thresholds or {})
    tested: list[tuple[str, ColumnDrift]] = []
    skipped, missing = [], {}
    for col, role in roles.items():
        if not _has(reference, col) or not _has(current, col):
            skipped.append((col, role, "no non-missing value in the reference window"))
            continue
        ref, cur = _column(reference, col), _column(current, col)
        if ref.n == 0 or cur.n == 0:
            which = "reference" if ref.n == 0 else "current"
            skipped.append((col, role, f"no non-missing value in the {which} window"))
            continue
        missing[col] = (ref.missing / reference.rows, cur.missing / current.rows)
        if isinstance(ref, NumericSummary):
            ref_n, cur_n = np.array(ref.counts), np.array(cur.counts)  # type: ignore[union-attr]
            kind, labels = "numeric", None
        else:
            labels = sorted(dict(ref.counts).keys() | dict(cur.counts).keys())  # type: ignore[union-attr]
            ref_d, cur_d = dict(ref.counts), dict(cur.counts)  # type: ignore[union-attr]
            ref_n = np.array([ref_d.get(v, 0) for v in labels])
            cur_n = np.array([cur_d.get(v, 0) for v in labels])
            kind = "categorical"
        wanted = methods.get(col)
        method = binned_method(wanted, kind, ref.n, len(ref_n))
        same_scale = wanted is None or wanted == method or wanted not in METHODS
        threshold = thresholds.get(col) if same_scale else None
        extra: dict[str, Any] = {}
        if kind == "numeric":
            extra = {
                "edges": edges[col],
                "reference_std": ref.std,  # type: ignore[union-attr]
                "low": min(ref.low, cur.low),  # type: ignore[union-attr, type-var]
                "high": max(ref.high, cur.high),  # type: ignore[union-attr, type-var]
            }
        drift = binned_drift(
            ref_n,
            cur_n,
            method=method,
            threshold=threshold,
            kind=kind,
            categories=labels,
            column=col,
            **extra,
        )
        tested.append((role, drift))
    return drift_result(
        [*tested, *sampled],
        n_reference=reference.rows,
        n_current=current.rows,
        skipped=skipped,
        importance=importance,
        drift_share=drift_share,
        fdr=fdr,
        missing=missing,
    )


def _has(summary: WindowSummary, col: str) -> bool:
    return col in summary.numeric or col in summary.categorical


def _column(summary: WindowSummary, col: str) -> NumericSummary | CategoricalSummary:
    if col in summary.numeric:
        return summary.numeric[col]
    if col in summary.categorical:
        return summary.categorical[col]
    raise InvalidParameter(f"column {col!r} is not in the window summary")
