"""The daemon's HTTP endpoints on ``[server]`` host and port (stdlib ``http.server``).

``GET /healthz``
    200 while scheduled jobs keep finishing, 503 when none has for ``daemon.liveness_timeout``
    (liveness: a daemon frozen on a store or receiver that never answers gets restarted).
``GET /readyz``
    200 when the store answers, every alert receiver is healthy and no model is overdue;
    else 503 with the reasons (JSON ``{"ready": false, "reasons": [...]}``). Either way
    ``no_traffic`` lists models whose newest window had no predictions where some were expected.
``GET /metrics``
    Prometheus text format from the daemon's own registry.
``POST /v1/log``
    Push predictions or outcomes: ``{"model": "...", "kind": "predictions"|"outcomes",
    "rows": [{...}, ...]}``, validated exactly like files (bad rows are quarantined with
    their reason); answers with the counts. Enabled only when ``server.ingest_token_env``
    names a set environment variable; needs ``Authorization: Bearer <token>``. Bodies over
    ``server.max_body_bytes`` get 413, clients over :data:`RATE_PER_SECOND` requests per
    second (bursts of :data:`BURST`) get 429 with ``Retry-After``.
everything else
    The report pages, read-only, exactly as ``driftwatch serve`` shows them
    (:func:`monitor.reports.server.handle_report_request`): ``/`` is the index,
    ``/<model>/<file>.html`` a run — the links in alerts (``[reports] base_url``).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from monitor.config import UnknownModelError
from monitor.reports.server import SECURITY_HEADERS, BoundedHTTPServer, handle_report_request
from monitor.service.metrics import CONTENT_TYPE_LATEST
from monitor.store.errors import StoreUnavailable, describe_error, is_store_error

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.service.metrics import DaemonMetrics
    from monitor.store import Store


class ServedDaemon(Protocol):
    """What the endpoints need of the daemon (:class:`monitor.service.daemon.Daemon` provides it)."""

    config: Config
    metrics: DaemonMetrics
    clock: Callable[[], datetime]

    def store(self) -> Store:
        """The open store; raises :class:`monitor.store.errors.StoreUnavailable` when out of reach."""
        ...

    def liveness(self) -> tuple[bool, str]: ...

    def readiness(self) -> tuple[bool, list[str]]: ...

    def no_traffic(self) -> dict[str, str]: ...


log = logging.getLogger("driftwatch.server")

RATE_PER_SECOND = 5.0
BURST = 20
#: Clients remembered by the rate limiter before idle ones are forgotten.
MAX_CLIENTS = 10_000
KINDS = ("predictions", "outcomes")


class RateLimiter:
    """A token bucket per client: ``rate`` requests per second on average, bursts of ``burst``.

    >>> t = [0.0]
    >>> limiter = RateLimiter(rate=1.0, burst=2, monotonic=lambda: t[0])
    >>> [limiter.allow("a") for _ in range(3)], limiter.allow("b")
    ([0.0, 0.0, 1.0], 0.0)
    >>> t[0] = 1.0; limiter.allow("a")
    0.0
    """

    def __init__(
        self,
        *,
        rate: float = RATE_PER_SECOND,
        burst: int = BURST,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self._now = rate, burst, monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._guard = threading.Lock()

    def allow(self, client: str) -> float:
        """0 when ``client`` may go on, else the seconds until it may retry."""
        now = self._now()
        with self._guard:
            if len(self._buckets) >= MAX_CLIENTS:
                idle = self.burst / self.rate
                self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < idle}
            tokens, seen = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - seen) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate


class BadRequest(ValueError):
    """The request body cannot be used; the message says why."""


def parse_log_body(body: bytes) -> tuple[str, str, list[dict[str, Any]]]:
    """``(model, kind, rows)`` from a ``POST /v1/log`` body.

    >>> parse_log_body(b'{"model": "fraud", "kind": "outcomes", "rows": [{"id": "1", "label": 1}]}')
    ('fraud', 'outcomes', [{'id': '1', 'label': 1}])
    >>> parse_log_body(b'{"model": "fraud", "rows": [1]}')
    Traceback (most recent call last):
    ...
    monitor.service.server.BadRequest: "kind" must be one of "predictions", "outcomes"
    """
    try:
        data = json.loads(body)
    except RecursionError:
        raise BadRequest("body is nested too deeply to be a log batch (rows are flat objects)") from None
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise BadRequest('body must be a JSON object {"model": ..., "kind": ..., "rows": [...]}')
    unknown = sorted(set(data) - {"model", "kind", "rows"})
    if unknown:
        raise BadRequest(f"unknown key(s) {', '.join(map(json.dumps, unknown))} (expected model, kind, rows)")
    model, kind, rows = data.get("model"), data.get("kind"), data.get("rows")
    if not isinstance(model, str) or not model:
        raise BadRequest('"model" must be the name of a configured model')
    if kind not in KINDS:
        raise BadRequest('"kind" must be one of "predictions", "outcomes"')
    if not isinstance(rows, list) or not rows:
        raise BadRequest('"rows" must be a non-empty list of objects')
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadRequest(f'"rows"[{i}] is not an object')
    return model, kind, rows


class DaemonServer(BoundedHTTPServer):
    """The daemon's HTTP server; handlers reach the daemon through ``self.server.daemon``."""

    def __init__(
        self, daemon: ServedDaemon, address: tuple[str, int], *, limiter: RateLimiter | None = None
    ) -> None:
        self.daemon = daemon
        self.limiter = limiter or RateLimiter()
        cfg = daemon.config.server
        super().__init__(
            address,
            DaemonRequestHandler,
            request_timeout=cfg.request_timeout.total_seconds(),
            max_connections=cfg.max_connections,
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class DaemonRequestHandler(BaseHTTPRequestHandler):
    server: DaemonServer
    server_version = "driftwatch"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # -- plumbing -------------------------------------------------------------------------

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(
        self, status: HTTPStatus, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = (json.dumps(payload, default=str) + "\n").encode()
        self._send(status, body, "application/json", headers)

    def _error(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": message}, headers)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    @property
    def _route(self) -> str:
        return self.path.split("?", 1)[0].split("#", 1)[0]

    # -- GET ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        route = self._route
        daemon = self.server.daemon
        if route == "/healthz":
            alive, detail = daemon.liveness()
            if alive:
                self._json(HTTPStatus.OK, {"status": "alive"})
            else:
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"status": "stalled", "reason": detail})
        elif route == "/readyz":
            ready, reasons = daemon.readiness()
            # A model's feed going quiet is reported, not a reason to be unready: the daemon works.
            no_traffic = daemon.no_traffic()
            quiet = {"no_traffic": no_traffic} if no_traffic else {}
            if ready:
                self._json(HTTPStatus.OK, {"ready": True, **quiet})
            else:
                self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"ready": False, "reasons": reasons, **quiet})
        elif route == "/metrics":
            daemon.readiness()
            self._send(HTTPStatus.OK, daemon.metrics.render(), CONTENT_TYPE_LATEST)
        elif not handle_report_request(self, self.path, Path(daemon.config.reports.dir), prefix="/"):
            self._error(HTTPStatus.NOT_FOUND, "not found")

    do_HEAD = do_GET

    # -- POST /v1/log ---------------------------------------------------------------------

    def do_POST(self) -> None:
        if self._route != "/v1/log":
            self.close_connection = True  # the body is not read
            if self._route in ("/healthz", "/readyz", "/metrics"):
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use GET", {"Allow": "GET, HEAD"})
            else:
                handle_report_request(
                    self, self.path, Path(self.server.daemon.config.reports.dir), prefix="/"
                )
            return
        try:
            self._log_request()
        except Exception:
            log.exception("POST /v1/log failed")
            self.close_connection = True
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the daemon's log")

    def _log_request(self) -> None:
        daemon = self.server.daemon
        server_config = daemon.config.server
        token = (
            os.environ.get(server_config.ingest_token_env or "") if server_config.ingest_token_env else None
        )
        if not token:
            self.close_connection = True
            self._error(HTTPStatus.NOT_FOUND, "ingestion over HTTP is disabled (set server.ingest_token_env)")
            return
        # The token first: unauthenticated clients (behind the same proxy, say) draw from a
        # bucket of their own and never use up the real client's requests.
        given = self.headers.get("Authorization", "")
        scheme, _, credentials = given.partition(" ")
        authorized = scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), token.encode()
        )
        client = self.client_address[0]
        wait = self.server.limiter.allow(client if authorized else f"unauthenticated {client}")
        if wait:
            self.close_connection = True
            self._error(
                HTTPStatus.TOO_MANY_REQUESTS, "too many requests", {"Retry-After": str(math.ceil(wait))}
            )
            return
        if not authorized:
            self.close_connection = True
            self._error(
                HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}
            )
            return
        body = self._read_body(server_config.max_body_bytes)
        if body is None:
            return
        from monitor.ingest.batch import InPlaceModelError, refuse_in_place

        try:
            model_name, kind, rows = parse_log_body(body)
            model = daemon.config.model(model_name)
            refuse_in_place(model)
        except (BadRequest, InPlaceModelError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except UnknownModelError as exc:
            self._error(HTTPStatus.BAD_REQUEST, exc.args[0])
            return
        self._ingest(model, kind, rows)

    def _read_body(self, limit: int) -> bytes | None:
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked" or length_text is None:
            self.close_connection = True
            self._error(
                HTTPStatus.LENGTH_REQUIRED, "send a Content-Length header (chunked bodies are not accepted)"
            )
            return None
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._error(HTTPStatus.BAD_REQUEST, "Content-Length is not a non-negative integer")
            return None
        if length > limit:
            self.close_connection = True
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes is over the limit of {limit}"
            )
            return None
        return self.rfile.read(length)

    def _ingest(self, model: Any, kind: str, rows: list[dict[str, Any]]) -> None:
        from monitor.ingest import ingest_frame
        from monitor.ingest.lines import declared_columns, records_frame

        daemon = self.server.daemon
        source = f"http:{self.client_address[0]}"
        try:
            store = daemon.store()
            frame = records_frame(rows, declared_columns(model))  # undeclared keys never become columns
            counts = ingest_frame(store, model, kind, frame, source=source, now=daemon.clock())
        except Exception as exc:
            if not is_store_error(exc):
                raise
            reason = (
                str(exc) if isinstance(exc, StoreUnavailable) else f"store unreachable: {describe_error(exc)}"
            )
            retry = str(int(daemon.config.daemon.store_retry_interval.total_seconds()))
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, reason, {"Retry-After": retry})
            return
        daemon.metrics.observe_ingest(
            model.name, stored=counts.stored, duplicates=counts.duplicates, quarantined=counts.quarantined
        )
        self._json(
            HTTPStatus.OK,
            {
                "model": model.name,
                "kind": kind,
                "rows": counts.rows,
                "stored": counts.stored,
                "duplicates": counts.duplicates,
                "quarantined": counts.quarantined,
                "warnings": counts.warnings,
            },
        )


def start_server(daemon: ServedDaemon, *, limiter: RateLimiter | None = None) -> DaemonServer:
    """Bind ``[server]`` host and port and serve in a background thread.

    :raises OSError: the address is in use or not available.
    """
    cfg = daemon.config.server
    server = DaemonServer(daemon, (cfg.host, cfg.port), limiter=limiter)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="driftwatch-http", daemon=True
    )
    thread.start()
    log.info("Serving /healthz, /readyz, /metrics and the reports on %s/", server.url)
    return server
