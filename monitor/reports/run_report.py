"""One self-contained HTML report per model run: the summary first, then a section per check."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from checks.result import CheckResult, Finding, ModelRun, jsonable
from checks.vocabulary import PERFORMANCE_CHECKS

from .adapters import segment_rows, threshold_choice
from .assets import badge, page, status_class
from .data_sections import drift_section, latency_section, quality_section
from .fmt import label, ms, num, when
from .label_sections import calibration_section, performance_section, segments_section, threshold_section
from .markup import Markup, el, join, json_script
from .widgets import everything, findings_table, key_figures, metrics_table, skipped_note

log = logging.getLogger("driftwatch.reports")

Renderer = Callable[[CheckResult, Sequence[ModelRun]], Markup]


def _generic_section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    """Metrics, findings and the raw details of a check that has no section of its own."""
    raw = json.dumps(jsonable(dict(result.details)), indent=1, default=str)[:20000] if result.details else ""
    return join(
        [
            metrics_table(result.metrics),
            el("h3", "Findings"),
            findings_table(result.findings, results=[result]),
            el("details", el("summary", "Details (raw)"), el("pre", raw)) if raw else "",
        ]
    )


#: Known checks in report order: (title, renderer). Unknown checks follow, rendered generically.
SECTIONS: dict[str, tuple[str, Renderer]] = {
    "drift": ("Drift", drift_section),
    "data_quality": ("Data quality", quality_section),
    "latency": ("Latency", latency_section),
    "performance": ("Performance (realised, from labels)", performance_section),
    "estimated_performance": ("Performance (estimated, before labels arrive)", performance_section),
    "calibration": ("Calibration", calibration_section),
    "segments": ("Segments", segments_section),
    "threshold": ("Decision threshold", threshold_section),
    "class_prior": ("Class priors (multiclass)", _generic_section),
}

ACTION_TITLES = {
    "retrain": "Retrain the model",
    "recalibrate": "Recalibrate the probabilities",
    "retune_threshold": "Retune the decision threshold",
    "investigate_data": "Investigate the data",
    "correct_priors": "Correct the probabilities for the new class priors",
}

_STAMP = "%Y%m%dT%H%M%SZ"
#: Names of run reports and their companions: ``20260301T000000Z-run42.html``, ``…-run42.evidently.html``.
REPORT_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?:run\d+|adhoc)(?:\.[a-z]+)?\.html$")


def model_slug(model: str) -> str:
    """A file-system and URL safe directory name for a model, distinct for distinct names.

    >>> model_slug("fraud-v2"), model_slug("../etc/passwd")[:14]
    ('fraud-v2', 'etc_passwd-7fe')
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model).lstrip("._")[:60] or "model"
    if safe != model or safe.lower().endswith(".html"):
        safe = f"{safe}-{hashlib.sha256(model.encode()).hexdigest()[:8]}"
    return safe


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def report_relpath(run: ModelRun) -> str:
    """Where :func:`write_run_report` puts the report of ``run``, relative to the reports dir and URL-safe.

    Known before the file is written, so alerts can link to it. Sorts by window end.

    >>> from datetime import datetime
    >>> run = ModelRun("fraud", datetime(2026, 3, 1), datetime(2026, 3, 2, 6, 30), {}, (), run_id=42)
    >>> report_relpath(run)
    'fraud/20260302T063000Z-run42.html'
    """
    suffix = f"run{run.run_id}" if run.run_id is not None else "adhoc"
    return f"{model_slug(run.model)}/{_utc(run.window_end).strftime(_STAMP)}-{suffix}.html"


def window_end_of(report_name: str) -> datetime | None:
    """The window end encoded in a report file name, or ``None`` if it is not a run report."""
    match = REPORT_NAME.match(report_name)
    return datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC) if match else None


def _runs_until(run: ModelRun, history: Sequence[ModelRun]) -> list[ModelRun]:
    """History of the same model up to and including ``run``, oldest first, without duplicates."""
    by_key = {(r.run_id, _utc(r.window_end)): r for r in history if r.model == run.model}
    by_key[(run.run_id, _utc(run.window_end))] = run
    end = _utc(run.window_end)
    runs = sorted((r for r in by_key.values() if _utc(r.window_end) <= end), key=lambda r: _utc(r.window_end))
    return [r for r in runs if r is not run] + [run]


def headline(result: CheckResult) -> str:
    """One line that says what a check concluded."""
    if result.status == "skipped":
        return result.reason or "skipped"
    m = result.metrics
    if result.check == "drift" and "n_drifted" in m:
        return f"{num(m.get('n_drifted'))} of {num(m.get('n_columns'))} features drifted"
    if result.check == "latency" and "p99_ms" in m:
        return f"p99 {ms(m.get('p99_ms'))}, p50 {ms(m.get('p50_ms'))}"
    if result.check == "segments":
        flagged = sum(bool(s.flagged) for s in segment_rows(result.details))
        return f"{flagged} segment{'s' if flagged != 1 else ''} flagged"
    if result.check == "threshold" and (choice := threshold_choice(result.details)) is not None:
        return f"proposed {num(choice.proposed, 3)} (now {num(choice.current, 3)})"
    worst = _worst_findings(result.findings)
    if worst:
        more = f" (+{len(worst) - 1} more)" if len(worst) > 1 else ""
        return (worst[0].message or worst[0].subject) + more
    return "within thresholds"


def _worst_findings(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: f.severity != "alert")


def _anchor(check: str) -> str:
    return "check-" + re.sub(r"[^A-Za-z0-9_-]", "-", check)


def _ordered(checks: Sequence[CheckResult]) -> list[CheckResult]:
    known = list(SECTIONS)
    return sorted(checks, key=lambda c: known.index(c.check) if c.check in known else len(known))


def _summary(run: ModelRun) -> Markup:
    parts = []
    for rec in run.recommendations:
        evidence = [
            (label(k), num(v), False) for k, v in rec.evidence.items() if not isinstance(v, dict | list)
        ]
        parts.append(
            el(
                "div",
                el("h3", ACTION_TITLES.get(rec.action, label(rec.action))),
                el("ul", *(el("li", reason) for reason in rec.reasons)),
                key_figures(evidence[:8]) if evidence else "",
                el("p", "Artifact: ", el("span", rec.artifact, class_="dw-name")) if rec.artifact else "",
                class_="dw-action",
            )
        )
    if not run.recommendations:
        failing = [c for c in run.checks if c.status in ("warn", "alert")]
        text = (
            run.no_action_reason
            or f"No automatic action recommended; {len(failing)} check(s) need a look (below)."
            if failing
            else "All checks within thresholds: nothing to do."
        )
        parts.append(el("p", text, class_="dw-noaction" if not failing else None))
    tiles = [
        el(
            "a",
            el("b", SECTIONS.get(c.check, (label(c.check),))[0], " ", badge(c.status)),
            el("span", headline(c)),
            href=f"#{_anchor(c.check)}",
            class_=f"dw-tile {status_class(c.status)}",
        )
        for c in _ordered(run.checks)
    ]
    parts.append(el("div", *tiles, class_="dw-tiles"))
    worst = [f for c in run.checks for f in _worst_findings(c.findings)]
    worst = sorted(worst, key=lambda f: f.severity != "alert")[:12]
    if worst:
        parts += [el("h3", "What was found"), findings_table(worst, results=run.checks)]
    return el("section", el("h2", "Summary ", badge(run.status)), *parts, class_="dw-card", id="summary")


def _section(result: CheckResult, history: Sequence[ModelRun]) -> Markup:
    title, render = SECTIONS.get(result.check, (label(result.check), _generic_section))
    if result.status == "skipped":
        # Performance keeps its trends when skipped: earlier windows and estimates still tell a story.
        trends = result.check in PERFORMANCE_CHECKS
        body = join(
            [skipped_note(result), render(result, history) if trends else metrics_table(result.metrics)]
        )
    else:
        try:
            body = render(result, history)
        except Exception as exc:  # a malformed detail must not cost the whole report
            log.warning(
                'Report section "%s" of model "%s" fell back to a table: %r',
                result.check,
                history[-1].model if history else "?",
                exc,
            )
            body = join(
                [
                    el(
                        "p",
                        f"This section could not be drawn ({type(exc).__name__}); the numbers:",
                        class_="dw-reason",
                    ),
                    _generic_section(result, history),
                    everything(result),
                ]
            )
    return el(
        "section",
        el("h2", title, " ", badge(result.status)),
        body,
        class_="dw-card",
        id=_anchor(result.check),
    )


def _header(run: ModelRun, evidently_href: str | None) -> Markup:
    described = {k: v for k, v in jsonable(dict(run.reference)).items() if not k.startswith("importance")}
    ref = ", ".join(f"{k}: {v}" for k, v in described.items())
    meta = [f"window {when(run.window_start)} → {when(run.window_end)}"]
    if run.model_version:
        meta.append(f"version {run.model_version}")
    if run.run_id is not None:
        meta.append(f"run {run.run_id}")
    links = [el("a", "← all models", href="../index.html"), el("a", "model history", href="index.html")]
    if evidently_href:
        links.append(el("a", "Evidently data-drift report", href=evidently_href))
    return el(
        "header",
        el("h1", run.model),
        badge(run.status),
        el("span", " · ".join(meta), class_="dw-meta"),
        el("span", "reference: ", ref, class_="dw-meta") if ref else "",
        _overlap_note(run),
        _importance_line(run),
        *links,
        class_="dw-top",
    )


def _overlap_note(run: ModelRun) -> Markup | str:
    if not run.reference.get("overlaps_window"):
        return ""
    share = float(run.reference.get("overlap_share") or 0.0)
    return el(
        "p",
        f"This window overlaps the reference period ({share:.0%} of it lies inside): "
        "that part is compared with itself, so a change in it is diluted.",
        class_="dw-reason dw-overlap",
    )


def _importance_line(run: ModelRun) -> Markup | str:
    """The feature importance used by the drift policy, and whether it was configured or estimated."""
    importance = run.reference.get("importance") or {}
    if not importance:
        return ""
    total = sum(importance.values()) or 1.0
    ranked = sorted(importance.items(), key=lambda kv: -kv[1])
    shares = ", ".join(f"{name} {value / total:.0%}" for name, value in ranked[:8])
    source = run.reference.get("importance_source", "configured")
    how = f"estimated: {run.reference.get('importance_method', '')}" if source == "estimated" else source
    return el("span", f"feature importance ({how}): ", shares, class_="dw-meta dw-importance")


def render_run_report(
    run: ModelRun, *, history: Sequence[ModelRun] = (), evidently_href: str | None = None
) -> str:
    """The HTML of the report of ``run`` (pure: no file access)."""
    runs = _runs_until(run, history)
    body = join(
        [
            _summary(run),
            *(_section(c, runs) for c in _ordered(run.checks)),
            el("footer", f"driftwatch · {run.model} · window ending {when(run.window_end)}"),
            json_script("dw-run", run.to_dict()),
        ]
    )
    return page(
        f"{run.status.upper()} · {run.model} · {when(run.window_end)}", _header(run, evidently_href), body
    )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that a reader sees the old file or the new one, never a half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of its own per call: two threads of one process may write the same file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run_report(
    run: ModelRun, reports_dir: Path, *, history: Sequence[ModelRun] = (), evidently_html: Path | None = None
) -> Path:
    """Write the report of ``run`` to ``reports_dir / report_relpath(run)`` and return its path.

    ``history`` holds recent runs of the same model (for trends; runs after ``run`` are
    ignored). ``evidently_html`` is linked from the header; a file outside ``reports_dir`` is
    first copied beside the report so the link also works through the report server.
    """
    reports_dir = Path(reports_dir)
    target = reports_dir / report_relpath(run)
    href = None
    if evidently_html is not None:
        source = Path(evidently_html).resolve()
        if not source.is_relative_to(reports_dir.resolve()):
            copy = target.with_name(target.name.removesuffix(".html") + ".evidently.html")
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)
            source = copy.resolve()
        href = Path(os.path.relpath(source, target.parent.resolve())).as_posix()
    write_atomic(target, render_run_report(run, history=history, evidently_href=href))
    return target
