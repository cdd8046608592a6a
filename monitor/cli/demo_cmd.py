"""``driftwatch demo``: a fraud model in production going wrong, watched end to end."""

from __future__ import annotations

import argparse
import sys

from monitor import stack
from monitor.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="replay six weeks of a fraud model in production, with five faults, and watch them",
        description=(
            "Train a fraud model, replay weeks of its traffic (daily log files, late chargebacks) into "
            "a fresh SQLite store with an accelerated clock, and let the daemon's jobs check, alert "
            "and report. Use with demo/config.toml; it deletes the store, logs and reports it names."
        ),
    )
    p.add_argument("--model", help="the model to replay (default: the first configured)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a shorter, lighter scenario (about a minute; as the end-to-end test)",
    )
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    with stack.loading():  # scikit-learn and pandas: only for the demo
        from monitor.demo.run import DemoConfigError, run_demo

    config = load_config(args.config)
    model = config.model(args.model) if args.model else config.models[0]
    try:
        outcome = run_demo(config, model, small=args.quick)
    except DemoConfigError as exc:
        print(f"error: {args.config}: {exc}", file=sys.stderr)
        return 2
    print(
        f"View the reports:  driftwatch --config {args.config} serve   then open {config.reports.base_url}/"
    )
    missed = [d for d in outcome.detections if not d.in_time(model.window.nominal)]
    return 1 if outcome.replay.failures or missed or outcome.clean_alerts else 0
