"""The ``driftwatch`` command line.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
Each command group lives in its own module and contributes ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from monitor.config import ConfigError, UnknownModelError
from monitor.store import StoreVersionError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("driftwatch.cli")


def build_parser() -> argparse.ArgumentParser:
    from monitor.cli import alerts_cmd, check_cmds, core_cmds, demo_cmd, service_cmds

    parser = argparse.ArgumentParser(
        prog="driftwatch",
        description="Monitor ML models in production: drift, data quality, calibration, performance.",
    )
    parser.add_argument(
        "--config",
        default=os.environ.get("DRIFTWATCH_CONFIG", "config.toml"),
        help="path of config.toml (default: $DRIFTWATCH_CONFIG or ./config.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (core_cmds, check_cmds, alerts_cmd, service_cmds, demo_cmd):
        module.register(sub)
    return parser


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _locked(config_path: str) -> str:
    from monitor.config import load_config
    from monitor.store.engine import locked_message

    store = load_config(config_path).store
    return locked_message(store.resolved_url(), store.busy_timeout.total_seconds())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"config error:\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnknownModelError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    except (StoreVersionError, OperationalError) as exc:
        message = _first_line(exc)
        if "database is locked" in message:
            message = _locked(args.config)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
