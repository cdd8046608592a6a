"""The long-running service: the daemon's scheduling, its HTTP endpoints (health,
metrics, reports, ingestion), leader locks and logs.
"""
