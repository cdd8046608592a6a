"""What a receiver is and reports after one delivery attempt (built by :mod:`alerts.receivers`).

Outcomes: ``delivered``; ``retry`` (transient: rate limit, server error, timeout, network; the
dispatcher backs off, honouring ``retry_after``); ``broken`` (the receiver cannot work as
configured: bad credentials, unknown channel, missing environment variable; the receiver is
marked unhealthy and not retried until its configuration changes or an operator asks);
``rejected`` (this message was refused, e.g. invalid blocks; the receiver stays healthy).
``detail`` never holds a secret: receivers scrub their token or URL out of every error text.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

from alerts.notification import Notification

Outcome = Literal["delivered", "retry", "broken", "rejected"]


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


class Receiver(Protocol):
    name: str

    def deliver(self, notification: Notification) -> DeliveryResult: ...

    def identity(self) -> str:
        """A hash of the receiver's settings and secret: a change re-enables a broken receiver."""
        ...


#: Longest Retry-After honoured (a receiver asking for more is retried after this).
MAX_RETRY_AFTER = 86_400.0


def parse_retry_after(value: object, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date (RFC 9110).

    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    >>> parse_retry_after("120", now), parse_retry_after("Sun, 01 Nov 2026 12:02:30 GMT", now)
    (120.0, 150.0)
    >>> parse_retry_after("soon", now) is None, parse_retry_after("1e400", now)
    (True, 86400.0)
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() - now.timestamp()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def retry_after(headers: Mapping[str, Any] | Message | None, now: datetime) -> float | None:
    """Seconds to wait from the ``Retry-After`` among ``headers`` (any case; of a list, the first).

    >>> now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    >>> retry_after({"retry-after": ["30"]}, now), retry_after({"Date": "x"}, now)
    (30.0, None)
    """
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            return parse_retry_after(value[0] if isinstance(value, list | tuple) else value, now)
    return None


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret value replaced by ``[redacted]``.

    >>> scrub("POST https://hooks.example/T0/XYZ failed", ["https://hooks.example/T0/XYZ"])
    'POST [redacted] failed'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def identity_hash(settings: Mapping[str, object], secret: str | None) -> str:
    """A short hash of a receiver's settings and secret (the secret cannot be recovered from it)."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(b"\0" + (secret or "").encode())
    return digest.hexdigest()[:16]
