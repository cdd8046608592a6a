"""The one templating helper of the reports: every string is escaped unless it is :class:`Markup`.

Report pages are built from small functions that return :class:`Markup`. Anything else that
reaches :func:`el` or :func:`join` -- a model, feature, category or segment name, a message --
goes through :func:`html.escape` (quotes included, so the same rule holds in text, in HTML
attributes, and in SVG text and attributes). JSON embedded in a ``<script>`` block goes
through :func:`json_script`, which cannot close the block early.

>>> str(el("td", "<script>alert(1)</script>", class_="name"))
'<td class="name">&lt;script&gt;alert(1)&lt;/script&gt;</td>'
>>> str(el("p", Markup("<b>bold</b>"), " & more"))
'<p><b>bold</b> &amp; more</p>'
>>> str(json_script("data", {"name": "</script><script>"}))
'<script type="application/json" id="data">{"name": "\\\\u003c/script>\\\\u003cscript>"}</script>'
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from typing import Any

_HTML_VOID = frozenset({"br", "hr", "img", "meta", "link", "input"})
_SVG_EMPTY = frozenset({"circle", "line", "rect", "path", "polyline", "polygon"})


class Markup(str):
    """A string already safe to put into a page (produced by this module, never by data)."""

    __slots__ = ()


def esc(value: Any) -> Markup:
    """Escape ``value`` for HTML/SVG text and attribute values, unless it is already :class:`Markup`."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    """Concatenate parts, escaping each one that is not :class:`Markup`."""
    return Markup(sep.join(esc(p) for p in parts if p is not None))


def _attr_name(key: str) -> str:
    # class_ -> class, data_plot -> data-plot, aria_label -> aria-label, viewBox stays viewBox.
    return key.rstrip("_").replace("_", "-")


def attrs(**kwargs: Any) -> Markup:
    """Render attributes; ``None``/``False`` drop the attribute, ``True`` writes it bare."""
    out = []
    for key, value in kwargs.items():
        if value is None or value is False:
            continue
        name = _attr_name(key)
        out.append(f" {name}" if value is True else f' {name}="{esc(_fmt_attr(value))}"')
    return Markup("".join(out))


def _fmt_attr(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"
    return value


def el(tag: str, *children: Any, **kwargs: Any) -> Markup:
    """One element: ``el("a", "text", href="x")``; children are escaped unless Markup."""
    head = f"<{tag}{attrs(**kwargs)}"
    if tag in _HTML_VOID:
        return Markup(head + ">")
    if tag in _SVG_EMPTY and not children:
        return Markup(head + "/>")
    return Markup(f"{head}>{join(children)}</{tag}>")


def json_script(element_id: str, data: Any) -> Markup:
    """A ``<script type="application/json">`` data block that no value can break out of."""
    text = json.dumps(data, allow_nan=False, default=str).replace("<", "\\u003c")
    return Markup(f'<script type="application/json" id="{esc(element_id)}">{text}</script>')
