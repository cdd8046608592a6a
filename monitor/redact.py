"""Passwords out of every URL before it reaches a log, an error, a report or ``/metrics``.

A database URL carries its password either as ``user:password@host`` or as a query
parameter (``?password=...``, libpq's ``sslpassword``); :func:`redact_urls` masks both
anywhere in a text, and :class:`RedactingFilter` does it to every log record.

>>> redact_urls("connecting to postgresql://dw:hunter2@db/dw?sslmode=require&password=s3cret")
'connecting to postgresql://dw:***@db/dw?sslmode=require&password=***'
>>> redact_urls("no URL here")
'no URL here'
"""

from __future__ import annotations

import logging
import re

#: Query parameters of a database URL that hold a secret (compared in lower case).
PASSWORD_KEYS = frozenset({"password", "passwd", "pwd", "pass", "sslpassword"})

_USERINFO = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^\s/:@'\"]*:)(?P<secret>[^\s@/'\"]+)(?=@)", re.I)
_QUERY = re.compile(
    r"(?P<head>[?&;\s](?:" + "|".join(sorted(PASSWORD_KEYS)) + r")\s*=\s*)(?P<secret>[^&\s'\"]+)", re.I
)
MASK = "***"


def redact_urls(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    if "=" not in text and "@" not in text:
        return text
    text = _USERINFO.sub(lambda m: m["head"] + MASK, text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)


class RedactingFilter(logging.Filter):
    """Masks URL passwords in a record's message (arguments included) and in its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_urls(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact_urls(formatted), None
        return True
