"""Structured logging for the daemon: text (default) or one JSON object per line.

Every record carries the context it was logged in — the job, the model, the check and the
run id where known — from :func:`log_context` (``contextvars``, so concurrent jobs in the
scheduler's threads keep theirs apart) or from ``extra=`` on the call itself::

    with log_context(job="check", model="fraud"):
        log.info("Checking window")   # ... [job=check model=fraud]

>>> import io, json, logging
>>> stream = io.StringIO()
>>> handler = make_handler("json", stream)
>>> demo = logging.getLogger("driftwatch.demo")
>>> demo.addHandler(handler); demo.propagate = False
>>> with log_context(model="fraud", run_id=7):
...     demo.warning('Model "%s" is late', "fraud")
>>> record = json.loads(stream.getvalue())
>>> record["message"], record["model"], record["run_id"], record["level"]
('Model "fraud" is late', 'fraud', 7, 'WARNING')
>>> demo.removeHandler(handler)
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from monitor.redact import RedactingFilter

#: The context fields, in the order they are printed.
FIELDS = ("job", "model", "check", "run_id")

_context: dict[str, ContextVar[Any]] = {
    name: ContextVar(f"driftwatch_log_{name}", default=None) for name in FIELDS
}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach ``fields`` (a subset of :data:`FIELDS`) to every record logged inside the block."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"log_context got unknown field(s) {sorted(unknown)}; known: {list(FIELDS)}")
    tokens = [(_context[name], _context[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current :func:`log_context` onto each record (``extra=`` given on the call wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _context.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FIELDS if getattr(record, name, None) is not None}


class TextFormatter(logging.Formatter):
    """``2026-11-01T12:00:00Z INFO driftwatch.daemon: message [job=check model=fraud]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context_of(record)
        if not context:
            return text
        first, newline, rest = text.partition("\n")
        suffix = " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        return first + suffix + newline + rest


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the context, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context_of(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def make_handler(fmt: Literal["text", "json"], stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (standard error by default) with the context and redaction filters."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def configure_logging(
    fmt: Literal["text", "json"] = "text", level: str = "INFO", *, stream: TextIO | None = None
) -> None:
    """Replace the root logger's handlers with one structured handler (called again on reload)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(make_handler(fmt, stream))
    root.setLevel(level)
    # APScheduler logs every job start and end at INFO; its warnings (misfires) still show.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
