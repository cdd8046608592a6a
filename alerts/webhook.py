"""The generic webhook receiver: a signed JSON POST (stdlib HTTP client, no dependency).

The body is :func:`alerts.render.webhook_body`. Headers: ``X-Driftwatch-Timestamp`` (Unix
seconds) and ``X-Driftwatch-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``
keyed with the secret from the environment variable named by ``secret_env``. A consumer
recomputes the HMAC and rejects a timestamp older than a few minutes (replay); see
:func:`verify_signature`.

>>> body = b'{"ok": true}'
>>> sig = sign(b"s3cret", 1700000000, body)
>>> verify_signature(b"s3cret", "1700000000", body, sig, now=1700000060)
True
>>> verify_signature(b"s3cret", "1700000000", body, sig, now=1700009999)
False
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from alerts.config import WebhookReceiver
from alerts.delivery import DeliveryResult, identity_hash, retry_after, scrub
from alerts.notification import Notification
from alerts.render import webhook_body

log = logging.getLogger("driftwatch.alerts.webhook")

SIGNATURE_HEADER = "X-Driftwatch-Signature"
TIMESTAMP_HEADER = "X-Driftwatch-Timestamp"
BROKEN_STATUSES = frozenset({401, 403, 404, 410})
RETRY_STATUSES = frozenset({408, 425, 429})
TIMEOUT_DETAIL = "timed out (the receiver may have it; the retry can duplicate it)"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``b"<timestamp>." + body``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: bytes, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300
) -> bool:
    """Check a request's signature and that its timestamp is within ``tolerance`` seconds of ``now``."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    return abs(now - ts) <= tolerance and hmac.compare_digest(sign(secret, ts, body), signature)


class Deadline:
    """Cuts a request off when its overall deadline passes: urllib's own timeout is per socket read,
    so an answer dripping one byte at a time would otherwise hold a delivery without bound.

    Use :meth:`opener` for the request inside ``with deadline:``; at the deadline the request's
    socket is shut down (the read fails at once) and :attr:`expired` is set.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._guard = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._guard:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _track(self, sock: socket.socket) -> None:
        with self._guard:
            self._sockets.append(sock)
            if self.expired:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _connection(self, cls: type[http.client.HTTPConnection]) -> Callable[..., http.client.HTTPConnection]:
        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = cls(host, **kwargs)
            connect = conn.connect

            def tracked() -> None:
                connect()
                self._track(conn.sock)

            conn.connect = tracked  # type: ignore[method-assign]
            return conn

        return make

    def opener(self) -> urllib.request.OpenerDirector:
        """An opener (proxies from the environment included) whose connections obey the deadline."""
        make = self._connection

        class Http(urllib.request.HTTPHandler):
            def http_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(make(http.client.HTTPConnection), req)

        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req: urllib.request.Request) -> Any:
                return self.do_open(make(http.client.HTTPSConnection), req, context=self._context)

        return urllib.request.build_opener(Http(), Https())


class WebhookSender:
    def __init__(
        self,
        spec: WebhookReceiver,
        environ: Mapping[str, str],
        *,
        clock: Callable[[], datetime] | None = None,
        deadline: float | None = None,
    ) -> None:
        self.name = spec.name
        self._deadline = spec.timeout.total_seconds() if deadline is None else deadline
        self._spec = spec
        self._url = environ.get(spec.url_env) or None
        self._secret = environ.get(spec.secret_env) or None
        self._clock = clock or (lambda: datetime.now(UTC))

    def identity(self) -> str:
        return identity_hash(self._spec.model_dump(mode="json"), f"{self._url}\0{self._secret}")

    def deliver(self, notification: Notification) -> DeliveryResult:
        for env, value in ((self._spec.url_env, self._url), (self._spec.secret_env, self._secret)):
            if not value:
                return DeliveryResult("broken", f"environment variable {env} is not set")
        assert self._url is not None and self._secret is not None
        body = json.dumps(webhook_body(notification), separators=(",", ":")).encode()
        timestamp = int(self._clock().timestamp())
        request = urllib.request.Request(
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "driftwatch-alerts",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self._secret.encode(), timestamp, body),
            },
        )
        seconds = self._deadline
        deadline = Deadline(seconds)
        try:
            with deadline, deadline.opener().open(request, timeout=seconds) as response:
                response.read()
            if deadline.expired:
                return DeliveryResult("retry", TIMEOUT_DETAIL)
            return DeliveryResult("delivered")
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = f"HTTP {status}"
            if status in RETRY_STATUSES or status >= 500:
                return DeliveryResult("retry", detail, retry_after(exc.headers, self._clock()))
            return DeliveryResult("broken" if status in BROKEN_STATUSES else "rejected", detail)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if deadline.expired or isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
                return DeliveryResult("retry", TIMEOUT_DETAIL)
            return DeliveryResult("retry", scrub(f"connection failed: {reason}", [self._url, self._secret]))
