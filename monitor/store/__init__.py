"""The event store: SQLite by default, PostgreSQL in production."""

from monitor.store.engine import Store, StoreVersionError, make_engine, open_store, utcnow

__all__ = ["Store", "StoreVersionError", "make_engine", "open_store", "utcnow"]
