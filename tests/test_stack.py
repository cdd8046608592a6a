"""The first load of the check stack freezes what it made; the collector keeps working after."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, json, weakref
    from monitor.stack import loading

    before = gc.get_freeze_count()
    with loading():
        assert not gc.isenabled()
        from monitor.pipeline.runner import Runner
    first = gc.get_freeze_count()
    enabled = gc.isenabled()

    class Node:
        pass

    keep = [Node() for _ in range(1000)]
    with loading():  # a later use: nothing more is frozen
        from monitor.pipeline.runner import Runner
    later = gc.get_freeze_count()

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle made after the freeze is still collected
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    print(json.dumps({"before": before, "first": first, "later": later, "enabled": enabled,
                      "cycle_collected": gone() is None}))
    """
)


def python(script: str) -> str:
    """What ``script`` prints in a new interpreter (bounded: a load that waited forever fails)."""
    command = [sys.executable, "-c", script]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout


def test_the_first_load_freezes_the_stack_and_later_loads_do_not() -> None:
    import json

    seen = json.loads(python(SCRIPT))
    assert seen["before"] == 0
    assert seen["first"] > 50_000  # pandas, scipy, SQLAlchemy and the checks
    assert seen["later"] == seen["first"]
    assert seen["enabled"] is True
    assert seen["cycle_collected"] is True


def test_a_process_that_started_with_the_collector_off_keeps_it_off_through_nested_loads() -> None:
    script = textwrap.dedent(
        """
        import gc
        gc.disable()
        from monitor.stack import loading
        with loading():
            with loading():  # nested: nothing more, and no wait
                import json
        print(gc.isenabled())
        """
    )
    assert python(script).strip() == "False"
