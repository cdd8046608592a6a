"""A read-only viewer of the reports directory over HTTP (stdlib ``http.server``).

It serves files under one directory and nothing else: only ``GET``/``HEAD``; no directory
listings (a directory serves its ``index.html``); no hidden files; a short allow-list of file
types; path traversal (``..``, encoded ``%2e%2e``, backslashes, NUL) and symlinks that lead
outside the directory are refused. Every response carries a restrictive
Content-Security-Policy and anti-sniffing/framing/referrer headers.

The daemon mounts the same pages under its own server by calling
:func:`handle_report_request` from its handler::

    def do_GET(self):
        if handle_report_request(self, self.path, reports_dir, prefix="/reports/"):
            return
        ...  # /healthz, /metrics

>>> server = make_report_server(Path("."), port=0)
>>> server.server_address[0]
'127.0.0.1'
>>> server.server_close()
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

log = logging.getLogger("driftwatch.reports.server")

#: Served file types; anything else is 404.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

#: Report pages pin their own script by hash in a <meta> policy as well; this header policy
#: also lets Evidently's self-contained report (inline scripts, embedded font) render.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

_CHUNK = 64 * 1024

#: Defaults of ``[server] request_timeout`` (seconds) and ``max_connections``.
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)


class BoundedHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose every connection is bounded in time and number.

    Each socket read waits at most ``request_timeout`` seconds (a half-open or idle keep-alive
    connection is closed after it), and at most ``max_connections`` connections are served at
    once; one more gets an immediate 503 with ``Retry-After`` instead of a thread.
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.request_timeout = request_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        request.settimeout(self.request_timeout)
        try:
            super().process_request(request, client_address)  # type: ignore[arg-type]
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)  # type: ignore[arg-type]
        finally:
            self._slots.release()


def _send_status(
    handler: BaseHTTPRequestHandler, status: HTTPStatus, *, extra: dict[str, str] | None = None
) -> None:
    body = f"{status.value} {status.phrase}\n".encode()
    handler.send_response(status)
    for name, value in {**SECURITY_HEADERS, **(extra or {})}.items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def _path_only(target: str) -> str:
    """The path of a request target without query or fragment (no netloc parsing: ``//x`` is a path)."""
    return target.split("?", 1)[0].split("#", 1)[0]


def resolve_report_path(reports_dir: Path, url_path: str) -> Path | HTTPStatus:
    """The file a URL path (relative to the reports root) names, or the status to answer with.

    >>> resolve_report_path(Path("/srv/reports"), "/a/%2e%2e/%2e%2e/etc/passwd")
    <HTTPStatus.NOT_FOUND: 404>
    """
    try:
        decoded = unquote(_path_only(url_path), errors="strict")
    except UnicodeDecodeError:
        return HTTPStatus.NOT_FOUND
    if "\x00" in decoded or "\\" in decoded:
        return HTTPStatus.NOT_FOUND
    parts = [p for p in decoded.split("/") if p]
    if any(p in (".", "..") or p.startswith(".") for p in parts):
        return HTTPStatus.NOT_FOUND
    root = Path(reports_dir).resolve()
    candidate = root.joinpath(*parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError, RuntimeError, OSError):
        return HTTPStatus.NOT_FOUND
    if not resolved.is_relative_to(root):
        return HTTPStatus.FORBIDDEN
    if resolved.is_dir():
        index = resolved / "index.html"
        return index if index.is_file() else HTTPStatus.NOT_FOUND
    if resolved.suffix.lower() not in CONTENT_TYPES or not resolved.is_file():
        return HTTPStatus.NOT_FOUND
    return resolved


def handle_report_request(
    handler: BaseHTTPRequestHandler, path: str, reports_dir: Path, *, prefix: str = "/"
) -> bool:
    """Answer ``path`` from ``reports_dir`` if it starts with ``prefix``; return whether it was handled.

    Only ``GET`` and ``HEAD`` are answered with content; other methods get 405.
    """
    url_path = _path_only(path)
    mount = prefix.rstrip("/")
    if url_path != mount and not url_path.startswith(mount + "/"):
        return False
    if handler.command not in ("GET", "HEAD"):
        _send_status(handler, HTTPStatus.METHOD_NOT_ALLOWED, extra={"Allow": "GET, HEAD"})
        return True
    relative = url_path[len(mount) :]
    target = resolve_report_path(reports_dir, relative)
    if isinstance(target, HTTPStatus):
        _send_status(handler, target)
        return True
    is_dir = target.name == "index.html" and not relative.endswith("index.html")
    if is_dir and not url_path.endswith("/"):
        _send_status(
            handler, HTTPStatus.MOVED_PERMANENTLY, extra={"Location": posixpath.basename(url_path) + "/"}
        )
        return True
    _send_file(handler, target)
    return True


def _send_file(handler: BaseHTTPRequestHandler, target: Path) -> None:
    try:
        stream = target.open("rb")
    except OSError:
        _send_status(handler, HTTPStatus.NOT_FOUND)
        return
    with stream:
        size = target.stat().st_size
        handler.send_response(HTTPStatus.OK)
        for name, value in SECURITY_HEADERS.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", CONTENT_TYPES[target.suffix.lower()])
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        while chunk := stream.read(_CHUNK):
            handler.wfile.write(chunk)


class ReportRequestHandler(BaseHTTPRequestHandler):
    """Serves ``self.server.reports_dir`` read-only (the server must be a :class:`ReportServer`)."""

    server: ReportServer
    server_version = "driftwatch-reports"
    sys_version = ""

    def do_GET(self) -> None:
        if not handle_report_request(self, self.path, self.server.reports_dir):
            _send_status(self, HTTPStatus.NOT_FOUND)

    do_HEAD = do_GET

    def _refuse(self) -> None:
        _send_status(self, HTTPStatus.METHOD_NOT_ALLOWED, extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - " + format, self.address_string(), *args)


class ReportServer(BoundedHTTPServer):
    """A bounded threading HTTP server that knows the directory it serves."""

    def __init__(self, reports_dir: Path, address: tuple[str, int], **bounds: float) -> None:
        self.reports_dir = Path(reports_dir)
        super().__init__(address, ReportRequestHandler, **bounds)  # type: ignore[arg-type]


def make_report_server(
    reports_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8787,
    *,
    request_timeout: float = REQUEST_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> ReportServer:
    """A bound (not yet serving) report server; ``port=0`` picks a free port."""
    return ReportServer(
        Path(reports_dir), (host, port), request_timeout=request_timeout, max_connections=max_connections
    )
