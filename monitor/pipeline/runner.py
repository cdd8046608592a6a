"""Check one model over one window, end to end: claim, read, check, decide, report, record, alert.

The run's findings, its result and its alert notifications are written in one transaction
(so an alert is never lost nor queued for a run that did not commit); the HTML report is
written just before it, so the link in the alert always points at an existing file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from checks.importance import DependenceSample, estimate_dependence
from checks.result import ModelRun, Recommendation
from monitor.alerting.recording import record_run_alerts
from monitor.config import Config, ModelConfig
from monitor.engines.reference import (
    REFERENCES,
    Reference,
    ReferenceCache,
    expected_rows_in,
    reference_span,
    window_overlap,
)
from monitor.pipeline.check_suite import (
    LABEL_CHECKS,
    SuiteOutcome,
    reference_importance,
    reference_seed,
    run_suite,
    window_seed,
)
from monitor.pipeline.due import due_windows, owner_gone, windows_with_new_labels
from monitor.pipeline.read_ahead import ReadAhead
from monitor.policy.decision import decide
from monitor.redact import redact_urls
from monitor.reports import report_relpath, write_index, write_run_report
from monitor.store import Store
from monitor.store.owner import default_owner
from monitor.store.run_history import HISTORY
from monitor.store.runs import (
    RunClaim,
    claim_orphaned,
    claim_reevaluation,
    claim_window,
    fail_run,
    finish_run,
    load_runs,
    run_id_for_window,
)
from monitor.store.summary_cache import IMPORTANCE, load_entry, save_entry, summary_key
from monitor.store.windows import read_window, window_counts
from monitor.windows import latest_window_end, window_start

if TYPE_CHECKING:
    from monitor.engines.window import InPlaceWindow

log = logging.getLogger("driftwatch.runner")


@dataclass
class Work:
    """What :meth:`Runner.work` did: the runs it finished, and each one's seconds (claim to commit)."""

    runs: list[ModelRun] = field(default_factory=list)
    seconds: dict[int, float] = field(default_factory=dict)


class Runner:
    """Runs the checks of configured models against the store."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        owner: str | None = None,
        notify: Literal["recent", "all", "none"] = "recent",
        references: ReferenceCache = REFERENCES,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.owner = owner or default_owner()
        self.notify = notify
        self.references = references  # shared by default: a fixed reference is read once per process
        self._stale_pages: set[str] | None = None  # None: not in a batch; refresh after every run
        self.read_ahead = ReadAhead(store, config.store.pushdown_rows)

    @property
    def tz(self) -> str:
        return self.config.daemon.timezone

    # -- which windows --------------------------------------------------------------------

    def due_windows(self, model: ModelConfig, now: datetime | None = None) -> list[datetime]:
        """Ends of complete windows not checked yet, oldest first (:mod:`monitor.pipeline.due`)."""
        return due_windows(self.store, self.config, model, now or self.clock())

    def windows_with_new_labels(self, model: ModelConfig, now: datetime | None = None) -> list[int]:
        """Finished runs to re-evaluate because labels arrived (:mod:`monitor.pipeline.due`)."""
        return windows_with_new_labels(self.store, self.config, model, now or self.clock())

    # -- one window -----------------------------------------------------------------------

    def check_window(
        self, model: ModelConfig, end: datetime, *, force: bool = False, next_end: datetime | None = None
    ) -> ModelRun | None:
        """Check the window of ``model`` ending at ``end``; ``None`` if another process has it.

        ``next_end``: the window checked next, read meanwhile (:mod:`monitor.pipeline.read_ahead`).
        """
        now = self.clock()
        start = window_start(end, model.window, self.tz)
        claim = claim_window(self.store.engine, model.name, start, end, owner=self.owner, now=now)
        if claim is None:
            claim = claim_orphaned(
                self.store.engine, model.name, end, is_gone=owner_gone, owner=self.owner, now=now
            )
        if claim is None and force:
            claim = self._claim_existing(model, end, now)
        if claim is None:
            return None
        upcoming = None if next_end is None else (window_start(next_end, model.window, self.tz), next_end)
        return self._execute(model, claim, upcoming)

    def reevaluate(self, model: ModelConfig, run_id: int) -> ModelRun | None:
        """Check a finished window again because late labels arrived."""
        claim = claim_reevaluation(self.store.engine, run_id, owner=self.owner, now=self.clock())
        return self._execute(model, claim) if claim else None

    def _claim_existing(self, model: ModelConfig, end: datetime, now: datetime) -> RunClaim | None:
        run_id = run_id_for_window(self.store.engine, model.name, end)
        return claim_reevaluation(self.store.engine, run_id, owner=self.owner, now=now) if run_id else None

    def _execute(
        self, model: ModelConfig, claim: RunClaim, upcoming: tuple[datetime, datetime] | None = None
    ) -> ModelRun | None:
        log.info(
            'Checking model "%s" window %s..%s (run %d)',
            model.name,
            claim.window_start,
            claim.window_end,
            claim.run_id,
        )
        try:
            return self._check(model, claim, upcoming)
        except Exception as exc:
            log.exception(
                'Check of model "%s" window ending %s failed (run %d)',
                model.name,
                claim.window_end,
                claim.run_id,
            )
            fail_run(self.store.engine, claim, redact_urls(f"{type(exc).__name__}: {exc}"), now=self.clock())
            raise

    def _check(
        self, model: ModelConfig, claim: RunClaim, upcoming: tuple[datetime, datetime] | None = None
    ) -> ModelRun:
        """Read, check, decide, report and record one claimed window; ``upcoming``: the window to
        read ahead once this one is read (it is then read while this one is checked)."""
        now = self.clock()
        in_place = self._read_in_place(model, claim, now) if model.data is not None else None
        window_latency = None
        if in_place is not None:
            counts, reference, current, large = in_place.counts, in_place.reference, in_place.current, False
            window_latency = in_place.latency
        else:
            counts = window_counts(self.store, model, claim.window_start, claim.window_end)
            large = (
                self.store.dialect == "postgresql" and counts.predictions > self.config.store.pushdown_rows
            )
            sample_rows = self.config.store.sample_rows if large else None
            reference = self.references.load(
                self.store, model, claim.window_start, now=now, timezone=self.tz, max_rows=sample_rows
            )
            fraction = sample_rows / counts.predictions if sample_rows else None
            current = self.read_ahead.take(model, claim.window_start, claim.window_end)
            if current is None or fraction is not None:
                current = read_window(
                    self.store, model, claim.window_start, claim.window_end, fraction=fraction
                )
            if large and model.latency.enabled:
                window_latency = self._latency_in_sql(model, claim)
            if upcoming is not None:
                self.read_ahead.start(model, *upcoming)
        outcome = run_suite(
            model,
            reference.frame,
            current,
            quarantined=counts.quarantined,
            window_seconds=(claim.window_end - claim.window_start).total_seconds(),
            seed=window_seed(model.name, claim.window_end),
            expected_rows=expected_rows_in(reference, model, (claim.window_start, claim.window_end), self.tz),
            n_rows=counts.predictions,
            window_latency=window_latency,
            importance=self._importance(model, reference) if not current.empty else None,
        )
        if large:
            outcome = self._pushed_down(model, claim, outcome, counts.predictions)
        if in_place is not None and in_place.drift is not None:
            checks = [in_place.drift if c.check == "drift" else c for c in outcome.checks]
            outcome = replace(outcome, checks=checks)
        versions = current["model_version"].dropna().unique().tolist() if "model_version" in current else []
        run = ModelRun(
            model=model.name,
            window_start=claim.window_start,
            window_end=claim.window_end,
            reference={**self._reference_description(model, reference.description, claim), **outcome.extra},
            checks=tuple(outcome.checks),
            run_id=claim.run_id,
            model_version=", ".join(sorted(map(str, versions))) or None,
        )
        decision = decide(outcome.checks)
        recommendations = self._with_artifacts(model, run, decision.recommendations, outcome)
        relpath = report_relpath(run)
        run = ModelRun(
            **{
                **run.__dict__,
                "recommendations": recommendations,
                "no_action_reason": decision.no_action,
                "report_url": self._url(relpath),
            }
        )
        evidently = None
        if self.config.reports.evidently and not reference.frame.empty and not current.empty:
            from monitor.reports.evidently import write_evidently_report

            target = Path(self.config.reports.dir) / report_relpath(run).replace(".html", ".evidently.html")
            evidently = write_evidently_report(model, reference.frame, current, target)
        report_path = self._write_report(model, run, evidently)
        labels_final = now >= claim.window_end + model.labels.max_delay
        with self.store.engine.begin() as conn:
            finish_run(
                conn,
                claim,
                run,
                label_coverage=outcome.label_coverage,
                labels_final=labels_final,
                report_path=str(report_path),
                now=self.clock(),  # finished now: the run's duration covers its checks and report
            )
            alert_run = _label_part(run) if claim.reevaluation else run
            page = self.pages(model, claim.window_end, now)
            queued = record_run_alerts(conn, alert_run, self.config.alerts, now=now, page=page)
        log.info(
            'Model "%s" window ending %s: %s, %d recommendation(s), %s (run %d)',
            model.name,
            claim.window_end,
            run.status,
            len(run.recommendations),
            f"{queued} notification(s) queued" if page else "history: recorded, not paged",
            claim.run_id,
        )
        return run

    def _importance(self, model: ModelConfig, reference: Reference) -> dict[str, Any] | None:
        """The drift check's importance for ``reference``, computed once per loaded reference.

        It depends on the reference's rows alone, so it is kept with them
        (``Reference.derived``, shared by the cache's copies) under the model's settings and
        estimated with a seed of the reference, not of the window: every window compared
        with one fixed reference uses the same estimate, and rows read again (changed, or a
        trailing reference's new span) get a new one.
        """
        if not model.drift.enabled or reference.frame.empty:
            return None
        key = ("importance", model.model_dump_json())
        if key not in reference.derived:
            seed = reference_seed(model.name, reference.description)
            estimate = partial(self._kept_estimate, model.name)
            reference.derived[key] = reference_importance(model, reference.frame, seed, estimate=estimate)
        return reference.derived[key]

    def _kept_estimate(self, model_name: str, sample: DependenceSample) -> dict[str, float]:
        """The importance estimate of ``sample``, kept in the store for the next process.

        A fixed reference gives the same sample every time, so a ``driftwatch check`` or a
        restarted daemon reads the estimate instead of making it (and importing
        scikit-learn); other rows have another digest and are estimated again, and so does
        every sample after an upgrade of the estimator's package.
        """
        key = summary_key(sample.digest(), version("scikit-learn"))
        kept = load_entry(self.store, model_name, IMPORTANCE, key)
        if kept is not None:
            return dict(kept["shares"])  # JSON: the same names and floats, in the same order
        shares = estimate_dependence(sample)
        save_entry(self.store, model_name, IMPORTANCE, key, {"shares": shares}, now=self.clock())
        return shares

    def _read_in_place(self, model: ModelConfig, claim: RunClaim, now: datetime) -> InPlaceWindow:
        """The window of a model checked where its data lives (:mod:`monitor.engines.window`)."""
        from monitor.engines.window import read_in_place

        return read_in_place(
            self.store,
            model,
            claim.window_start,
            claim.window_end,
            now=now,
            sample_rows=self.config.store.sample_rows,
            timezone=self.tz,
        )

    def _reference_description(
        self, model: ModelConfig, description: dict[str, Any], claim: RunClaim
    ) -> dict[str, Any]:
        """The reference's description, with whether the checked window overlaps it."""
        if model.reference.kind == "file":
            return description
        span = reference_span(model, claim.window_start, self.tz)
        return {**description, **window_overlap(span, (claim.window_start, claim.window_end))}

    def pages(self, model: ModelConfig, window_end: datetime, now: datetime) -> bool:
        """Whether a run of the window ending at ``window_end`` queues notifications.

        ``notify`` is ``"recent"`` (the daemon, ``backfill --notify``: windows within
        ``alerts.max_notify_age``), ``"all"`` (``driftwatch check``: a person asked for this
        window) or ``"none"`` (``backfill``: history is recorded, not paged).
        """
        if self.notify != "recent":
            return self.notify == "all"
        max_age = self.config.alerts.max_notify_age or 2 * model.window.nominal + model.labels.max_delay
        return window_end >= now - max_age

    def _latency_in_sql(self, model: ModelConfig, claim: RunClaim) -> dict[str, float | None]:
        """Exact latency quantiles of a large window (the other latency figures are sampled)."""
        from monitor.engines.pushdown import Span, latency_quantiles

        return latency_quantiles(self.store, model, Span(claim.window_start, claim.window_end))

    def _pushed_down(
        self, model: ModelConfig, claim: RunClaim, outcome: SuiteOutcome, rows: int
    ) -> SuiteOutcome:
        """Replace the sampled drift result with exact counts aggregated in SQL (a large window)."""
        from monitor.engines.pushdown import Span, sql_drift

        log.info(
            'Window of model "%s" has %d rows: drift aggregated in SQL, other checks sampled',
            model.name,
            rows,
        )
        if model.reference.kind == "file" or not model.drift.enabled:
            return outcome
        ref_start, ref_end = reference_span(model, claim.window_start, self.tz)
        drift = sql_drift(
            self.store,
            model,
            Span(ref_start, ref_end),
            Span(claim.window_start, claim.window_end),
            now=self.clock(),
        )
        checks = [drift if c.check == "drift" else c for c in outcome.checks]
        return replace(outcome, checks=checks)

    # -- artifacts and reports --------------------------------------------------------------

    def _artifact_dir(self, model: ModelConfig) -> Path:
        path = Path(self.config.reports.dir) / model.name / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _with_artifacts(
        self, model: ModelConfig, run: ModelRun, recs: tuple[Recommendation, ...], outcome: SuiteOutcome
    ) -> tuple[Recommendation, ...]:
        stamp = run.window_end.strftime("%Y%m%dT%H%M%SZ")
        out = []
        for rec in recs:
            artifact = None
            proposal = outcome.recalibration
            if rec.action == "recalibrate" and proposal is not None and proposal.recalibrator is not None:
                recalibrator = proposal.recalibrator.with_provenance(
                    model=model.name,
                    model_version=run.model_version,
                    window_start=run.window_start.isoformat(),
                    window_end=run.window_end.isoformat(),
                )
                payload = recalibrator.to_json()
                artifact = self._artifact_dir(model) / f"recalibrator-{stamp}.json"
                artifact.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
            elif rec.action == "correct_priors" and (prior := run.check("class_prior")) is not None:
                payload = {
                    **prior.details["artifact"],
                    "fitted_on": {
                        "model": model.name,
                        "model_version": run.model_version,
                        "window_start": run.window_start.isoformat(),
                        "window_end": run.window_end.isoformat(),
                    },
                    "metrics": prior.details.get("correction", {}),
                }
                artifact = self._artifact_dir(model) / f"prior-correction-{stamp}.json"
                artifact.write_text(json.dumps(payload, indent=2, sort_keys=True), encoding="utf-8")
            elif rec.action == "retune_threshold":
                threshold = run.check("threshold")
                if threshold is not None and threshold.details:
                    payload = {
                        "format": "driftwatch.threshold",
                        "version": 1,
                        "model": model.name,
                        "current": threshold.details.get("current"),
                        "proposed": threshold.details.get("proposed"),
                        "objective": threshold.details.get("objective"),
                        "gain": threshold.details.get("gain"),
                        "gain_ci": threshold.details.get("gain_ci"),
                        "window": {"start": run.window_start.isoformat(), "end": run.window_end.isoformat()},
                    }
                    artifact = self._artifact_dir(model) / f"threshold-{stamp}.json"
                    artifact.write_text(
                        json.dumps(payload, indent=2, sort_keys=True, default=str), encoding="utf-8"
                    )
            rel = str(artifact.relative_to(self.config.reports.dir)) if artifact else None
            out.append(Recommendation(rec.action, rec.reasons, rec.evidence, rel) if rel else rec)
        return tuple(out)

    def _url(self, relpath: str) -> str:
        return f"{self.config.reports.base_url.rstrip('/')}/{relpath}"

    def _write_report(self, model: ModelConfig, run: ModelRun, evidently: Path | None = None) -> Path:
        reports_dir = Path(self.config.reports.dir)
        history = [
            r for r in load_runs(self.store.engine, model.name, limit=30) if r.window_end < run.window_end
        ]
        path = write_run_report(run, reports_dir, history=history, evidently_html=evidently)
        if self._stale_pages is None:
            self.refresh_index(extra=run, models=[model.name])
        else:
            self._stale_pages.add(model.name)
        return path

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Rewrite the report index and the pages of the models checked inside once at the end,
        instead of after each run.

        Batches nest (the outermost one rewrites). A failure to rewrite is logged, not raised:
        the run reports stand on their own, and ``driftwatch report`` or the next run that
        writes a report rebuilds the index.
        """
        outermost = self._stale_pages is None
        if outermost:
            self._stale_pages = set()
        try:
            yield
        finally:
            if outermost:
                stale, self._stale_pages = self._stale_pages, None
                if stale:
                    try:
                        self.refresh_index(models=stale)
                    except Exception:
                        log.exception("The report index was not rewritten; `driftwatch report` rebuilds it")

    def refresh_index(self, extra: ModelRun | None = None, models: Collection[str] | None = None) -> Path:
        """Rewrite the index and the pages of ``models`` (default: every model) from the stored runs.

        The other models' runs may come from the process's :data:`~monitor.store.run_history.HISTORY`.
        """
        names = [m.name for m in self.config.models]
        pages = names if models is None else models
        runs_by_model = HISTORY.runs(self.store.engine, names, changed=pages)
        if extra is not None and extra.model in runs_by_model:
            runs = [r for r in runs_by_model[extra.model] if r.window_end != extra.window_end] + [extra]
            runs_by_model[extra.model] = sorted(runs, key=lambda r: r.window_end)
        return write_index(Path(self.config.reports.dir), runs_by_model, pages=pages)

    # -- a cycle ----------------------------------------------------------------------------

    def cycle(self, model: ModelConfig) -> list[ModelRun]:
        """Catch up every missed window (oldest first), then re-evaluate windows with new labels."""
        return self.work(model, self.due_windows(model), self.windows_with_new_labels(model)).runs

    def work(self, model: ModelConfig, ends: list[datetime], run_ids: list[int]) -> Work:
        """Check the windows ending at ``ends``, then re-evaluate the runs ``run_ids``."""
        steps = [partial(self.check_window, model, end, next_end=after) for end, after in with_next(ends)]
        steps += [partial(self.reevaluate, model, run_id) for run_id in run_ids]
        done = Work()
        with self.batch():
            for step in steps:
                started = self.clock()
                run = step()
                if run is not None:
                    done.runs.append(run)
                    if run.run_id is not None:
                        done.seconds[run.run_id] = (self.clock() - started).total_seconds()
        return done

    def latest_end(self, model: ModelConfig, at: datetime | None = None) -> datetime:
        return latest_window_end(at or self.clock(), model.window, self.tz)


def with_next(ends: list[datetime]) -> list[tuple[datetime, datetime | None]]:
    """Each window end with the one after it (``None`` for the last)."""
    return [(end, ends[i + 1] if i + 1 < len(ends) else None) for i, end in enumerate(ends)]


def _label_part(run: ModelRun) -> ModelRun:
    """The part of a re-evaluated run that late labels can change (label-based checks)."""
    keep = tuple(c for c in run.checks if c.check in LABEL_CHECKS)
    return ModelRun(**{**run.__dict__, "checks": keep})
