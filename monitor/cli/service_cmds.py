"""``driftwatch run | serve``.

``run`` is the service: it blocks SIGTERM, SIGINT and SIGHUP in every thread and waits for
them with :func:`signal.sigwait` in the main thread (no handler runs inside a job or a lock),
so the signals act at one well-defined place:

- SIGTERM / SIGINT: stop taking jobs, let running ones finish within ``daemon.shutdown_grace``,
  flush the alert outbox, exit 0. Past the grace the process exits anyway (still 0: it was
  asked to stop); the unfinished run's transaction rolls back and its claim is retaken after
  the lease.
- SIGHUP: reload and validate the config; an invalid one is logged and the old one keeps running.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from monitor.config import load_config

log = logging.getLogger("driftwatch.daemon")

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
HANDLED_SIGNALS = STOP_SIGNALS | {signal.SIGHUP}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run as a service: ingest, check and alert on schedule; serve health, metrics and reports",
        description="Start the daemon: scheduled ingestion, checks (catching up missed windows), alert "
        "delivery and retention; /healthz, /readyz, /metrics, POST /v1/log and the reports on [server] "
        "host and port. SIGTERM/SIGINT stop it gracefully, SIGHUP reloads the config.",
    )
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser(
        "serve",
        help="serve the HTML reports read-only (no scheduling)",
        description="Serve the reports directory read-only; the daemon serves the same pages itself.",
    )
    p.add_argument("--host", default=None, help="address to bind (default: [server] host, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default: [server] port, 8787)")
    p.add_argument("--dir", type=Path, default=None, help="reports directory (default: [reports] dir)")
    p.set_defaults(handler=cmd_serve)


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.service.daemon import Daemon

    config = load_config(args.config)
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    daemon = Daemon(config, config_path=args.config, manage_logging=True)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    try:
        daemon.start()
    except OSError as exc:
        log.error("Cannot serve on %s:%s: %s", config.server.host, config.server.port, exc.strerror or exc)
        daemon.shutdown()
        return 1
    log.info("Ready for signals (pid %d): SIGTERM/SIGINT stop, SIGHUP reloads", os.getpid())
    while True:
        signum = signal.sigwait(HANDLED_SIGNALS)
        if signum == signal.SIGHUP:
            log.info("SIGHUP: reloading %s", args.config)
            daemon.reload()
            continue
        log.info("%s: shutting down", signal.Signals(signum).name)
        break
    clean = daemon.shutdown()
    if not clean:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # worker threads are still in their job; do not wait for them
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from monitor.reports.server import make_report_server

    config = load_config(args.config) if args.dir is None or Path(args.config).exists() else None
    reports_dir = args.dir or config.reports.dir  # type: ignore[union-attr]
    host = args.host or (config.server.host if config else "127.0.0.1")
    port = args.port if args.port is not None else (config.server.port if config else 8787)
    if not Path(reports_dir).is_dir():
        print(f"error: no reports directory {reports_dir} (run `driftwatch check` first)", file=sys.stderr)
        return 2
    try:
        bounds = (
            {
                "request_timeout": config.server.request_timeout.total_seconds(),
                "max_connections": config.server.max_connections,
            }
            if config
            else {}
        )
        server = make_report_server(Path(reports_dir), host, port, **bounds)  # type: ignore[arg-type]
    except OSError as exc:
        print(f"error: cannot serve on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    bound_host, bound_port = server.server_address[:2]
    print(f"Serving {reports_dir} on http://{bound_host}:{bound_port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
