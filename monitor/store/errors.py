"""Store errors as the service sees them: out of reach for now (retried), or the schema gone."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from monitor.redact import redact_urls


class StoreUnavailable(ConnectionError):
    """The store could not be opened (it is retried)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"store unreachable: {reason}")
        self.reason = reason


def is_store_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the store is (for now) out of reach, rather than a bug or bad data."""
    if isinstance(exc, StoreUnavailable | OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def describe_error(exc: BaseException) -> str:
    """First line of the driver's message (SQLAlchemy's wrapper adds the SQL and a link), redacted."""
    text_ = str(getattr(exc, "orig", None) or exc).strip()
    if text_ == "database is locked":
        return (
            "the SQLite store stayed locked by another process for longer than store.busy_timeout "
            "(is another driftwatch writing to the same file?)"
        )
    return redact_urls(text_.splitlines()[0]) if text_ else type(exc).__name__


def is_schema_gone(exc: BaseException) -> bool:
    """Whether ``exc`` says a table is missing: the database was dropped and recreated empty."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    return type(orig).__name__ == "UndefinedTable" or "no such table" in str(orig)
