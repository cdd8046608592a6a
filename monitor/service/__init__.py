"""The long-running service: the daemon and what it wires together — the per-model and
daemon-wide jobs, the failure boundary they run in, readiness, the store connection,
scheduling, the HTTP endpoints (health, metrics, reports, ingestion), locks, logs and metrics.
"""
