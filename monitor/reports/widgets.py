"""Building blocks shared by the report sections: tables, key figures, findings, trend axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from checks.details import ReliabilityCurve
from checks.result import CheckResult, Finding, ModelRun
from checks.vocabulary import METRICS

from .adapters import floats, resamples
from .fmt import as_float, label, num, pvalue
from .markup import Markup, el, join
from .svg import Series


def table(
    headers: Sequence[str],
    body: Sequence[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    row_classes: Sequence[str | None] | None = None,
) -> Markup:
    """A table; cells are escaped unless Markup; columns in ``numeric`` are right-aligned."""
    num_cols = set(numeric)
    head = el("tr", *(el("th", h, class_="n" if i in num_cols else None) for i, h in enumerate(headers)))
    trs = []
    for r, row in enumerate(body):
        cls = row_classes[r] if row_classes is not None and r < len(row_classes) else None
        trs.append(
            el(
                "tr",
                *(el("td", c, class_="n" if i in num_cols else None) for i, c in enumerate(row)),
                class_=cls,
            )
        )
    return el("table", el("thead", head), el("tbody", *trs))


def key_figures(items: Sequence[tuple[str, str, bool]]) -> Markup:
    """Big numbers with a caption: ``(caption, value, is_bad)``."""
    return el(
        "div",
        *(
            el("div", el("b", value), el("span", caption), class_="dw-bad" if bad else None)
            for caption, value, bad in items
        ),
        class_="dw-kv",
    )


def name(value: Any) -> Markup:
    """A user-supplied name (feature, category, segment) in monospace."""
    return el("span", value, class_="dw-name")


def _resamples(finding: Finding, results: Sequence[CheckResult]) -> int | None:
    """The bootstrap resamples behind ``finding``'s p-value (from the result that holds it)."""
    if "bootstrap" not in str(finding.evidence.get("test", "")):
        return None
    holder = next((r for r in results if any(f is finding for f in r.findings)), None)
    return resamples(holder.details) if holder is not None else None


def findings_table(findings: Sequence[Finding], *, results: Sequence[CheckResult] = ()) -> Markup:
    """The findings; ``results`` (those holding them) let a bootstrap p-value show its floor."""
    if not findings:
        return el("p", "No findings.", class_="dw-muted")
    body = [
        [
            el("span", f.severity, class_=f"dw-badge dw-{'alert' if f.severity == 'alert' else 'warn'}"),
            name(f.subject),
            f.message,
            f.method,
            num(f.statistic),
            num(f.threshold),
            pvalue(f.p_value, resamples=_resamples(f, results), raw=f.evidence.get("unadjusted_p_value")),
            num(f.effect_size),
        ]
        for f in findings
    ]
    shown = table(
        ["", "subject", "what", "method", "statistic", "threshold", "p-value", "effect"],
        body,
        numeric=(4, 5, 6, 7),
    )
    if not any(f.method in METRICS and f.subject == "model" for f in findings):
        return shown
    note = (
        "For a performance metric the statistic is its current value and the threshold the value "
        "past which its change from the reference is material (reference minus min_delta, or the "
        "min_relative rise of the error); the p-value is the Holm-adjusted one-sided bootstrap one."
    )
    return join([shown, el("p", note, class_="dw-muted")])


def metrics_table(metrics: Mapping[str, Any]) -> Markup:
    if not metrics:
        return Markup("")
    return table(["metric", "value"], [[label(k), _value(v)] for k, v in metrics.items()], numeric=(1,))


def _value(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value[:20]) + (" …" if len(value) > 20 else "")
    return num(value)


def everything(result: CheckResult, *, open_: bool = False) -> Markup:
    """All metrics and findings of a result, so a section never hides a number."""
    findings = findings_table(result.findings, results=[result])
    body = join([metrics_table(result.metrics), el("h3", "Findings"), findings])
    return el("details", el("summary", "All metrics and findings"), body, open=open_)


def skipped_note(result: CheckResult) -> Markup:
    return el("p", "Skipped: ", result.reason or "no reason given", class_="dw-reason")


def metric_of(run: ModelRun, check: str, key: str) -> float | None:
    result = run.check(check)
    return None if result is None or result.status == "skipped" else as_float(result.metrics.get(key))


def epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def reliability_series(
    rel: ReliabilityCurve, caption: str, color: str, dashed: bool, *, tips: bool = True
) -> Series:
    """A reliability curve as a chart line (an empty bin drawn as a gap)."""
    predicted, observed, count = floats(rel.mean_predicted), floats(rel.fraction_positive), floats(rel.count)
    xs = [p if p is not None else 0.0 for p in predicted]
    ys = [o if p is not None else None for p, o in zip(predicted, observed, strict=True)]
    if not tips:
        return Series(caption, xs, ys, color=color, dashed=dashed)
    notes = [
        f"{caption}: predicted {num(p, 3)}, observed {num(o, 3)}"
        + (f", n={num(count[i])}" if i < len(count) else "")
        for i, (p, o) in enumerate(zip(predicted, observed, strict=True))
    ]
    return Series(caption, xs, ys, color=color, dashed=dashed, tips=notes)
