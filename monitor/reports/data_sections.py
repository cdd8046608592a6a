"""Report sections of the label-free checks: drift, data quality, latency."""

from __future__ import annotations

from collections.abc import Sequence

from checks.details import DriftRow
from checks.result import CheckResult, ModelRun

from .adapters import distribution, drift_columns, kind_shown, latency_slos, quality_columns
from .fmt import as_float, ms, num, pct, pvalue
from .markup import Markup, el, join
from .svg import AFTER, ALERT, CURRENT, WARN, Rule, Series, category_chart, histogram_chart, line_chart
from .widgets import epoch, everything, key_figures, metric_of, name, table

#: Charts drawn open for the drifted features; the others sit in a collapsed block.
MAX_OPEN_DISTRIBUTIONS = 12
#: Features that did not drift listed open below the drifted ones; the rest are collapsed.
MAX_OPEN_STABLE_ROWS = 8


def drift_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    m = result.metrics
    columns = drift_columns(result.details)
    figures = key_figures(
        [
            (
                "features drifted",
                f"{num(m.get('n_drifted'))} of {num(m.get('n_columns', len(columns) or None))}",
                bool(m.get("n_drifted")),
            ),
            ("share drifted", pct(m.get("share_drifted")), bool(m.get("dataset_drifted"))),
            ("dataset drift", num(m.get("dataset_drifted")), bool(m.get("dataset_drifted"))),
            ("rows reference / current", f"{num(m.get('n_reference'))} / {num(m.get('n_current'))}", False),
        ]
    )
    parts = [figures]
    if columns:
        shown = sum(bool(c.drifted) for c in columns) + MAX_OPEN_STABLE_ROWS
        parts += [el("h3", "Features ranked by effect size"), _drift_table(columns[:shown])]
        if columns[shown:]:
            parts.append(
                el(
                    "details",
                    el("summary", f"{len(columns) - shown} more features"),
                    _drift_table(columns[shown:]),
                )
            )
        drifted = [c for c in columns if c.drifted and distribution(c) is not None]
        stable = [c for c in columns if not c.drifted and distribution(c) is not None]
        if drifted:
            parts.append(el("h3", "Reference vs current: drifted features"))
            parts.append(
                el("div", *(_distribution(c) for c in drifted[:MAX_OPEN_DISTRIBUTIONS]), class_="dw-grid")
            )
        rest = drifted[MAX_OPEN_DISTRIBUTIONS:] + stable
        if rest:
            parts.append(
                el(
                    "details",
                    el("summary", f"Distributions of the other {len(rest)} features"),
                    el("div", *(_distribution(c) for c in rest), class_="dw-grid"),
                )
            )
    trend = _share_trend(history)
    if trend:
        parts.append(trend)
    parts.append(everything(result))
    return join(parts)


def _drift_table(columns: Sequence[DriftRow]) -> Markup:
    top = max([c.effect_size for c in columns if c.effect_size is not None] or [1.0]) or 1.0
    body, classes = [], []
    for c in columns:
        width = 0.0 if c.effect_size is None else max(0.0, min(1.0, c.effect_size / top))
        bar = el(
            "div",
            el(
                "div", class_="dw-bar" + ("" if c.drifted else " dw-quiet"), style=f"width:{100 * width:.0f}%"
            ),
            class_="dw-barwrap",
        )
        body.append(
            [
                el("span", c.column, class_="dw-name", title=_tooltip(c)),
                kind_shown(c),
                c.method or "",
                num(c.statistic),
                # a distance method has no p-value of its own: its significance test's is shown
                pvalue(c.p_value if c.p_value is not None else c.significance_p_value),
                pvalue(c.significance_p_adjusted),
                num(c.threshold),
                c.effect_measure or "",
                num(c.effect_size),
                num(c.noise_floor),
                num(c.effect_threshold),
                bar,
                _detectable(c),
                el("b", "drifted") if c.drifted else "no",
                c.reason or "",
            ]
        )
        classes.append("dw-hit" if c.drifted else None)
    headers = ["feature", "kind", "method", "statistic", "p-value", "p adj.", "threshold", "effect measure"]
    headers += ["effect", "noise floor", "effect thr.", "", "min. detectable", "drifted", "decided by"]
    return table(headers, body, numeric=(3, 4, 5, 6, 8, 9, 10, 12), row_classes=classes)


def _detectable(c: DriftRow) -> str:
    """The smallest effect the window detects with 80% power: SD shift for numeric columns."""
    if c.minimum_detectable_shift_sd is not None:
        return f"{num(c.minimum_detectable_shift_sd)} SD"
    if c.minimum_detectable_effect is not None:
        return f"{num(c.minimum_detectable_effect)} {c.minimum_detectable_measure or ''}".strip()
    return ""


def _tooltip(c: DriftRow) -> str:
    parts = [c.column]
    detectable = _detectable(c)
    if detectable:
        parts.append(f"could have seen a change of {detectable} or more (80% power)")
    if c.reason:
        parts.append(c.reason)
    return "; ".join(parts)


def _distribution(c: DriftRow) -> Markup:
    d = distribution(c)
    assert d is not None
    title = f"{c.column} — effect {num(c.effect_size, 3)}"
    if _detectable(c):
        title += f", detectable {_detectable(c)}"
    if d.kind in ("categorical", "discrete"):
        chart = category_chart(d.categories, d.reference, d.current, title=title)
    else:
        chart = histogram_chart(d.edges, d.reference, d.current, title=title)
    return el("figure", chart)


def _share_trend(history: Sequence[ModelRun]) -> Markup | None:
    points = [(epoch(r.window_end), metric_of(r, "drift", "share_drifted")) for r in history]
    if sum(v is not None for _, v in points) < 2:
        return None
    xs, ys = zip(*points, strict=True)
    chart = line_chart(
        [Series("share drifted", xs, ys, color=ALERT)],
        title="Share of drifted features over recent windows",
        time_axis=True,
        y_range=(0.0, 1.0),
        width=520,
        height=200,
    )
    return el("div", el("figure", chart), class_="dw-grid dw-wide")


def quality_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    columns = quality_columns(result.details)
    counts = [(k, v) for k, v in result.metrics.items() if "quarantin" in k or k.startswith("n_")]
    figures = [(k.replace("_", " "), num(v), "quarantin" in k and bool(as_float(v))) for k, v in counts]
    if result.metrics.get("expected_rows") is not None:
        dropped = any(f.subject == "traffic" for f in result.findings)
        figures.append(("rows expected (reference rate)", num(result.metrics["expected_rows"]), dropped))
    parts = [key_figures(figures)]
    if columns:
        body, classes = [], []
        for c in columns:
            new_categories, vanished = c.new_categories or {}, c.vanished_categories or {}
            new = ", ".join(
                f"{k} ({pct(v)})" if v is not None else k for k, v in list(new_categories.items())[:8]
            )
            if len(new_categories) > 8:
                new += f" … +{len(new_categories) - 8}"
            gone = ", ".join(f"{k} (was {pct(v)})" for k, v in vanished.items())
            rng = (
                f"[{num(c.ref_min)}, {num(c.ref_max)}]"
                if c.ref_min is not None or c.ref_max is not None
                else ""
            )
            missing_up = (c.missing_cur or 0) > (c.missing_ref or 0) + 0.01
            bad = missing_up or bool(new_categories) or bool(c.out_of_range_share) or bool(c.constant)
            bad = bad or bool(vanished)
            body.append(
                [
                    name(c.column),
                    c.kind or "",
                    pct(c.missing_ref),
                    pct(c.missing_cur),
                    name(new),
                    name(gone),
                    pct(c.out_of_range_share),
                    rng,
                    "constant" if c.constant else "",
                ]
            )
            classes.append("dw-hit-warn" if bad else None)
        order = sorted(range(len(body)), key=lambda i: classes[i] is None)
        parts.append(
            table(
                [
                    "column",
                    "kind",
                    "missing ref",
                    "missing now",
                    "new categories",
                    "vanished categories",
                    "out of range",
                    "reference range",
                    "",
                ],
                [body[i] for i in order],
                numeric=(2, 3, 6),
                row_classes=[classes[i] for i in order],
            )
        )
    parts.append(everything(result))
    return join(parts)


_PERCENTILES = (("p50_ms", "p50", AFTER), ("p95_ms", "p95", WARN), ("p99_ms", "p99", ALERT))


def latency_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    m = result.metrics
    slos = latency_slos(result.details)
    figures = []
    for key, caption in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"), ("max_ms", "max")):
        slo = slos.get(key)
        value = as_float(m.get(key))
        base = as_float(m.get(f"reference_{key}"))
        text = (
            caption + (f" (SLO {ms(slo)})" if slo is not None else "") + (f", ref {ms(base)}" if base else "")
        )
        figures.append((text, ms(value), slo is not None and value is not None and value > slo))
    err, err_slo = as_float(m.get("error_rate")), slos.get("error_rate")
    figures.append(
        (
            "error rate" + (f" (SLO {pct(err_slo, 2)})" if err_slo is not None else ""),
            pct(err, 2),
            err_slo is not None and err is not None and err > err_slo,
        )
    )
    figures.append(("throughput / min", num(m.get("throughput_per_min"), 3), False))
    figures.append(("requests", num(m.get("n")), False))
    rank_error = as_float(m.get("quantile_rank_error"))
    if rank_error is not None:  # a sampled window: its percentiles were computed over every row
        how = "exact" if rank_error == 0 else f"rank error ≤ {pct(rank_error, 2)}"
        figures.append(("percentiles, whole window", how, False))
    parts = [key_figures(figures)]
    runs = [r for r in history if metric_of(r, "latency", "p50_ms") is not None] or []
    if len(runs) >= 2:
        xs = [epoch(r.window_end) for r in runs]
        series = [
            Series(cap, xs, [metric_of(r, "latency", key) for r in runs], color=color)
            for key, cap, color in _PERCENTILES
        ]
        rules = [
            Rule(v, f"{k.removesuffix('_ms')} SLO {ms(v)}", ALERT)
            for k, v in slos.items()
            if k.endswith("_ms")
        ]
        charts = [line_chart(series, title="Percentiles (ms)", rules=rules, time_axis=True, width=520)]
        errs = [metric_of(r, "latency", "error_rate") for r in runs]
        if any(e is not None for e in errs):
            err_rules = [Rule(err_slo, f"SLO {pct(err_slo, 2)}", ALERT)] if err_slo is not None else []
            charts.append(
                line_chart(
                    [Series("error rate", xs, errs, color=CURRENT)],
                    title="Error rate",
                    rules=err_rules,
                    time_axis=True,
                    width=520,
                )
            )
        parts += [
            el("h3", "Over recent windows"),
            el("div", *(el("figure", c) for c in charts), class_="dw-grid dw-wide"),
        ]
    parts.append(everything(result))
    return join(parts)
