"""The console receiver (the default): prints each notification as a person reads it."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.config import ConsoleReceiver
from alerts.delivery import DeliveryResult, identity_hash
from alerts.notification import Notification
from alerts.render import console_text


class ConsoleSender:
    def __init__(self, spec: ConsoleReceiver, stream: TextIO | None = None) -> None:
        self.name = spec.name
        self._spec = spec
        self._stream = stream

    def deliver(self, notification: Notification) -> DeliveryResult:
        stream = self._stream or sys.stdout
        print(console_text(notification), file=stream, flush=True)
        return DeliveryResult("delivered")

    def identity(self) -> str:
        return identity_hash(self._spec.model_dump(mode="json"), None)
