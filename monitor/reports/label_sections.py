"""Report sections of the checks that need labels: performance, calibration, segments, threshold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks.result import CheckResult, ModelRun
from checks.vocabulary import PERFORMANCE_CHECKS

from .adapters import (
    PerfMetric,
    Reliability,
    performance_metrics,
    pick,
    reliability,
    segment_rows,
    threshold_curve,
)
from .fmt import as_float, num, pvalue
from .markup import Markup, el, join
from .multiclass_sections import class_reliability_charts, confusion_matrices, per_class_table
from .svg import AFTER, CURRENT, MUTED, REFERENCE, Rule, Series, auto_ticks, interval_strip, line_chart
from .widgets import epoch, everything, key_figures, name, table


def _interval(value: float | None, lo: float | None, hi: float | None) -> str:
    if value is None:
        return "—"
    return f"{num(value)} [{num(lo)}, {num(hi)}]" if lo is not None or hi is not None else num(value)


def _metrics_table(metrics: Sequence[PerfMetric], details: Mapping[str, Any]) -> Markup:
    resamples = as_float(pick(details, "n_resamples"))
    alpha = num(pick(details, "alpha", default=0.05))
    body, classes = [], []
    for p in metrics:
        change = p.value - p.reference if p.value is not None and p.reference is not None else None
        body.append(
            [
                el("b", p.name),
                _interval(p.value, p.ci_low, p.ci_high),
                _interval(p.reference, p.reference_ci_low, p.reference_ci_high),
                "—" if change is None else f"{change:+.4g}",
                num(p.threshold),
                pvalue(p.p_value, resamples=int(resamples) if resamples else None, raw=p.raw_p_value),
                (p.direction or "").removesuffix("_is_better"),
                "estimated" if p.estimated else "realised",
                el("b", "degraded") if p.degraded else "no",
            ]
        )
        classes.append("dw-hit" if p.degraded else None)
    headers = ["metric", "current [interval]", "reference [interval]", "change", "material at", "p-value"]
    return join(
        [
            table(
                [*headers, "better", "kind", "degraded"],
                body,
                numeric=(1, 2, 3, 4, 5),
                row_classes=classes,
            ),
            el("p", _THRESHOLD_NOTE.format(alpha=alpha), class_="dw-muted"),
        ]
    )


#: What the threshold and p-value columns of the performance table mean.
_THRESHOLD_NOTE = (
    "Material at: the value past which a change from the reference is large enough to matter "
    "(the reference minus min_delta, or the value at which the error 1 − metric rose by "
    "min_relative, whichever comes first). Degraded: past that value and the one-sided "
    "bootstrap p-value, Holm-adjusted across metrics, below alpha = {alpha}."
)


def _perf_of(run: ModelRun, check: str, metric: str) -> PerfMetric | None:
    result = run.check(check)
    if result is None or result.status == "skipped":
        return None
    return next((p for p in performance_metrics(result.details) if p.name == metric), None)


def metric_names(runs: Sequence[ModelRun]) -> list[str]:
    """Performance metric names found in the runs (realised or estimated), in first-seen order."""
    return list(
        dict.fromkeys(
            p.name
            for r in runs
            for check in PERFORMANCE_CHECKS
            if (res := r.check(check)) is not None
            for p in performance_metrics(res.details)
        )
    )


def performance_trend_charts(
    runs: Sequence[ModelRun], *, names: Sequence[str] | None = None, reference: dict[str, float] | None = None
) -> list[Markup]:
    """One chart per metric across windows: realised and estimated values with their intervals."""
    charts = []
    for metric in metric_names(runs) if names is None else names:
        series = []
        for check, caption, color, dashed in (
            ("performance", "realised", CURRENT, False),
            ("estimated_performance", "estimated", AFTER, True),
        ):
            got = [(epoch(r.window_end), _perf_of(r, check, metric)) for r in runs]
            got = [(x, p) for x, p in got if p is not None and p.value is not None]
            if got:
                series.append(
                    Series(
                        caption,
                        [x for x, _ in got],
                        [p.value for _, p in got],
                        lo=[p.ci_low for _, p in got],
                        hi=[p.ci_high for _, p in got],
                        color=color,
                        dashed=dashed,
                        tips=[
                            f"{caption} {metric}: {_interval(p.value, p.ci_low, p.ci_high)}" for _, p in got
                        ],
                    )
                )
        if series and max(len(s.xs) for s in series) >= 2:
            ref = (reference or {}).get(metric)
            rules = [Rule(ref, "reference", MUTED)] if ref is not None else []
            chart = line_chart(series, title=metric, rules=rules, time_axis=True, width=520, height=200)
            charts.append(el("figure", chart))
    return charts


def performance_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    metrics = performance_metrics(result.details, estimated=result.check == "estimated_performance")
    parts = [_metrics_table(metrics, result.details)] if metrics else []
    parts += [per_class_table(result.details), confusion_matrices(result.details)]  # multiclass only
    run = history[-1] if history else None
    if result.check == "performance" or run is None or run.check("performance") is None:
        names = list(dict.fromkeys([p.name for p in metrics] + metric_names(history)))
        names = [n for n in names if "[" not in n]  # per-class metrics: in the per-class table
        reference = {p.name: p.reference for p in metrics if p.reference is not None}
        charts = performance_trend_charts(history, names=names, reference=reference)
        if charts:
            parts += [
                el("h3", "Over recent windows (shaded: interval)"),
                el("div", *charts, class_="dw-grid dw-wide"),
            ]
    parts.append(everything(result))
    return join(parts)


def _reliability_series(rel: Reliability, caption: str, color: str, dashed: bool) -> Series:
    tips = [
        f"{caption}: predicted {num(p, 3)}, observed {num(o, 3)}"
        + (f", n={num(rel.count[i])}" if i < len(rel.count) else "")
        for i, (p, o) in enumerate(zip(rel.mean_predicted, rel.fraction_positive, strict=True))
    ]
    xs = [p if p is not None else 0.0 for p in rel.mean_predicted]
    ys = [
        o if p is not None else None for p, o in zip(rel.mean_predicted, rel.fraction_positive, strict=True)
    ]
    return Series(caption, xs, ys, color=color, dashed=dashed, tips=tips)


def calibration_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    m = result.metrics
    recal = pick(result.details, "recalibration", default={})
    figures = [(k.replace("_", " "), num(v), False) for k, v in m.items() if as_float(v) is not None][:6]
    parts = [key_figures(figures)]
    if recal:
        items = [
            ("method", str(pick(recal, "method", default="—")), False),
            (
                "ECE before → after",
                f"{num(pick(recal, 'ece_before'))} → {num(pick(recal, 'ece_after'))}",
                False,
            ),
            (
                "log loss before → after",
                f"{num(pick(recal, 'log_loss_before'))} → {num(pick(recal, 'log_loss_after'))}",
                False,
            ),
        ]
        artifact = pick(recal, "artifact")
        parts.append(
            el(
                "div",
                el("h3", "Proposed recalibrator"),
                key_figures(items),
                el("p", "Artifact: ", name(artifact)) if artifact else "",
                class_="dw-action",
            )
        )
    before = reliability(pick(result.details, "reliability"))
    after = reliability(pick(result.details, "recalibrated_reliability"))
    if before is not None:
        series = [
            Series("perfect", [0.0, 1.0], [0.0, 1.0], color=REFERENCE, dashed=True),
            _reliability_series(before, "current model", CURRENT, False),
        ]
        if after is not None:
            series.append(_reliability_series(after, "after recalibration", AFTER, False))
        ticks = auto_ticks(0.0, 1.0)
        parts.append(
            line_chart(
                series,
                title="Reliability diagram: observed frequency vs mean predicted probability",
                x_range=(0.0, 1.0),
                y_range=(0.0, 1.0),
                x_ticks=ticks,
                y_label="fraction positive",
                width=520,
                height=420,
            )
        )
    parts.append(class_reliability_charts(result.details))  # multiclass only
    segments = pick(result.details, "segments", default=[])
    if isinstance(segments, list) and segments:
        parts.append(_calibration_by_segment(segments))
    parts.append(everything(result))
    return join(parts)


def _calibration_by_segment(rows: list[Any]) -> Markup:
    """The per-segment table, and the reliability diagrams of the worst miscalibrated segments."""
    body, classes, charts = [], [], []
    for row in rows:
        flagged = bool(pick(row, "miscalibrated", default=False))
        label = f"{pick(row, 'column', default='')} = {pick(row, 'value', default='')}"
        body.append(
            [
                name(label),
                num(pick(row, "support")),
                num(pick(row, "ece")),
                num(pick(row, "ece_noise")),
                num(pick(row, "mce")),
                num(pick(row, "mean_score")),
                _interval(
                    pick(row, "observed_rate"), pick(row, "observed_ci_low"), pick(row, "observed_ci_high")
                ),
                num(pick(row, "reference_ece")),
                pvalue(pick(row, "p_adjusted")),
                el("b", "yes") if flagged else "no",
            ]
        )
        classes.append("dw-hit" if flagged else None)
        curve = reliability(pick(row, "reliability"))
        if flagged and curve is not None and len(charts) < 3:
            charts.append(
                line_chart(
                    [
                        Series("perfect", [0.0, 1.0], [0.0, 1.0], color=REFERENCE, dashed=True),
                        _reliability_series(curve, label, CURRENT, False),
                    ],
                    title=f"Reliability: {label}",
                    x_range=(0.0, 1.0),
                    y_range=(0.0, 1.0),
                    x_ticks=auto_ticks(0.0, 1.0),
                    y_label="fraction positive",
                    width=300,
                    height=260,
                )
            )
    headers = ["segment", "support", "ECE", "ECE noise", "MCE", "mean score", "observed rate [interval]"]
    return join(
        [
            el("h3", "Calibration by segment"),
            el(
                "p",
                "Miscalibrated first: the ECE in excess of its noise (what a perfectly calibrated segment "
                "of this size shows) is above the threshold, or rose over the reference's, significantly "
                "(Benjamini-Hochberg across segments).",
                class_="dw-muted",
            ),
            table(
                [*headers, "reference ECE", "p adj.", "miscalibrated"],
                body,
                numeric=(1, 2, 3, 4, 5, 6, 7, 8),
                row_classes=classes,
            ),
            el("div", *charts, class_="dw-grid") if charts else "",
        ]
    )


def segments_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    segments = segment_rows(result.details)
    parts = []
    if segments:
        values = [
            v
            for s in segments
            for v in (s.metric_value, s.ci_low, s.ci_high, s.reference_value, s.rest_value)
            if v is not None
        ]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        pad = (hi - lo) * 0.05 or 0.05
        domain = (lo - pad, hi + pad)
        body, classes = [], []
        for s in segments:
            strip = interval_strip(
                s.metric_value,
                s.ci_low,
                s.ci_high,
                reference=s.reference_value,
                domain=domain,
                color="#dc2626" if s.flagged else CURRENT,
            )
            body.append(
                [
                    name(f"{s.column} = {s.value}"),
                    num(s.support),
                    s.metric or "",
                    _interval(s.metric_value, s.ci_low, s.ci_high),
                    strip,
                    num(s.reference_value),
                    num(s.rest_value),
                    pvalue(s.p_value),
                    pvalue(s.p_adjusted),
                    el("b", "flagged") if s.flagged else "no",
                ]
            )
            classes.append("dw-hit" if s.flagged else None)
        parts.append(
            el(
                "p",
                f"Worst first. Range of the strips: {num(domain[0], 3)} to {num(domain[1], 3)}; "
                "grey tick = reference value.",
                class_="dw-muted",
            )
        )
        parts.append(
            table(
                [
                    "segment",
                    "support",
                    "metric",
                    "value [interval]",
                    "",
                    "reference",
                    "rest",
                    "p-value",
                    "p adj.",
                    "flagged",
                ],
                body,
                numeric=(1, 3, 5, 6, 7, 8),
                row_classes=classes,
            )
        )
    parts.append(everything(result))
    return join(parts)


def threshold_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    curve = threshold_curve(result.details)
    parts = []
    if curve is not None:
        gain = num(curve.gain) + (
            f" [{num(curve.gain_ci[0])}, {num(curve.gain_ci[1])}]" if curve.gain_ci else ""
        )
        parts.append(
            key_figures(
                [
                    ("objective", curve.objective_name or "—", False),
                    ("current threshold", num(curve.current), False),
                    ("proposed threshold", num(curve.proposed), False),
                    ("expected gain [interval]", gain, False),
                ]
            )
        )
        if curve.objective:
            rules = []
            if curve.current is not None:
                rules.append(Rule(curve.current, f"current {num(curve.current, 3)}", MUTED, vertical=True))
            if curve.proposed is not None:
                rules.append(Rule(curve.proposed, f"proposed {num(curve.proposed, 3)}", AFTER, vertical=True))
            xs = [t if t is not None else 0.0 for t in curve.thresholds]
            parts.append(
                line_chart(
                    [Series(curve.objective_name or "objective", xs, curve.objective)],
                    title="Objective vs decision threshold",
                    rules=rules,
                    markers=False,
                    y_label=curve.objective_name or "objective",
                    width=620,
                    height=240,
                )
            )
    parts.append(everything(result))
    return join(parts)
