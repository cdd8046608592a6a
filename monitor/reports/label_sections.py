"""Report sections of the checks that need labels: performance, calibration, segments, threshold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from checks.details import MetricRow, SegmentCalibration
from checks.result import CheckResult, ModelRun
from checks.vocabulary import PERFORMANCE_CHECKS

from .adapters import (
    alpha,
    calibration_segments,
    floats,
    performance_metrics,
    recalibration,
    reliability,
    resamples,
    segment_rows,
    threshold_choice,
)
from .fmt import as_float, num, pvalue
from .markup import Markup, el, join
from .multiclass_sections import class_reliability_charts, confusion_matrices, per_class_table
from .svg import AFTER, CURRENT, MUTED, REFERENCE, Rule, Series, auto_ticks, interval_strip, line_chart
from .widgets import epoch, everything, key_figures, name, reliability_series, table


def _interval(value: float | None, lo: float | None, hi: float | None) -> str:
    if value is None:
        return "—"
    return f"{num(value)} [{num(lo)}, {num(hi)}]" if lo is not None or hi is not None else num(value)


def _metrics_table(metrics: Sequence[MetricRow], details: Mapping[str, Any]) -> Markup:
    b, level = resamples(details), num(alpha(details))
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
                pvalue(p.adjusted_p_value, resamples=b, raw=p.p_value),
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
            el("p", _THRESHOLD_NOTE.format(alpha=level), class_="dw-muted"),
        ]
    )


#: What the threshold and p-value columns of the performance table mean.
_THRESHOLD_NOTE = (
    "Material at: the value past which a change from the reference is large enough to matter "
    "(the reference minus min_delta, or the value at which the error 1 − metric rose by "
    "min_relative, whichever comes first). Degraded: past that value and the one-sided "
    "bootstrap p-value, Holm-adjusted across metrics, below alpha = {alpha}."
)


def _perf_of(run: ModelRun, check: str, metric: str) -> MetricRow | None:
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
    metrics = performance_metrics(result.details)
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


def calibration_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    m = result.metrics
    recal = recalibration(result.details)
    figures = [(k.replace("_", " "), num(v), False) for k, v in m.items() if as_float(v) is not None][:6]
    parts = [key_figures(figures)]
    if recal is not None:
        items = [
            ("method", recal.method or "—", False),
            ("ECE before → after", f"{num(recal.ece_before)} → {num(recal.ece_after)}", False),
            ("log loss before → after", f"{num(recal.log_loss_before)} → {num(recal.log_loss_after)}", False),
        ]
        parts.append(el("div", el("h3", "Proposed recalibrator"), key_figures(items), class_="dw-action"))
    before = reliability(result.details, "reliability")
    after = reliability(result.details, "recalibrated_reliability")
    if before is not None:
        series = [
            Series("perfect", [0.0, 1.0], [0.0, 1.0], color=REFERENCE, dashed=True),
            reliability_series(before, "current model", CURRENT, False),
        ]
        if after is not None:
            series.append(reliability_series(after, "after recalibration", AFTER, False))
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
    segments = calibration_segments(result.details)
    if segments:
        parts.append(_calibration_by_segment(segments))
    parts.append(everything(result))
    return join(parts)


def _calibration_by_segment(rows: Sequence[SegmentCalibration]) -> Markup:
    """The per-segment table, and the reliability diagrams of the worst miscalibrated segments."""
    body, classes, charts = [], [], []
    for row in rows:
        flagged = bool(row.miscalibrated)
        label = f"{row.column} = {row.value}"
        body.append(
            [
                name(label),
                num(row.support),
                num(row.ece),
                num(row.ece_noise),
                num(row.mce),
                num(row.mean_score),
                _interval(row.observed_rate, row.observed_ci_low, row.observed_ci_high),
                num(row.reference_ece),
                pvalue(row.p_adjusted),
                el("b", "yes") if flagged else "no",
            ]
        )
        classes.append("dw-hit" if flagged else None)
        curve = row.reliability
        if flagged and curve is not None and len(charts) < 3:
            charts.append(
                line_chart(
                    [
                        Series("perfect", [0.0, 1.0], [0.0, 1.0], color=REFERENCE, dashed=True),
                        reliability_series(curve, label, CURRENT, False),
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
            for v in (s.value_metric, s.ci_low, s.ci_high, s.reference_value, s.rest_value)
            if v is not None
        ]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        pad = (hi - lo) * 0.05 or 0.05
        domain = (lo - pad, hi + pad)
        body, classes = [], []
        for s in segments:
            strip = interval_strip(
                s.value_metric,
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
                    _interval(s.value_metric, s.ci_low, s.ci_high),
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
    choice = threshold_choice(result.details)
    parts = []
    if choice is not None:
        gain = num(choice.gain) + (
            f" [{num(choice.gain_ci[0])}, {num(choice.gain_ci[1])}]" if choice.gain_ci else ""
        )
        objective = choice.objective_name or "objective"
        parts.append(
            key_figures(
                [
                    ("objective", choice.objective_name or "—", False),
                    ("current threshold", num(choice.current), False),
                    ("proposed threshold", num(choice.proposed), False),
                    ("expected gain [interval]", gain, False),
                ]
            )
        )
        if choice.curve is not None and choice.curve.objective:
            rules = []
            if choice.current is not None:
                rules.append(Rule(choice.current, f"current {num(choice.current, 3)}", MUTED, vertical=True))
            if choice.proposed is not None:
                rules.append(
                    Rule(choice.proposed, f"proposed {num(choice.proposed, 3)}", AFTER, vertical=True)
                )
            xs = [t if t is not None else 0.0 for t in floats(choice.curve.thresholds)]
            parts.append(
                line_chart(
                    [Series(objective, xs, floats(choice.curve.objective))],
                    title="Objective vs decision threshold",
                    rules=rules,
                    markers=False,
                    y_label=objective,
                    width=620,
                    height=240,
                )
            )
    parts.append(everything(result))
    return join(parts)
