"""Alerts of stored runs: :mod:`~monitor.alerting.recording` writes alert state and outbox rows
in the run's transaction; :mod:`~monitor.alerting.delivery` drains the outbox to receivers.
"""
