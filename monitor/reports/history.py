"""Pages across runs: the index of all models, one trend page per model, and retention.

Run strips tell an **incident** (an alert that came with a recommended action: something to
do) from an **informational** run (warnings, or alerts the policy declined to act on, with
its reason) and a clean one, so a month of segment warnings does not look like an outage.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from checks.result import STATUS_ORDER, ModelRun

from .assets import badge, page, status_class
from .fmt import as_float, label, when
from .label_sections import performance_trend_charts
from .markup import Markup, el, join
from .run_report import ACTION_TITLES, headline, model_slug, report_relpath, window_end_of, write_atomic
from .svg import ALERT, CURRENT, Series, line_chart
from .widgets import epoch, table

#: Runs shown in the index timeline of each model (the model page lists them all).
INDEX_TIMELINE_RUNS = 60

#: Trends drawn open on a model page: (check, metric key, caption, colour).
KEY_TRENDS = (
    ("drift", "share_drifted", "Share of drifted features", ALERT),
    ("latency", "p99_ms", "Latency p99 (ms)", CURRENT),
    ("latency", "error_rate", "Error rate", ALERT),
    ("calibration", "ece", "Expected calibration error", CURRENT),
)


def is_share(key: str) -> bool:
    """Whether a metric key names a share, drawn from 0 (``share_drifted``, ``missing_share``).

    >>> is_share("share_drifted"), is_share("p99_ms")
    (True, False)
    """
    return "share" in key.split("_")


def _chronological(runs: Sequence[ModelRun]) -> list[ModelRun]:
    return sorted(runs, key=lambda r: epoch(r.window_end))


def run_kind(run: ModelRun) -> str:
    """``"incident"`` (an alert with a recommended action), ``"info"`` (other warnings and
    alerts), or the run's status (``"ok"``, ``"skipped"``).

    >>> from datetime import datetime
    >>> from checks.result import CheckResult
    >>> checks = (CheckResult("segments", "warn"),)
    >>> run_kind(ModelRun("m", datetime(2026, 1, 1), datetime(2026, 1, 2), {}, checks))
    'info'
    """
    if run.status == "alert" and run.recommendations:
        return "incident"
    return "info" if run.status in ("warn", "alert") else run.status


def status_run(runs: Sequence[ModelRun]) -> ModelRun:
    """The run whose status stands for the model: the newest one that was not skipped.

    A window skipped for lack of data (say, the daemon checked an empty future window) says
    nothing about the model, so it must not hide the alert of the window before it.
    """
    return next((r for r in reversed(runs) if r.status != "skipped"), runs[-1])


def _skipped_note(runs: Sequence[ModelRun], shown: ModelRun) -> Markup:
    """``newer windows skipped`` under a status taken from an older run, with the newest reason."""
    newer = [r for r in runs if epoch(r.window_end) > epoch(shown.window_end)]
    if not newer:
        return Markup("")
    reason = next((c.reason for c in newer[-1].checks if c.reason), "no data")
    text = f"{len(newer)} newer window(s) skipped, last {when(newer[-1].window_end)}: {reason}"
    return el("div", text, class_="dw-muted")


def _kind_text(run: ModelRun) -> str:
    kind = run_kind(run)
    if kind == "incident":
        return f"incident: {_actions(run)}"
    if kind == "info":
        return f"informational ({run.status}, no action)"
    return run.status


def _timeline(runs: Sequence[ModelRun], reports_dir: Path, prefix: str) -> Markup:
    cells = []
    for r in runs:
        rel = report_relpath(r)
        tip = f"{when(r.window_end)}: {_kind_text(r)}"
        kind = f"dw-{run_kind(r)}"
        if (reports_dir / rel).is_file():
            cells.append(el("a", href=prefix + rel, title=tip, class_=f"{status_class(r.status)} {kind}"))
        else:
            cells.append(el("a", title=f"{tip} (report removed)", class_=f"{status_class(r.status)} {kind}"))
    return el("div", *cells, class_="dw-timeline")


#: Incidents listed open on a model page (newest first); older ones sit in a collapsed block.
MAX_OPEN_INCIDENTS = 12


def _incidents(reports_dir: Path, runs: Sequence[ModelRun]) -> Markup:
    """The incidents of a model, newest first: window, action and its first reason."""
    rows = []
    for r in reversed(runs):
        if run_kind(r) != "incident":
            continue
        rel = report_relpath(r)
        link = el("a", "open", href=rel.split("/", 1)[1]) if (reports_dir / rel).is_file() else "removed"
        reason = r.recommendations[0].reasons[0] if r.recommendations[0].reasons else ""
        rows.append([when(r.window_end), _actions(r), reason, link])
    if not rows:
        return el("p", "No incident: no alert called for an action.", class_="dw-muted")
    headers = ["window end", "recommended", "why", "report"]
    shown = table(headers, rows[:MAX_OPEN_INCIDENTS])
    if len(rows) <= MAX_OPEN_INCIDENTS:
        return shown
    older = el(
        "details",
        el("summary", f"{len(rows) - MAX_OPEN_INCIDENTS} older incidents"),
        table(headers, rows[MAX_OPEN_INCIDENTS:]),
    )
    return join([shown, older])


def _actions(run: ModelRun) -> str:
    return ", ".join(ACTION_TITLES.get(r.action, r.action) for r in run.recommendations) or "—"


def _metric_series(runs: Sequence[ModelRun], check: str, key: str) -> list[float | None]:
    out = []
    for r in runs:
        result = r.check(check)
        out.append(
            None if result is None or result.status == "skipped" else as_float(result.metrics.get(key))
        )
    return out


def _trend(
    runs: Sequence[ModelRun], values: Sequence[float | None], title: str, color: str, *, share: bool = False
) -> Markup | None:
    """A metric across windows; a ``share`` (of rows, of features) is drawn on 0-1."""
    if sum(v is not None for v in values) < 2:
        return None
    xs = [epoch(r.window_end) for r in runs]
    return el(
        "figure",
        line_chart(
            [Series(title, xs, values, color=color)],
            title=title,
            time_axis=True,
            y_range=(0.0, max(1.0, *(v for v in values if v is not None))) if share else None,
            width=520,
            height=190,
        ),
    )


def _trend_charts(runs: Sequence[ModelRun]) -> tuple[list[Markup], list[Markup]]:
    """The key trends (drift, latency, performance, calibration), and one chart per other metric."""
    key = [
        _trend(runs, _metric_series(runs, chk, k), cap, color, share=is_share(k))
        for chk, k, cap, color in KEY_TRENDS
    ]
    charts = [c for c in key if c is not None] + performance_trend_charts(runs)
    shown = {(chk, k) for chk, k, _, _ in KEY_TRENDS}
    other = []
    for check in dict.fromkeys(c.check for r in runs for c in r.checks):
        for k in dict.fromkeys(k for r in runs if (c := r.check(check)) is not None for k in c.metrics):
            if (check, k) in shown:
                continue
            values = _metric_series(runs, check, k)
            chart = _trend(runs, values, f"{check}: {label(k)}", CURRENT, share=is_share(k))
            if chart is not None:
                other.append(chart)
    return charts, other


def _runs_table(reports_dir: Path, runs: Sequence[ModelRun]) -> Markup:
    body = []
    for r in reversed(runs):
        rel = report_relpath(r)
        link = el("a", "open", href=rel.split("/", 1)[1]) if (reports_dir / rel).is_file() else "removed"
        failing = ", ".join(c.check for c in r.checks if c.status in ("warn", "alert")) or "—"
        run_id = "" if r.run_id is None else str(r.run_id)
        kind = _kind_text(r) if run_kind(r) != "info" else r.no_action_reason or _kind_text(r)
        body.append([when(r.window_end), badge(r.status), run_id, failing, kind, link])
    return table(["window end", "status", "run", "checks failing", "incident or not", "report"], body)


def render_model_page(reports_dir: Path, model: str, runs: Sequence[ModelRun]) -> str:
    """The HTML of a model's page: status timeline, metric trends across windows, and every report."""
    runs = _chronological(runs)
    latest = status_run(runs) if runs else None
    header = el(
        "header",
        el("h1", model),
        badge(latest.status) if latest else "",
        el("span", f"as of {when(latest.window_end)}", class_="dw-meta") if latest else "",
        el("a", "← all models", href="../index.html"),
        class_="dw-top",
    )
    if latest is None:
        return page(f"{model} · driftwatch", header, el("p", "No runs yet."))
    charts, other = _trend_charts(runs)
    trends = [
        el("div", *charts, class_="dw-grid dw-wide")
        if charts
        else el("p", "Not enough runs yet.", class_="dw-muted")
    ]
    if other:
        trends.append(
            el(
                "details",
                el("summary", f"All other metrics ({len(other)})"),
                el("div", *other, class_="dw-grid dw-wide"),
            )
        )
    n_incidents = sum(run_kind(r) == "incident" for r in runs)
    n_info = sum(run_kind(r) == "info" for r in runs)
    body = join(
        [
            el(
                "section",
                el("h2", "Runs"),
                el(
                    "p",
                    f"Oldest to newest; a square opens its report. {n_incidents} incident(s) (tall red: an "
                    f"alert with a recommended action), {n_info} informational run(s) (short: warnings, or "
                    "alerts that call for no model action).",
                    class_="dw-muted",
                ),
                _timeline(runs, reports_dir, "../"),
                class_="dw-card",
            ),
            el(
                "section",
                el("h2", "Incidents"),
                _incidents(reports_dir, runs),
                class_="dw-card",
                id="incidents",
            ),
            el("section", el("h2", "Trends across windows"), *trends, class_="dw-card"),
            el("section", el("h2", "Every report"), _runs_table(reports_dir, runs), class_="dw-card"),
        ]
    )
    return page(f"{model} · driftwatch", header, body)


def write_model_page(reports_dir: Path, model: str, runs: Sequence[ModelRun]) -> Path:
    """Write ``<reports_dir>/<model slug>/index.html`` and return its path."""
    target = Path(reports_dir) / model_slug(model) / "index.html"
    write_atomic(target, render_model_page(Path(reports_dir), model, runs))
    return target


def render_index(reports_dir: Path, runs_by_model: Mapping[str, Sequence[ModelRun]]) -> str:
    """The HTML of the index: every model, its latest status, and a timeline of recent runs."""
    latest = {m: _chronological(r) for m, r in runs_by_model.items()}
    shown = {m: status_run(r) for m, r in latest.items() if r}
    order = sorted(latest, key=lambda m: (-STATUS_ORDER[shown[m].status] if m in shown else 1, m))
    body_rows, classes = [], []
    for model in order:
        runs = latest[model]
        slug = model_slug(model)
        if not runs:
            body_rows.append([el("a", model, href=f"{slug}/index.html"), "no runs", "", "", "", ""])
            classes.append(None)
            continue
        last = shown[model]
        rel = report_relpath(last)
        failing = [c for c in last.checks if c.status in ("warn", "alert")]
        issues = join([el("div", el("b", c.check), ": ", headline(c)) for c in failing]) if failing else "—"
        open_link = el("a", "latest report", href=rel) if (reports_dir / rel).is_file() else "—"
        body_rows.append(
            [
                el("a", el("b", model), href=f"{slug}/index.html"),
                badge(last.status),
                join([when(last.window_end), _skipped_note(runs, last)]),
                issues,
                _actions(last),
                join([_timeline(runs[-INDEX_TIMELINE_RUNS:], reports_dir, ""), open_link]),
            ]
        )
        classes.append(
            "dw-hit" if last.status == "alert" else "dw-hit-warn" if last.status == "warn" else None
        )
    counts = {
        s: sum(1 for m in order if m in shown and shown[m].status == s) for s in ("alert", "warn", "ok")
    }
    summary = " · ".join(f"{n} {s}" for s, n in counts.items())
    header = el(
        "header",
        el("h1", "driftwatch"),
        el("span", f"{len(order)} model{'s' if len(order) != 1 else ''} · {summary}", class_="dw-meta"),
        class_="dw-top",
    )
    body = el(
        "section",
        el("h2", "Models (worst first)"),
        table(
            ["model", "status", "latest window", "what is wrong", "recommended", "recent runs"],
            body_rows,
            row_classes=classes,
        ),
        class_="dw-card",
    )
    return page("driftwatch · models", header, body)


def write_index(
    reports_dir: Path,
    runs_by_model: Mapping[str, Sequence[ModelRun]],
    *,
    pages: Collection[str] | None = None,
) -> Path:
    """Write ``<reports_dir>/index.html`` and the pages of the models in ``pages`` (default: every
    model's; a model without a page file gets one, so every link of the index opens); return the
    index path.

    A model page draws a chart per metric, so rewriting only the pages whose runs changed keeps
    the cost of a job from growing with the number of models.
    """
    reports_dir = Path(reports_dir)
    for model, runs in runs_by_model.items():
        if pages is None or model in pages or not (reports_dir / model_slug(model) / "index.html").is_file():
            write_model_page(reports_dir, model, runs)
    target = reports_dir / "index.html"
    write_atomic(target, render_index(reports_dir, runs_by_model))
    return target


def prune_reports(reports_dir: Path, *, retention_days: int, now: datetime) -> list[Path]:
    """Delete run reports and their companions whose window ended over ``retention_days`` before ``now``.

    Only files named like run reports inside a model directory are touched; symlinks are
    not followed. Returns the removed paths, sorted.
    """
    cutoff = (now if now.tzinfo else now.replace(tzinfo=UTC)) - timedelta(days=retention_days)
    removed = []
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    for model_dir in root.iterdir():
        if model_dir.is_symlink() or not model_dir.is_dir():
            continue
        for path in model_dir.iterdir():
            end = window_end_of(path.name)
            if end is not None and end < cutoff and path.is_file() and not path.is_symlink():
                path.unlink()
                removed.append(path)
    return sorted(removed)
