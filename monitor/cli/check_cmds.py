"""``driftwatch check | backfill | report``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from checks.result import JSON_SCHEMA_VERSION, STATUS_ORDER, ModelRun
from monitor import stack
from monitor.config import Config, ModelConfig, load_config
from monitor.store import open_store
from monitor.windows import window_ends

# The runner pulls in pandas, scipy and the checks: imported inside the commands that run
# checks (monitor.stack), so `driftwatch validate` and `--help` stay fast.


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check the latest complete window of each model now",
        description="Run every check for the window ending at --at (default: the latest complete window), "
        "record the run, queue its alerts and write its report.",
    )
    p.add_argument("--model", help="only this model")
    p.add_argument("--at", type=_moment, help="check the window that is complete at this time (ISO 8601)")
    p.add_argument("--json", action="store_true", help="print the results as a JSON document")
    p.add_argument(
        "--fail-on",
        choices=["never", "warn", "alert"],
        default="never",
        help="exit 1 when any model's status is at least this (for CI pipelines)",
    )
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser(
        "backfill",
        help="check every window between two times",
        description="Check every complete window with FROM < end <= TO, oldest first. Windows already "
        "checked are skipped unless --force.",
    )
    p.add_argument("--from", dest="start", type=_moment, required=True, help="ISO 8601 time")
    p.add_argument("--to", dest="end", type=_moment, default=None, help="ISO 8601 time (default: now)")
    p.add_argument("--model", help="only this model")
    p.add_argument("--force", action="store_true", help="re-check windows that were checked already")
    p.add_argument(
        "--notify",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="queue alert notifications for the windows checked (default: --no-notify; alert state "
        "and reports are updated either way, and windows past alerts.max_notify_age never page)",
    )
    p.set_defaults(handler=cmd_backfill)

    p = sub.add_parser("report", help="rewrite the report index from the stored runs and print its path")
    p.set_defaults(handler=cmd_report)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _models(config: Config, name: str | None) -> list[ModelConfig]:
    return [config.model(name)] if name else list(config.models)


def summarize(run: ModelRun) -> str:
    """A few lines a person reads in the terminal."""
    span = f"{run.window_start:%Y-%m-%d %H:%M} .. {run.window_end:%Y-%m-%d %H:%M} UTC"
    lines = [f"{run.model}  {span}  {run.status.upper()}"]
    if run.reference.get("overlaps_window"):
        lines.append(
            f"  note: {run.reference['overlap_share']:.0%} of the window lies inside the reference period"
        )
    for check in run.checks:
        if check.status == "skipped":
            lines.append(f"  {check.check:<22} skipped: {check.reason}")
            continue
        lines.append(f"  {check.check:<22} {check.status}")
        for finding in check.findings[:5]:
            lines.append(f"      - [{finding.severity}] {finding.message or finding.subject}")
        if len(check.findings) > 5:
            lines.append(f"      ... and {len(check.findings) - 5} more")
    for rec in run.recommendations:
        lines.append(f"  RECOMMENDATION: {rec.action.replace('_', ' ')}")
        lines.extend(f"      - {reason}" for reason in rec.reasons)
        if rec.artifact:
            lines.append(f"      artifact: {rec.artifact}")
    if run.no_action_reason:
        lines.append(f"  {run.no_action_reason}")
    if run.report_url:
        lines.append(f"  report: {run.report_url}")
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    with stack.loading():
        from monitor.pipeline.runner import Runner

    config = load_config(args.config)
    store = open_store(config)
    runner = Runner(store, config, notify="all")
    results: list[ModelRun] = []
    failed: list[str] = []
    try:
        for model in _models(config, args.model):
            end = runner.latest_end(model, args.at)
            try:
                run = runner.check_window(model, end, force=True)
            except Exception as exc:
                failed.append(f"{model.name}: {type(exc).__name__}: {exc}")
                continue
            if run is None:
                failed.append(
                    f"{model.name}: the window ending {end:%Y-%m-%d %H:%M} is being checked elsewhere"
                )
                continue
            results.append(run)
    finally:
        store.dispose()
    if args.json:
        document = {
            "schema_version": JSON_SCHEMA_VERSION,
            "generated_at": datetime.now(UTC).isoformat(),
            "models": [r.to_dict() for r in results],
            "errors": failed,
        }
        print(json.dumps(document, indent=2, allow_nan=False))
    else:
        for run in results:
            print(summarize(run))
    for message in failed:
        print(f"error: {message}", file=sys.stderr)
    if failed:
        return 1
    if args.fail_on != "never" and any(STATUS_ORDER[r.status] >= STATUS_ORDER[args.fail_on] for r in results):
        return 1
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    with stack.loading():
        from monitor.pipeline.runner import Runner, with_next

    config = load_config(args.config)
    store = open_store(config)
    runner = Runner(store, config, notify="recent" if args.notify else "none")
    until = args.end or datetime.now(UTC)
    failures = 0
    try:
        with runner.batch():
            for model in _models(config, args.model):
                ends = window_ends(args.start, until, model.window, config.daemon.timezone)
                print(f"{model.name}: {len(ends)} window(s), each named by its end", file=sys.stderr)
                for i, (end, after) in enumerate(with_next(ends), 1):
                    try:
                        run = runner.check_window(model, end, force=args.force, next_end=after)
                    except Exception as exc:
                        failures += 1
                        print(f"  [{i}/{len(ends)}] {end:%Y-%m-%d %H:%M}: failed: {exc}", file=sys.stderr)
                        continue
                    state = run.status if run else "already checked"
                    print(f"  [{i}/{len(ends)}] {end:%Y-%m-%d %H:%M}: {state}", file=sys.stderr, flush=True)
    finally:
        store.dispose()
    return 1 if failures else 0


def cmd_report(args: argparse.Namespace) -> int:
    with stack.loading():
        from monitor.pipeline.runner import Runner

    config = load_config(args.config)
    store = open_store(config)
    try:
        index = Runner(store, config).refresh_index()
    finally:
        store.dispose()
    print(f"report index: {index}")
    print(f"view it with: driftwatch --config {args.config} serve   (then open {config.reports.base_url}/)")
    return 0
