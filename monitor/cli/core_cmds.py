"""``driftwatch init | validate | ingest``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from monitor.config import Config, ModelConfig, load_config
from monitor.store import open_store
from monitor.store.retention import describe_retention


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init", help="write a starter config.toml", description="Write a commented starter config."
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("validate", help="check config.toml without running anything")
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser(
        "ingest",
        help="ingest files or the configured sources once",
        description=(
            "Ingest the given files (CSV, Parquet, JSON Lines) or, without files, "
            "every configured source once. "
            "Bad rows are quarantined with their reason; files already ingested are skipped."
        ),
    )
    p.add_argument("files", nargs="*", help="files or globs to ingest (default: the configured sources)")
    p.add_argument("--model", help="model to ingest for (required with files when several are configured)")
    p.add_argument(
        "--kind",
        choices=["predictions", "outcomes"],
        help="what the files hold (default predictions); with sources: only the sources of this kind",
    )
    p.add_argument("--format", choices=["auto", "csv", "parquet", "jsonl"], default="auto")
    p.add_argument("--chunk-rows", type=int, default=100_000, help="rows read and written per chunk")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--progress-every",
        type=int,
        default=1_000_000,
        help="when stderr is not a terminal, a progress line every N rows of a file (default 1000000)",
    )
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser(
        "retention",
        help="delete old events now, keeping what the checks need",
        description="Apply retention once; with --dry-run list what it would delete and keep.",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    p.set_defaults(handler=cmd_retention)

    register_quarantine(sub)


def cmd_init(args: argparse.Namespace) -> int:
    target = Path(args.config)
    if target.exists() and not args.force:
        print(f"{target} exists; use --force to overwrite", file=sys.stderr)
        return 2
    template = resources.files("monitor").joinpath("templates/config.toml").read_text(encoding="utf-8")
    target.write_text(template, encoding="utf-8")
    print(f"wrote {target}; edit the [[models]] section, then run: driftwatch validate")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    names = ", ".join(m.name for m in config.models) or "no models"
    print(f"{args.config}: OK ({len(config.models)} model(s): {names})")
    for line in describe_retention(config, datetime.now(UTC)):
        print(line)
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from monitor.store.retention import apply_retention, plan_retention

    config = load_config(args.config)
    store = open_store(config)
    now = datetime.now(UTC)
    try:
        if args.dry_run:
            for plan in plan_retention(store, config, now, count=True):
                print("\n".join(plan.lines()))
            return 0
        removed = apply_retention(store, config, now)
    finally:
        store.dispose()
    print(
        f"removed {removed['events']:,} event(s), {removed['outcomes']:,} outcome(s), "
        f"{removed['quarantine']:,} quarantined row(s)"
    )
    return 0


def _models(config: Config, name: str | None) -> list[ModelConfig]:
    return [config.model(name)] if name else list(config.models)


class _Progress:
    """Progress of a long ingest: per chunk on a terminal, else a log line every ``every`` rows."""

    def __init__(self, every: int, terminal: bool) -> None:
        self.every, self.terminal = every, terminal
        self._next: dict[str, int] = {}

    def __call__(self, path: str, rows: int) -> None:
        if self.terminal:
            print(f"  {Path(path).name}: {rows:,} rows", file=sys.stderr, flush=True)
            return
        mark = self._next.setdefault(path, self.every)
        if rows >= mark:
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{stamp} ingest {path}: {rows:,} rows read", file=sys.stderr, flush=True)
            self._next[path] = (rows // self.every + 1) * self.every


def cmd_ingest(args: argparse.Namespace) -> int:
    from monitor.ingest import InPlaceModelError, expand, ingest_paths
    from monitor.ingest.sources import ingest_sources

    config = load_config(args.config)
    if args.files and not args.model and len(config.models) != 1:
        print("error: --model is required with files when several models are configured", file=sys.stderr)
        return 2
    store = open_store(config)
    now = datetime.now(UTC)
    progress = None if args.quiet else _Progress(args.progress_every, sys.stderr.isatty())
    try:
        if args.files:
            model = config.model(args.model) if args.model else config.models[0]
            paths = [p for pattern in args.files for p in (expand(pattern) or [pattern])]
            missing = [p for p in paths if not Path(p).is_file()]
            if missing:
                print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
                return 2
            try:
                counts = ingest_paths(
                    store,
                    model,
                    args.kind or "predictions",
                    paths,
                    now=now,
                    fmt=args.format,
                    chunk_rows=args.chunk_rows,
                    progress=progress,
                )
            except InPlaceModelError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            results = {model.name: counts}
        else:
            results = {
                m.name: ingest_sources(store, m, now=now, progress=progress, kind=args.kind)
                for m in _models(config, args.model)
            }
    finally:
        store.dispose()
    for name, counts in results.items():
        print(f"{name}: {counts.summary()}")
        for warning in counts.warnings:
            print(f"  warning: {warning}", file=sys.stderr)
        if counts.quarantined:
            print(f"  quarantined rows and their reasons: driftwatch quarantine --model {name}")
    return 0


def register_quarantine(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quarantine", help="list quarantined rows and their reasons")
    p.add_argument("--model", help="only this model")
    p.add_argument("--limit", type=int, default=20, help="most recent N rows (default 20)")
    p.set_defaults(handler=cmd_quarantine)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from monitor.store.schema import quarantine

    config = load_config(args.config)
    store = open_store(config)
    try:
        where = (
            quarantine.c.model == config.model(args.model).name if args.model else quarantine.c.id.isnot(None)
        )
        with store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(quarantine).where(where)).scalar_one()
            rows = conn.execute(
                select(quarantine).where(where).order_by(quarantine.c.id.desc()).limit(args.limit)
            ).fetchall()
    finally:
        store.dispose()
    print(f"{total:,} quarantined row(s); most recent {len(rows)}:")
    for row in rows:
        print(f"  [{row.model}/{row.kind}] {row.source} {row.location}: {row.reason}")
    return 0
