"""How a column splits a window into segments, fixed so windows stay comparable.

Numeric columns with more than ``numeric_bins`` distinct values are cut at the reference
window's quantiles (open outer bins catch values outside the reference range); other
columns keep their ``top_k`` most frequent values and pool the rest into :data:`OTHER`;
missing values form :data:`MISSING`. Used by the segment error check and by calibration per
segment, so both report the same segments.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

OTHER = "__other__"
MISSING = "__missing__"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _numeric(values: pd.Series, basis: pd.Series, numeric_bins: int) -> bool:
    both = all(
        pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) for s in (values, basis)
    )
    return both and basis.nunique() > numeric_bins


def _bins(basis: pd.Series, numeric_bins: int) -> dict[str, Any]:
    quantiles = basis.dropna().quantile(np.linspace(0, 1, numeric_bins + 1)).to_numpy()
    inner = np.unique(quantiles[1:-1])
    names = [f"<= {_fmt(inner[0])}"]
    names += [f"({_fmt(a)}, {_fmt(b)}]" for a, b in itertools.pairwise(inner)]
    names.append(f"> {_fmt(inner[-1])}")
    return {"kind": "numeric", "edges": inner.tolist(), "labels": names}


def _top_k(codes: np.ndarray, text: np.ndarray, top_k: int) -> dict[str, Any]:
    """The ``top_k`` most frequent texts of :func:`_text_codes` (ties by text), missing values aside."""
    per_code = np.bincount(codes, minlength=len(text))[:-1]
    counts = pd.Series(per_code, index=text[:-1]).groupby(level=0).sum()  # values of one text pooled
    ranked = sorted((v for v in counts.index if v != MISSING), key=lambda v: (-counts[v], v))
    return {"kind": "categorical", "kept": ranked[:top_k]}


def _label_codes(
    values: pd.Series, how: dict[str, Any], coded: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each value's code into an array of segment labels (labels may repeat), split as ``how`` says.

    ``coded`` is ``values``' :func:`_text_codes` when already at hand.
    """
    if how["kind"] == "numeric":
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        labels = np.array([*how["labels"], MISSING], dtype=object)
        codes = np.minimum(np.searchsorted(np.asarray(how["edges"]), x, side="left"), len(labels) - 2)
        return np.where(np.isnan(x), len(labels) - 1, codes), labels
    codes, text = coded if coded is not None else _text_codes(values)
    kept = {*how["kept"], MISSING}
    return codes, np.array([t if t in kept else OTHER for t in text], dtype=object)


@dataclass(frozen=True)
class Segmentation:
    """A column's segments: how it is split, each row's segment and each reference row's.

    ``codes`` index ``labels`` (the segments the window holds); ``reference_codes`` are -1 for
    a reference row whose segment the window does not hold.
    """

    how: dict[str, Any]
    labels: list[str]
    codes: np.ndarray
    reference_codes: np.ndarray | None


def segmentation(
    values: pd.Series,
    reference: pd.Series | None,
    *,
    numeric_bins: int = 4,
    top_k: int = 20,
    sort: bool = False,
) -> Segmentation:
    """How ``values`` splits into segments, and the segment of each of its and ``reference``'s rows.

    Numeric columns with more than ``numeric_bins`` distinct values in the reference (else in
    ``values``) are cut at its quantiles; other columns keep the ``top_k`` most frequent values
    of ``values`` and pool the rest. Each column is coded once (strings per distinct value, not
    per row). The labels are in order of first appearance in ``values`` (numeric bins: in bin
    order; missing values last), or sorted with ``sort``.

    >>> seg = segmentation(pd.Series([1.0, 5.0, 9.0, None]), pd.Series(range(11)), numeric_bins=2)
    >>> seg.how["edges"], seg.labels, seg.codes.tolist()
    ([5.0], ['<= 5', '> 5', '__missing__'], [0, 0, 1, 2])
    >>> seg = segmentation(pd.Series(list("abca")), pd.Series(list("cd")), top_k=2, sort=True)
    >>> seg.how["kept"], seg.labels, seg.codes.tolist(), seg.reference_codes.tolist()
    (['a', 'b'], ['__other__', 'a', 'b'], [1, 2, 0, 1], [0, 0])
    """
    basis = values if reference is None else reference
    if _numeric(values, basis, numeric_bins):
        how = _bins(basis, numeric_bins)
        raw, labels = _label_codes(values, how)
    else:
        coded = _text_codes(values)
        how = _top_k(*coded, top_k)
        raw, labels = _label_codes(values, how, coded)
    used = np.flatnonzero(np.bincount(raw, minlength=len(labels)))
    segment, names = pd.factorize(labels[used], sort=sort)
    lookup = np.full(len(labels), -1, dtype=np.int64)
    lookup[used] = segment
    reference_codes = None
    if reference is not None:
        ref_raw, ref_labels = _label_codes(reference, how)
        reference_codes = pd.Index(names).get_indexer(ref_labels)[ref_raw]
    return Segmentation(how, [str(v) for v in names], lookup[raw], reference_codes)


def _text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each value's code and the text of each code; missing values take the last, :data:`MISSING`.

    Text columns are coded as they are (equal strings are equal values); others are made
    strings first (``1`` and ``1.0`` are equal values but not equal texts).
    """
    codes, uniques = pd.factorize(values)
    if not all(isinstance(u, str) for u in uniques):
        codes, uniques = pd.factorize(values.astype(str).where(values.notna()))
    text = np.array([*(str(u) for u in uniques), MISSING], dtype=object)
    return np.where(codes < 0, len(text) - 1, codes), text
