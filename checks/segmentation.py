"""How a column splits a window into segments, fixed so windows stay comparable.

Numeric columns with more than ``numeric_bins`` distinct values are cut at the reference
window's quantiles (open outer bins catch values outside the reference range); other
columns keep their ``top_k`` most frequent values and pool the rest into :data:`OTHER`;
missing values form :data:`MISSING`. Used by the segment error check and by calibration per
segment, so both report the same segments.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

OTHER = "__other__"
MISSING = "__missing__"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def form_segments(
    values: pd.Series, basis: pd.Series, *, numeric_bins: int = 4, top_k: int = 20
) -> dict[str, Any]:
    """How a column is split: reference-quantile bins (numeric) or the top-k values (other).

    Numeric columns with more than ``numeric_bins`` distinct values in ``basis`` (the
    reference column) are cut at its quantiles; other columns keep the ``top_k`` most
    frequent values of ``values`` (the current column) and pool the rest.

    >>> form_segments(pd.Series([1.0, 5.0, 9.0]), pd.Series(range(11)), numeric_bins=2)["edges"]
    [5.0]
    >>> form_segments(pd.Series(list("aabbbc")), pd.Series([], dtype=str), top_k=2)["kept"]
    ['b', 'a']
    """
    numeric = all(
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (values, basis)
    )
    if numeric and basis.nunique() > numeric_bins:
        quantiles = basis.dropna().quantile(np.linspace(0, 1, numeric_bins + 1)).to_numpy()
        inner = np.unique(quantiles[1:-1])
        names = [f"<= {_fmt(inner[0])}"]
        names += [f"({_fmt(a)}, {_fmt(b)}]" for a, b in itertools.pairwise(inner)]
        names.append(f"> {_fmt(inner[-1])}")
        return {"kind": "numeric", "edges": inner.tolist(), "labels": names}
    codes, text = _text_codes(values)
    per_code = np.bincount(codes[codes >= 0], minlength=len(text) - 1)
    counts = pd.Series(per_code, index=text[:-1]).groupby(level=0).sum()  # values of one text pooled
    ranked = sorted((v for v in counts.index if v != MISSING), key=lambda v: (-counts[v], v))
    return {"kind": "categorical", "kept": ranked[:top_k]}


def apply_segments(values: pd.Series, how: dict[str, Any]) -> pd.Series:
    """The segment label (str) of every value, per :func:`form_segments`.

    >>> how = form_segments(pd.Series([1.0, 5.0, 9.0]), pd.Series(range(11)), numeric_bins=2)
    >>> apply_segments(pd.Series([1.0, 5.0, 9.0, None]), how).tolist()
    ['<= 5', '<= 5', '> 5', '__missing__']
    """
    if how["kind"] == "numeric":
        codes = np.searchsorted(np.asarray(how["edges"]), values.to_numpy(dtype=np.float64), side="left")
        codes = np.minimum(codes, len(how["labels"]) - 1)
        labels = pd.Series(np.asarray(how["labels"], dtype=object)[codes], index=values.index)
        return labels.where(values.notna(), MISSING)
    codes, text = _text_codes(values)
    kept = {*how["kept"], MISSING}
    labels = np.array([t if t in kept else OTHER for t in text], dtype=object)
    return pd.Series(labels[codes], index=values.index)


def _text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each value's code and the text of each code, missing values last as :data:`MISSING` (code -1).

    Text columns are coded as they are (equal strings are equal values); others are made
    strings first (``1`` and ``1.0`` are equal values but not equal texts).
    """
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        values = values.astype(str).where(values.notna())
    codes, uniques = pd.factorize(values)
    return codes, np.array([*(str(u) for u in uniques), MISSING], dtype=object)


def as_text(values: pd.Series) -> pd.Series:
    """Values as strings, missing ones as :data:`MISSING`.

    >>> as_text(pd.Series([1.0, None, 2.5])).tolist()
    ['1.0', '__missing__', '2.5']
    """
    codes, text = _text_codes(values)
    return pd.Series(text[codes], index=values.index)
