"""The pages name only files and modules that exist (after a move, a stale name fails here)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: ``monitor/service/daemon.py``, ``checks/``, ``tests/soak/`` ... (a ``{a,b}`` list is not a path).
PATH = re.compile(r"\b(?:monitor|checks|alerts|tests|bench|deploy|demo|docs)/[\w./-]*")
#: ``monitor.alerting.delivery`` in backquotes: a module, or a module and its attributes.
DOTTED = re.compile(r"`((?:monitor|checks|alerts)(?:\.\w+)+)")


def _named(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    return sorted(
        {
            (page.name, m.group(1) if m.groups() else m.group(0).rstrip("."))
            for page in PAGES
            for m in pattern.finditer(page.read_text(encoding="utf-8"))
        }
    )


@pytest.mark.parametrize(("page", "path"), _named(PATH))
def test_every_path_a_page_names_exists(page: str, path: str) -> None:
    assert (ROOT / path).exists(), f"{page} names {path}, which does not exist"


@pytest.mark.parametrize(("page", "dotted"), _named(DOTTED))
def test_every_module_a_page_names_imports(page: str, dotted: str) -> None:
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attribute in parts[k:]:
            assert hasattr(obj, attribute), f"{page} names {dotted}: {obj!r} has no {attribute!r}"
            obj = getattr(obj, attribute)
        return
    pytest.fail(f"{page} names {dotted}, which is no module")
