"""Windows larger than memory on PostgreSQL: drift aggregated in SQL, the rest on a sample.

When a window holds more than ``[store] pushdown_rows`` predictions, the runner does not
load it. Instead:

- **Drift, exact counts.** Bin edges of each numeric column are fixed from a uniform
  random sample of the reference (``edge_sample_rows`` rows; the edges only decide where
  the bins are, so sampling them costs no accuracy in the statistics, which are computed
  on exact counts). One scan per window counts the rows per bin (``width_bucket(x,
  edges)``, the same left-closed bins as :func:`checks.drift.bin_index`) and per category
  with ``GROUPING SETS``, and one more takes ``count``, ``stddev_pop``, ``min`` and
  ``max``. :func:`checks.drift.binned_drift` turns the counts into the same verdicts as in
  memory: PSI, Jensen-Shannon, KL, Hellinger, TVD, chi-square and ``z`` are identical; a
  sample-based default (Wasserstein) is replaced by the binned KS test (statistic within a
  bin's share of the exact one, conservative p-value) with the binned Wasserstein distance
  as effect size (see :mod:`checks.drift.binned`). Label drift is not computed here.
- **The other checks** run on a uniform random sample of the window of ``sample_rows``
  rows (``random() < p`` with a seed per window, so a re-run samples the same rows). With
  500,000 rows a share is within ±0.0014 and a p95 latency within about ±0.1 percentile
  points of the full window (95% confidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, text

from checks.drift import METHODS, binned_drift, default_method, reference_edges
from checks.drift.binned import BINNED_METHODS
from checks.drift.binning import sturges_bins
from checks.drift.summary import drift_result
from checks.result import CheckResult
from monitor.config import ModelConfig
from monitor.store import Store
from monitor.store.schema import feature_column
from monitor.store.windows import naive_utc


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime


#: Aggregates of the last reference seen (a fixed period is aggregated once, not every run).
#: Keyed by model, span, edges and columns; a restart recomputes them.
_REFERENCE_CACHE: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}


def _quoted(prep: Any, name: str) -> str:
    """A quoted identifier safe inside :func:`sqlalchemy.text` (a ``:`` would start a bind parameter)."""
    return prep.quote(name).replace(":", "\\:")


def _where(conn: Connection, table: Table) -> str:
    ts = conn.dialect.identifier_preparer.quote("ts")
    return f"{ts} >= :lo AND {ts} < :hi"


def _params(span: Span) -> dict[str, Any]:
    return {"lo": naive_utc(span.start), "hi": naive_utc(span.end)}


def count_rows(conn: Connection, table: Table, span: Span) -> int:
    name = conn.dialect.identifier_preparer.format_table(table)
    return int(
        conn.execute(
            text(f"SELECT count(*) FROM {name} WHERE {_where(conn, table)}"), _params(span)
        ).scalar_one()
    )


def sample_columns(
    conn: Connection, table: Table, span: Span, columns: Sequence[str], *, rows: int, total: int, seed: float
) -> pd.DataFrame:
    """A uniform random sample of about ``rows`` rows of ``columns`` (all rows when fewer)."""
    prep = conn.dialect.identifier_preparer
    cols = ", ".join(_quoted(prep, c) for c in columns)
    fraction = min(1.0, rows / total) if total else 1.0
    conn.execute(text("SELECT setseed(:s)"), {"s": seed})
    query = f"SELECT {cols} FROM {prep.format_table(table)} WHERE {_where(conn, table)} AND random() < :p"
    return pd.read_sql(text(query), conn, params={**_params(span), "p": fraction})


def _stats(conn: Connection, table: Table, span: Span, numeric: Sequence[str]) -> dict[str, dict[str, float]]:
    prep = conn.dialect.identifier_preparer
    parts = ["count(*)"]
    for col in numeric:
        q = _quoted(prep, col)
        parts += [f"count({q})", f"stddev_pop({q})", f"min({q})", f"max({q})"]
    row = conn.execute(
        text(f"SELECT {', '.join(parts)} FROM {prep.format_table(table)} WHERE {_where(conn, table)}"),
        _params(span),
    ).one()
    out = {"": {"rows": float(row[0])}}
    for i, col in enumerate(numeric):
        n, std, lo, hi = row[1 + 4 * i : 5 + 4 * i]
        out[col] = {"n": float(n), "std": float(std or 0.0), "min": lo, "max": hi}
    return out


def _counts(
    conn: Connection,
    table: Table,
    span: Span,
    numeric_edges: dict[str, np.ndarray],
    categorical: Sequence[str],
) -> dict[str, dict[Any, int]]:
    """Rows per bin (numeric) or per value (categorical) of every column, in one scan."""
    prep = conn.dialect.identifier_preparer
    exprs, params = [], _params(span)
    columns = [*numeric_edges, *categorical]
    for i, col in enumerate(columns):
        q = _quoted(prep, col)
        if col in numeric_edges:
            params[f"e{i}"] = [float(e) for e in numeric_edges[col]]
            exprs.append(f"width_bucket({q}, CAST(:e{i} AS float8[]))")
        else:
            exprs.append(q)
    aliases = [f"b{i}" for i in range(len(columns))]
    select = ", ".join(f"{e} AS {a}" for e, a in zip(exprs, aliases, strict=True))
    sets = ", ".join(f"({a})" for a in aliases)
    query = (
        f"SELECT {', '.join(aliases)}, GROUPING({', '.join(aliases)}) AS g, count(*) AS n "
        f"FROM (SELECT {select} FROM {prep.format_table(table)} WHERE {_where(conn, table)}) AS w "
        f"GROUP BY GROUPING SETS ({sets})"
    )
    out: dict[str, dict[Any, int]] = {c: {} for c in columns}
    width = len(columns)
    # Enough memory for one hash table per grouping set (a few hundred groups each): one
    # hashed pass instead of a sort per set.
    conn.execute(text("SET LOCAL work_mem = '64MB'"))
    for row in conn.execute(text(query), params):
        mask = row.g
        index = next(i for i in range(width) if not mask & (1 << (width - 1 - i)))
        value = row[index]
        if value is not None:
            out[columns[index]][value] = int(row.n)
    return out


def _method(model: ModelConfig, column: str, kind: str, n_reference: int, n_unique: int) -> str:
    configured = model.drift.columns.get(column)
    wanted = (configured.method if configured and configured.method else None) or model.drift.method
    if wanted and wanted in BINNED_METHODS:
        return wanted
    chosen = default_method(kind, n_reference, n_unique)
    if chosen in BINNED_METHODS:
        return chosen
    return "ks" if kind == "numeric" else "jensenshannon"


def sql_drift(
    store: Store,
    model: ModelConfig,
    reference: Span,
    current: Span,
    *,
    edge_sample_rows: int = 50_000,
    seed: float = 0.5,
) -> CheckResult:
    """The ``drift`` check computed in PostgreSQL (see the module docstring)."""
    table = store.events(model.name)
    numeric = {feature_column(c): ("feature", c) for c in model.features.numeric}
    if model.task == "binary" and model.score_column:
        numeric["score"] = ("prediction", "score")
    categorical = {feature_column(c): ("feature", c) for c in model.features.categorical}
    with store.engine.connect() as conn:
        n_ref = count_rows(conn, table, reference)
        sample = sample_columns(
            conn, table, reference, list(numeric), rows=edge_sample_rows, total=n_ref, seed=seed
        )
        edges: dict[str, np.ndarray] = {}
        for col in numeric:
            values = sample[col].dropna()
            if len(values):
                edges[col] = reference_edges(values.to_numpy(dtype=float), n_bins=sturges_bins(n_ref))
        key = (model.name, reference, tuple((c, tuple(e)) for c, e in edges.items()), tuple(categorical))
        if key not in _REFERENCE_CACHE:
            _REFERENCE_CACHE.clear()
            _REFERENCE_CACHE[key] = (
                _stats(conn, table, reference, list(edges)),
                _counts(conn, table, reference, edges, list(categorical)),
            )
        ref_stats, ref_counts = _REFERENCE_CACHE[key]
        cur_stats = _stats(conn, table, current, list(edges))
        cur_counts = _counts(conn, table, current, edges, list(categorical))
    n_cur = int(cur_stats[""]["rows"])
    results, skipped, missing = [], [], {}
    for col, (role, name) in {**numeric, **categorical}.items():
        if col in numeric and col not in edges:
            skipped.append((name, role, "no non-missing reference values"))
            continue
        is_numeric = col in numeric
        if is_numeric:
            bins = range(len(edges[col]) + 1)
            ref_n = np.array([ref_counts[col].get(b, 0) for b in bins], dtype=float)
            cur_n = np.array([cur_counts[col].get(b, 0) for b in bins], dtype=float)
            labels = None
        else:
            labels = sorted(set(ref_counts[col]) | set(cur_counts[col]), key=str)
            ref_n = np.array([ref_counts[col].get(v, 0) for v in labels], dtype=float)
            cur_n = np.array([cur_counts[col].get(v, 0) for v in labels], dtype=float)
        if ref_n.sum() == 0 or cur_n.sum() == 0:
            skipped.append((name, role, "no non-missing values in one of the windows"))
            continue
        kind = "numeric" if is_numeric else "categorical"
        method = _method(model, name, kind, int(ref_n.sum()), len(ref_n))
        configured = model.drift.columns.get(name)
        threshold = (configured.threshold if configured else None) or model.drift.threshold
        if threshold is not None and not _same_scale(method, model, name):
            threshold = None
        extra: dict[str, Any] = {}
        if is_numeric:
            lows = [s[col]["min"] for s in (ref_stats, cur_stats) if s[col]["min"] is not None]
            highs = [s[col]["max"] for s in (ref_stats, cur_stats) if s[col]["max"] is not None]
            extra = {
                "edges": edges[col],
                "reference_std": ref_stats[col]["std"],
                "low": min(lows),
                "high": max(highs),
            }
        drift = binned_drift(
            ref_n,
            cur_n,
            method=method,
            threshold=threshold,
            kind=kind,
            categories=labels,
            column=name,
            **extra,
        )
        results.append((role, drift))
        missing[name] = (1 - ref_n.sum() / max(n_ref, 1), 1 - cur_n.sum() / max(n_cur, 1))
    result = drift_result(
        results,
        n_reference=n_ref,
        n_current=n_cur,
        skipped=skipped,
        importance=model.importance or None,
        drift_share=model.drift.drift_share,
        fdr=model.drift.fdr,
        missing=missing,
    )
    metrics = {**result.metrics, "pushdown": True, "edge_sample_rows": min(edge_sample_rows, n_ref)}
    return replace(result, metrics=metrics)


def _same_scale(method: str, model: ModelConfig, column: str) -> bool:
    """A configured threshold applies only to the method it was configured for."""
    configured = model.drift.columns.get(column)
    wanted = (configured.method if configured and configured.method else None) or model.drift.method
    return wanted is None or wanted == method or METHODS.get(wanted) is None
