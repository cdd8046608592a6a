"""Load the check stack (pandas, scipy, the checks) once in a command's process, cheaply.

The commands that check (``driftwatch check``, ``backfill``, ``report``, ``demo``) import it
lazily, so that ``driftwatch validate`` and ``--help`` stay fast. The import makes over
100,000 objects that live as long as the process; with the cycle collector on, it walks them
again in every full collection, during the import and in every check after it: about 0.45 s
of a 2 s ``driftwatch check`` of one small window (docs/BENCHMARKS.md, ``bench/suite.py
--startup``). So the first load runs with the collector paused and then moves everything
alive into the permanent generation (:func:`gc.freeze`, which the CPython documentation
suggests for long-lived start-up state). A frozen object is still freed when its last
reference goes, only never collected as part of a cycle; that is done once per process, at
the start of a command, when little else is alive. The daemon does not use it: its first
check job may start while other jobs hold large frames, and over its lifetime the import is
a small part of its work (the daemon cycle benchmark is the same either way).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_loaded = threading.Event()


@contextmanager
def loading() -> Iterator[None]:
    """Around the lazy import of the check stack: the process's first use pauses the collector
    and freezes what is alive after it; later uses (nested ones too) do nothing."""
    if _loaded.is_set():
        yield
        return
    _loaded.set()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
