"""Which windows of a model need checking: read from the store alone.

The daemon asks this before it loads the check stack (pandas, scipy, scikit-learn), so a
daemon with nothing due stays small; the runner asks it to pick its work.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from monitor.config import Config, ModelConfig
from monitor.engines import Counter, event_time_range, window_counter
from monitor.store import Store
from monitor.store.runs import checked_window_ends, runs_awaiting_labels
from monitor.windows import window_ends, window_start

#: A re-evaluation after late labels needs the window to become mature, or a mature window
#: this much more coverage, or its label wait to be over.
MIN_COVERAGE_GAIN = 0.05


def owner_gone(owner: str) -> bool:
    """Whether ``owner`` (``"<host>-<pid>"``) is a process of this host that no longer exists.

    Lets a restarted ``driftwatch check``/``backfill`` retake the window a killed run left
    ``running`` at once instead of after the lease. Another host's owner is never judged.
    """
    host, _, pid = owner.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def due_windows(store: Store, config: Config, model: ModelConfig, now: datetime) -> list[datetime]:
    """Ends of complete windows not checked yet, oldest first, at most ``max_catchup_windows``."""
    bound = config.daemon.max_catchup_windows
    first, _ = event_time_range(store, model)
    if first is None or bound == 0:
        return []
    tz = config.daemon.timezone
    earliest = max(first, now - model.window.nominal * (bound + 1))
    ends = [e for e in window_ends(earliest, now, model.window, tz) if e > first]
    done = checked_window_ends(store.engine, model.name, earliest, now=now, is_gone=owner_gone)
    return [e for e in ends if e not in done][-bound:]


def windows_with_new_labels(store: Store, config: Config, model: ModelConfig, now: datetime) -> list[int]:
    """Finished runs to re-evaluate because labels arrived (or their wait is over).

    The waiting windows of an in-place model are counted through one engine.
    """
    waiting = runs_awaiting_labels(store.engine, model.name)
    if not waiting:
        return []
    with window_counter(store, model) as count:
        return [
            run_id for run_id, end, coverage in waiting if _relabel(config, model, end, coverage, count, now)
        ]


def _relabel(
    config: Config, model: ModelConfig, end: datetime, coverage: float | None, count: Counter, now: datetime
) -> bool:
    """Whether the run of the window ending at ``end`` (label coverage ``coverage``) is re-evaluated."""
    if now >= end + model.labels.max_delay:  # the label wait is over: final, without counting
        return True
    counts = count(window_start(end, model.window, config.daemon.timezone), end)
    was, mature = coverage or 0.0, model.labels.min_coverage
    # Below maturity a re-evaluation would only refresh the coverage figure (the label checks
    # stay skipped); the daemon's coverage gauge counts live instead.
    grown = mature <= was and counts.coverage - was >= MIN_COVERAGE_GAIN
    newly_mature = was < mature <= counts.coverage
    return grown or newly_mature
