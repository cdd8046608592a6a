"""Who holds a claim: the name a process writes on run claims, outbox claims and locks."""

from __future__ import annotations

import os
import socket


def default_owner() -> str:
    """``"<hostname>-<pid>"`` of this process (:func:`monitor.pipeline.due.owner_gone` reads it back)."""
    return f"{socket.gethostname()}-{os.getpid()}"
