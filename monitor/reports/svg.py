"""Inline SVG charts drawn in Python: no plotting dependency, no script, works offline.

Every chart is one ``<svg class="dw-plot">`` with a ``viewBox`` (it scales with the page)
and native ``<title>`` tooltips on its marks. All text goes through :mod:`.markup`.

>>> svg = line_chart([Series("AUC", [0, 1, 2], [0.91, 0.9, 0.84])], title="AUC")
>>> svg.startswith('<svg class="dw-plot"') and svg.count("<circle") == 3
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .fmt import as_float, num
from .markup import Markup, el, join
from .timeaxis import min_spacing, time_ticks

REFERENCE = "#94a3b8"
CURRENT = "#2563eb"
AFTER = "#16a34a"
ALERT = "#dc2626"
WARN = "#d97706"
MUTED = "#64748b"
GRID = "#e2e8f0"
_LEGEND_Y = 30

_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 52, 16, 44, 34
#: Width of one tick-label character (10.5px system-ui digits run ~5.9px) and the gap kept between labels.
_TICK_CHAR_W, _TICK_GAP = 6.3, 8.0


@dataclass(frozen=True)
class Series:
    """One line of a :func:`line_chart`; ``None`` values leave a gap. ``lo``/``hi`` draw a band."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    lo: Sequence[float | None] | None = None
    hi: Sequence[float | None] | None = None
    color: str = CURRENT
    dashed: bool = False
    tips: Sequence[str] | None = None


@dataclass(frozen=True)
class Rule:
    """A horizontal (``vertical=False``) or vertical reference line with a label."""

    value: float
    label: str
    color: str = MUTED
    vertical: bool = False


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``.

    >>> nice_ticks(0, 1)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _domain(values: Sequence[float], *, pad: float = 0.05) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    floor = 0.0 if lo >= 0 else -math.inf  # non-negative data never gets a negative axis
    if hi == lo:
        span = abs(lo) * 0.1 or 1.0
        return max(lo - span, floor), hi + span
    margin = (hi - lo) * pad
    return max(lo - margin, floor), hi + margin


class _Frame:
    """Maps data coordinates to the pixel box of one chart."""

    def __init__(self, width: int, height: int, x: tuple[float, float], y: tuple[float, float]) -> None:
        self.width, self.height = width, height
        self.x0, self.x1 = x
        self.y0, self.y1 = y
        self.left, self.right = _PAD_LEFT, width - _PAD_RIGHT
        self.top, self.bottom = _PAD_TOP, height - _PAD_BOTTOM

    def px(self, x: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return self.left + (x - self.x0) / span * (self.right - self.left)

    def py(self, y: float) -> float:
        span = self.y1 - self.y0 or 1.0
        return self.bottom - (y - self.y0) / span * (self.bottom - self.top)


def _svg(width: int, height: int, title: str, *body: Markup, kind: str) -> Markup:
    heading = el("text", title, x=8, y=16, class_="dw-chart-title") if title else Markup("")
    return el(
        "svg",
        heading,
        *body,
        class_="dw-plot",
        data_kind=kind,
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        aria_label=title or kind,
        xmlns="http://www.w3.org/2000/svg",
    )


def _axes(f: _Frame, x_ticks: Sequence[tuple[float, str]], y_label: str) -> Markup:
    parts = []
    for t in nice_ticks(f.y0, f.y1, 4):
        y = f.py(t)
        parts.append(el("line", x1=f.left, x2=f.right, y1=y, y2=y, stroke=GRID))
        parts.append(el("text", num(t, 3), x=f.left - 6, y=y + 4, class_="dw-tick", text_anchor="end"))
    for x, text, anchor in thin_ticks(f, x_ticks):
        parts.append(el("line", x1=x, x2=x, y1=f.bottom, y2=f.bottom + 4, stroke=MUTED))
        parts.append(el("text", text, x=x, y=f.bottom + 16, class_="dw-tick dw-xtick", text_anchor=anchor))
    parts.append(el("line", x1=f.left, x2=f.right, y1=f.bottom, y2=f.bottom, stroke=MUTED))
    if y_label:
        parts.append(el("text", y_label, x=8, y=f.top - 10, class_="dw-tick"))
    return join(parts)


def _extent(x: float, width: float, anchor: str) -> tuple[float, float]:
    if anchor == "end":
        return x - width, x
    return (x, x + width) if anchor == "start" else (x - width / 2, x + width / 2)


def thin_ticks(f: _Frame, ticks: Sequence[tuple[float, str]]) -> list[tuple[float, str, str]]:
    """The x ticks whose labels fit: ``(pixel x, text, anchor)``, left to right.

    A label is dropped when its box (:data:`_TICK_CHAR_W` per character) would come within
    :data:`_TICK_GAP` of the one kept before it, or when it repeats that label's text.
    Labels near an edge are anchored inwards so none leaves the chart.
    """
    placed: list[tuple[float, str, str, tuple[float, float]]] = []
    for xv, text in sorted(ticks, key=lambda t: t[0]):
        x = f.px(xv)
        if not f.left - 0.5 <= x <= f.right + 0.5:
            continue
        width = _TICK_CHAR_W * len(text)
        anchor = "end" if x + width / 2 > f.width - 2 else "start" if x - width / 2 < 2 else "middle"
        box = _extent(x, width, anchor)
        if placed and (placed[-1][1] == text or placed[-1][3][1] + _TICK_GAP > box[0]):
            continue
        placed.append((x, text, anchor, box))
    return [(x, text, anchor) for x, text, anchor, _ in placed]


def _legend(width: int, items: Sequence[tuple[str, str, bool]]) -> Markup:
    parts, x = [], width - _PAD_RIGHT
    for name, color, dashed in reversed(items):
        text_w = 6.5 * len(name)
        x -= text_w
        parts.append(el("text", name, x=x, y=_LEGEND_Y + 4, class_="dw-tick"))
        x -= 22
        parts.append(
            el(
                "line",
                x1=x,
                x2=x + 16,
                y1=_LEGEND_Y,
                y2=_LEGEND_Y,
                stroke=color,
                stroke_width=2.5,
                stroke_dasharray="5 3" if dashed else None,
            )
        )
        x -= 12
    return join(parts)


def auto_ticks(lo: float, hi: float, n: int = 5) -> list[tuple[float, str]]:
    """Ticks labelled with their own value (for numeric x axes)."""
    return [(t, num(t, 3)) for t in nice_ticks(lo, hi, n) if lo <= t <= hi]


def line_chart(
    series: Sequence[Series],
    *,
    title: str = "",
    rules: Sequence[Rule] = (),
    x_ticks: Sequence[tuple[float, str]] | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    y_label: str = "",
    width: int = 560,
    height: int = 220,
    markers: bool = True,
    time_axis: bool = False,
) -> Markup:
    """Lines with optional interval bands, reference rules and per-point tooltips.

    The x axis spans the points that have a value (an x without one, such as a skipped
    window, does not widen it). ``time_axis`` reads x as epoch seconds and draws calendar
    ticks (:func:`.timeaxis.time_ticks`) no finer than the spacing of the points.
    """
    xs = [x for s in series for x, y in zip(s.xs, s.ys, strict=False) if as_float(y) is not None]
    ys = [y for s in series for y in (*s.ys, *(s.lo or ()), *(s.hi or ())) if y is not None]
    ys += [r.value for r in rules if not r.vertical]
    xs += [r.value for r in rules if r.vertical]
    xr = x_range or _domain(xs, pad=0.02)
    if xr[0] == xr[1]:
        xr = (xr[0] - 1, xr[1] + 1)
    f = _Frame(width, height, xr, y_range or _domain(ys))
    if x_ticks is None:
        x_ticks = time_ticks(*xr, min_step=min_spacing(xs)) if time_axis else auto_ticks(*xr)
    body = [_axes(f, x_ticks, y_label)]
    for s in series:
        if s.lo is not None and s.hi is not None:
            body.append(_band(f, s))
    for r in rules:
        body.append(_rule(f, r))
    for s in series:
        body.append(_line(f, s, markers=markers))
    if len(series) > 1 or not title:
        body.append(_legend(width, [(s.name, s.color, s.dashed) for s in series]))
    return _svg(width, height, title, *body, kind="line")


def _points(f: _Frame, xs: Sequence[float], ys: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    """Pixel points split into runs at missing values."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=False):
        yf = as_float(y)
        if yf is None:
            runs.append([])
        else:
            runs[-1].append((f.px(x), f.py(yf)))
    return [r for r in runs if r]


def _line(f: _Frame, s: Series, *, markers: bool) -> Markup:
    parts = []
    for run in _points(f, s.xs, s.ys):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
        parts.append(
            el(
                "polyline",
                points=pts,
                fill="none",
                stroke=s.color,
                stroke_width=2,
                stroke_dasharray="6 4" if s.dashed else None,
            )
        )
    if markers:
        for i, (x, y) in enumerate(zip(s.xs, s.ys, strict=False)):
            yf = as_float(y)
            if yf is None:
                continue
            tip = s.tips[i] if s.tips is not None and i < len(s.tips) else f"{s.name}: {num(yf)}"
            parts.append(el("circle", el("title", tip), cx=f.px(x), cy=f.py(yf), r=3.5, fill=s.color))
    return join(parts)


def _band(f: _Frame, s: Series) -> Markup:
    assert s.lo is not None and s.hi is not None
    parts = []
    for lo_run, hi_run in zip(_points(f, s.xs, s.lo), _points(f, s.xs, s.hi), strict=False):
        outline = lo_run + list(reversed(hi_run))
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in outline)
        parts.append(el("polygon", points=pts, fill=s.color, fill_opacity=0.13, stroke="none"))
    return join(parts)


def _rule(f: _Frame, r: Rule) -> Markup:
    if r.vertical:
        x = f.px(r.value)
        return join(
            [
                el(
                    "line",
                    x1=x,
                    x2=x,
                    y1=f.top,
                    y2=f.bottom,
                    stroke=r.color,
                    stroke_width=2,
                    stroke_dasharray="4 3",
                ),
                el("text", r.label, x=x + 4, y=f.top + 10, class_="dw-tick", fill=r.color),
            ]
        )
    y = f.py(r.value)
    return join(
        [
            el(
                "line",
                x1=f.left,
                x2=f.right,
                y1=y,
                y2=y,
                stroke=r.color,
                stroke_width=1.5,
                stroke_dasharray="4 3",
            ),
            el("text", r.label, x=f.right - 4, y=y - 4, class_="dw-tick", fill=r.color, text_anchor="end"),
        ]
    )


def histogram_chart(
    edges: Sequence[float],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    title: str = "",
    width: int = 360,
    height: int = 170,
) -> Markup:
    """Reference and current normalised histograms over the same bins, side by side per bin."""
    n = min(len(reference), len(current), max(len(edges) - 1, 0)) or min(len(reference), len(current))
    top = max([x for v in (*reference[:n], *current[:n]) if (x := as_float(v)) is not None] or [1.0]) or 1.0
    f = _Frame(width, height, (0, n or 1), (0, top * 1.08))
    bar_w = (f.right - f.left) / max(n, 1)
    body = [_axes(f, _edge_ticks(edges, n), "share")]
    for i in range(n):
        lo_e = num(edges[i], 3) if i < len(edges) else "?"
        hi_e = num(edges[i + 1], 3) if i + 1 < len(edges) else "?"
        for j, (vals, color, name) in enumerate(
            ((reference, REFERENCE, "reference"), (current, CURRENT, "current"))
        ):
            v = as_float(vals[i]) or 0.0
            y = f.py(v)
            body.append(
                el(
                    "rect",
                    el("title", f"[{lo_e}, {hi_e}) {name}: {num(100 * v, 3)}%"),
                    x=f.left + i * bar_w + 1 + j * (bar_w - 2) / 2,
                    y=y,
                    width=max((bar_w - 2) / 2, 0.5),
                    height=max(f.bottom - y, 0),
                    fill=color,
                )
            )
    body.append(_legend(width, [("reference", REFERENCE, False), ("current", CURRENT, False)]))
    return _svg(width, height, title, *body, kind="histogram")


def _edge_ticks(edges: Sequence[float], n: int) -> list[tuple[float, str]]:
    if len(edges) < 2 or n == 0:
        return []
    every = max(1, math.ceil(n / 4))
    return [(i, num(edges[i], 3)) for i in range(0, min(n, len(edges) - 1) + 1, every)]


def category_chart(
    categories: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    title: str = "",
    width: int = 360,
    max_categories: int = 10,
) -> Markup:
    """Horizontal bars of reference vs current category shares, the largest categories first."""
    rows = sorted(
        zip(categories, reference, current, strict=False),
        key=lambda r: -max(as_float(r[1]) or 0.0, as_float(r[2]) or 0.0),
    )
    shown, hidden = rows[:max_categories], len(rows) - max_categories
    row_h, label_w = 22, 110
    height = _PAD_TOP + row_h * len(shown) + (24 if hidden > 0 else 8)
    top = max([max(as_float(r[1]) or 0.0, as_float(r[2]) or 0.0) for r in shown] or [1.0]) or 1.0
    scale = (width - label_w - _PAD_RIGHT - 40) / top
    body = []
    for i, (cat, ref, cur) in enumerate(shown):
        y = _PAD_TOP + i * row_h
        short = cat if len(str(cat)) <= 16 else f"{str(cat)[:15]}…"
        body.append(
            el("text", el("title", cat), short, x=label_w - 6, y=y + 14, class_="dw-tick", text_anchor="end")
        )
        for j, (v, color, name) in enumerate(((ref, REFERENCE, "reference"), (cur, CURRENT, "current"))):
            share = as_float(v) or 0.0
            body.append(
                el(
                    "rect",
                    el("title", f"{cat} {name}: {num(100 * share, 3)}%"),
                    x=label_w,
                    y=y + 2 + j * 9,
                    width=max(share * scale, 0.5),
                    height=8,
                    fill=color,
                )
            )
        body.append(
            el(
                "text",
                f"{num(100 * (as_float(cur) or 0.0), 3)}%",
                x=label_w + (as_float(cur) or 0) * scale + 4,
                y=y + 18,
                class_="dw-tick",
            )
        )
    if hidden > 0:
        body.append(el("text", f"… and {hidden} more", x=label_w, y=height - 8, class_="dw-tick"))
    body.append(_legend(width, [("reference", REFERENCE, False), ("current", CURRENT, False)]))
    return _svg(width, height, title, *body, kind="categories")


def interval_strip(
    value: float | None,
    lo: float | None,
    hi: float | None,
    *,
    reference: float | None = None,
    domain: tuple[float, float] = (0.0, 1.0),
    color: str = CURRENT,
    width: int = 170,
    height: int = 20,
) -> Markup:
    """A one-row interval plot for a table cell: the value, its interval, and a reference tick."""
    span = (domain[1] - domain[0]) or 1.0

    def px(v: float) -> float:
        return 4 + (min(max(v, domain[0]), domain[1]) - domain[0]) / span * (width - 8)

    parts = [el("line", x1=4, x2=width - 4, y1=height / 2, y2=height / 2, stroke=GRID, stroke_width=6)]
    if lo is not None and hi is not None:
        parts.append(
            el("line", x1=px(lo), x2=px(hi), y1=height / 2, y2=height / 2, stroke=color, stroke_width=3)
        )
    if reference is not None:
        x = px(reference)
        parts.append(
            el(
                "line",
                el("title", f"reference {num(reference)}"),
                x1=x,
                x2=x,
                y1=2,
                y2=height - 2,
                stroke=MUTED,
                stroke_width=2,
            )
        )
    if value is not None:
        tip = f"{num(value)} [{num(lo)}, {num(hi)}]"
        parts.append(el("circle", el("title", tip), cx=px(value), cy=height / 2, r=4, fill=color))
    return el(
        "svg",
        *parts,
        class_="dw-plot dw-strip",
        data_kind="interval",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        xmlns="http://www.w3.org/2000/svg",
    )
