"""Report parts of a multiclass model: the per-class table, confusion matrices, per-class reliability.

They render what :mod:`checks.multiclass_performance` and :mod:`checks.multiclass_calibration`
put in their results' details (``per_class``, ``confusion``, ``class_reliability``); a binary
model's results have none of these and get nothing from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks.details import ClassMetric

from .adapters import class_reliability, class_rows, confusion
from .fmt import as_float, num, pct
from .markup import Markup, el, join
from .svg import CURRENT, REFERENCE, Series, auto_ticks, line_chart
from .widgets import reliability_series, table


def _metric_cell(cell: ClassMetric | None) -> str:
    if cell is None:
        return "—"
    text = f"{num(cell.value, 3)} [{num(cell.ci_low, 3)}, {num(cell.ci_high, 3)}]"
    return text if cell.reference is None else f"{text} (was {num(cell.reference, 3)})"


def per_class_table(details: Mapping[str, Any]) -> Markup:
    """One row per class: support and share (current vs reference), precision, recall, one-vs-rest AUC."""
    rows = class_rows(details)
    if not rows:
        return Markup("")
    body, classes = [], []
    for row in rows:
        cells = [row.precision, row.recall, row.roc_auc]
        degraded = any(c is not None and c.degraded for c in cells)
        share, ref_share = row.share, row.reference_share
        body.append(
            [
                el("b", row.class_),
                num(row.support),
                pct(share) if ref_share is None else f"{pct(share)} (was {pct(ref_share)})",
                *(_metric_cell(c) for c in cells),
                el("b", "degraded") if degraded else "no",
            ]
        )
        classes.append("dw-hit" if degraded else None)
    headers = ["class", "rows", "share", "precision", "recall", "one-vs-rest ROC AUC", "degraded"]
    return join([el("h3", "Per class"), table(headers, body, numeric=(1, 2, 3, 4, 5), row_classes=classes)])


def _confusion(title: str, matrix: Sequence[Sequence[Any]], labels: Sequence[str]) -> Markup:
    body = []
    for label, counts in zip(labels, matrix, strict=False):
        values = [as_float(c) or 0.0 for c in counts]
        total = sum(values) or 1.0
        body.append([el("b", str(label)), *(f"{num(c)} ({c / total:.0%})" for c in values)])
    headers = ["true \\ predicted", *labels]
    return el(
        "figure", el("figcaption", title), table(headers, body, numeric=tuple(range(1, len(labels) + 1)))
    )


def confusion_matrices(details: Mapping[str, Any]) -> Markup:
    """The confusion matrix of the current window beside the reference's (row shares in brackets)."""
    found = confusion(details)
    if found is None:
        return Markup("")
    matrices, labels = found
    figures = [_confusion("current window", matrices.current, labels)]
    if matrices.reference is not None:
        figures.insert(0, _confusion("reference", matrices.reference, labels))
    return join([el("h3", "Confusion matrix"), el("div", *figures, class_="dw-grid")])


def class_reliability_charts(details: Mapping[str, Any]) -> Markup:
    """One reliability diagram per class (one-vs-rest), current and reference."""
    current = class_reliability(details)
    if not current:
        return Markup("")
    reference = class_reliability(details, "class_reliability_reference")
    charts = []
    for label, curve in current.items():
        series = [Series("perfect", [0.0, 1.0], [0.0, 1.0], color=REFERENCE, dashed=True)]
        for caption, rel, color in (
            ("reference", reference.get(label), REFERENCE),
            ("current", curve, CURRENT),
        ):
            if rel is not None:
                series.append(reliability_series(rel, caption, color, False, tips=False))
        chart = line_chart(
            series,
            title=f"class {label}: observed share vs predicted probability",
            x_range=(0.0, 1.0),
            y_range=(0.0, 1.0),
            x_ticks=auto_ticks(0.0, 1.0),
            width=360,
            height=300,
        )
        charts.append(el("figure", chart))
    return join([el("h3", "Reliability per class (one vs rest)"), el("div", *charts, class_="dw-grid")])
