"""Receivers built from config: the one module that knows every sender.

The senders (:mod:`alerts.console`, :mod:`alerts.slack`, :mod:`alerts.webhook`) import
:mod:`alerts.delivery` for what they report; this factory sits above them, so no sender
imports back from the module that builds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime

from alerts.config import AlertsConfig, ConsoleReceiver, SlackReceiver, WebhookReceiver
from alerts.console import ConsoleSender
from alerts.delivery import Receiver
from alerts.slack import SlackSender
from alerts.webhook import WebhookSender


def build_receiver(
    config: AlertsConfig,
    name: str,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Receiver:
    """The receiver called ``name``; secrets come from ``environ`` (default: ``os.environ``).

    :raises KeyError: no receiver called ``name`` is configured.
    """
    env = os.environ if environ is None else environ
    spec = config.receiver(name)
    if isinstance(spec, ConsoleReceiver):
        return ConsoleSender(spec)
    if isinstance(spec, SlackReceiver):
        return SlackSender(
            spec, env, max_retry_wait=config.delivery.max_retry_wait.total_seconds(), sleep=sleep, clock=clock
        )
    if isinstance(spec, WebhookReceiver):
        deadline = min(spec.timeout, config.delivery.lease / 2).total_seconds()
        return WebhookSender(spec, env, clock=clock, deadline=deadline)
    raise TypeError(f"unsupported receiver type {type(spec).__name__}")
