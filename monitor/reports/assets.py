"""The page shell shared by every report: stylesheet, the one inline script, and the CSP that pins it.

The only script on a report page is :data:`PAGE_SCRIPT`. It makes the page check itself:
it records script errors, failed resources and Content-Security-Policy violations on
``<html data-dw-errors="[...]">`` and, once laid out, how many charts drew with a non-zero
size: ``data-plots-drawn`` of ``data-plots-total``; charts in collapsed sections count as
``data-plots-hidden``; the kinds of visible charts that did not draw are listed in
``data-plots-undrawn``. It also lays out every chart's x-axis labels (collapsed sections
opened for the measurement) and lists any label that overlaps its neighbour or leaves the
chart in ``data-tick-overlaps`` (``data-ticks-measured`` labels measured). Headless-browser
tests read those attributes from the dumped DOM.

Each page carries a ``<meta>`` Content-Security-Policy allowing that script by its SHA-256
hash and nothing else, so even a string that escaped escaping could not run.
"""

from __future__ import annotations

import base64
import hashlib

from .markup import Markup, el

PAGE_SCRIPT = """
(function () {
  "use strict";
  var root = document.documentElement, errors = [];
  root.setAttribute("data-dw-errors", "[]");
  function record(message) {
    errors.push(String(message).slice(0, 500));
    root.setAttribute("data-dw-errors", JSON.stringify(errors));
  }
  window.addEventListener("error", function (e) {
    var t = e.target, url = t && t !== window && (t.src || t.href);
    record(url ? "failed to load " + url : (e.message || "script error"));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { record("unhandled rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    record("CSP blocked " + (e.blockedURI || "inline code") + " (" + e.violatedDirective + ")");
  });
  var consoleError = console.error;
  console.error = function () {
    record(Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  function measure() {
    var plots = document.querySelectorAll("svg.dw-plot"), drawn = 0, hidden = 0, undrawn = [];
    for (var i = 0; i < plots.length; i++) {
      if (plots[i].closest("details:not([open])")) { hidden++; continue; }
      var box = plots[i].getBoundingClientRect();
      if (box.width > 0 && box.height > 0 && plots[i].childElementCount > 0) { drawn++; }
      else { undrawn.push(plots[i].getAttribute("data-kind")); }
    }
    root.setAttribute("data-plots-undrawn", JSON.stringify(undrawn));
    root.setAttribute("data-plots-total", String(plots.length));
    root.setAttribute("data-plots-hidden", String(hidden));
    root.setAttribute("data-plots-drawn", String(drawn));
    measureTicks(plots);
  }
  function measureTicks(plots) {
    var closed = document.querySelectorAll("details:not([open])"), bad = [], n = 0, i, j;
    for (i = 0; i < closed.length; i++) { closed[i].open = true; }
    for (i = 0; i < plots.length; i++) {
      var view = plots[i].viewBox.baseVal, ticks = plots[i].querySelectorAll("text.dw-xtick"), prev = null;
      var name = plots[i].getAttribute("aria-label");
      for (j = 0; j < ticks.length; j++, n++) {
        var b = ticks[j].getBBox(), text = ticks[j].textContent;
        if (b.x < view.x || b.x + b.width > view.x + view.width) {
          bad.push(name + ": '" + text + "' leaves the chart");
        }
        if (prev && prev.box.x + prev.box.width > b.x) {
          bad.push(name + ": '" + prev.text + "' overlaps '" + text + "'");
        }
        prev = { box: b, text: text };
      }
    }
    for (i = 0; i < closed.length; i++) { closed[i].open = false; }
    root.setAttribute("data-ticks-measured", String(n));
    root.setAttribute("data-tick-overlaps", JSON.stringify(bad.slice(0, 20)));
  }
  document.addEventListener("DOMContentLoaded", measure);
  window.addEventListener("load", function () { measure(); root.setAttribute("data-dw-ready", "1"); });
})();
"""

#: ``'sha256-…'`` source expression of :data:`PAGE_SCRIPT` for Content-Security-Policy.
PAGE_SCRIPT_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(PAGE_SCRIPT.encode()).digest()).decode() + "'"

#: Policy of every report page (also sent as a header by :mod:`monitor.reports.server`).
PAGE_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    f"script-src {PAGE_SCRIPT_HASH}; base-uri 'none'; form-action 'none'"
)

STYLE = """
:root { --ok:#15803d; --ok-bg:#dcfce7; --warn:#b45309; --warn-bg:#fef3c7; --alert:#b91c1c;
  --alert-bg:#fee2e2;
  --skipped:#475569; --skipped-bg:#e2e8f0; --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --card:#fff; }
* { box-sizing: border-box; }
body { margin: 0;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: #f1f5f9; }
header.dw-top { background: #0f172a; color: #f8fafc; padding: 14px 28px; display: flex; gap: 18px;
  align-items: center; flex-wrap: wrap; }
header.dw-top h1 { font-size: 20px; margin: 0; font-weight: 650; }
header.dw-top .dw-meta { color: #cbd5e1; font-size: 13px; }
header.dw-top a { color: #93c5fd; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; }
section.dw-card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 22px;
  margin: 0 0 18px; overflow-x: auto; }
section.dw-card > h2 { font-size: 17px; margin: 0 0 12px; display: flex; align-items: center;
  gap: 10px; }
h3 { font-size: 14px; margin: 16px 0 8px; color: #334155; }
a { color: #1d4ed8; }
.dw-badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px;
  font-weight: 650;
  text-transform: uppercase; letter-spacing: .03em; }
.dw-ok { color: var(--ok); background: var(--ok-bg); }
.dw-warn { color: var(--warn); background: var(--warn-bg); }
.dw-alert { color: var(--alert); background: var(--alert-bg); }
.dw-skipped { color: var(--skipped); background: var(--skipped-bg); }
.dw-tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 10px;
  margin: 10px 0 4px; }
.dw-tile { display: block; border: 1px solid var(--line); border-left: 5px solid var(--skipped);
  border-radius: 8px;
  padding: 9px 12px; text-decoration: none; color: var(--ink); background: #fff; }
.dw-tile.dw-ok { border-left-color: var(--ok); background: #fff; }
.dw-tile.dw-warn { border-left-color: var(--warn); background: #fffbeb; }
.dw-tile.dw-alert { border-left-color: var(--alert); background: #fef2f2; }
.dw-tile.dw-skipped { background: #f8fafc; }
.dw-tile b { display: block; font-size: 14px; margin-bottom: 2px; }
.dw-tile span { color: var(--muted); font-size: 12.5px; }
.dw-action { border-radius: 8px; padding: 12px 16px; margin: 8px 0 12px; background: #eff6ff;
  border: 1px solid #bfdbfe; }
.dw-action h3 { margin: 0 0 6px; font-size: 16px; color: #1e3a8a; }
.dw-action ul { margin: 4px 0; padding-left: 20px; }
.dw-noaction { color: var(--ok); font-weight: 600; }
.dw-reason { color: var(--skipped); background: #f8fafc; border: 1px dashed #cbd5e1;
  border-radius: 6px; padding: 8px 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 10px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: middle; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase;
  letter-spacing: .02em; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.dw-hit td { background: #fef2f2; }
tr.dw-hit-warn td { background: #fffbeb; }
.dw-name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; word-break: break-all; }
.dw-bar { height: 8px; background: #fca5a5; border-radius: 4px; min-width: 2px; }
.dw-bar.dw-quiet { background: #cbd5e1; }
.dw-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 12px; }
.dw-grid > figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 6px; }
svg.dw-plot { max-width: 100%; height: auto; font-family: inherit; }
svg.dw-strip { vertical-align: middle; max-width: none; }
.dw-barwrap { width: 110px; background: #f1f5f9; border-radius: 4px; }
.dw-grid.dw-wide { grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); }
.dw-chart-title { font-size: 12.5px; font-weight: 650; fill: #334155; }
.dw-tick { font-size: 10.5px; fill: #64748b; }
details { margin: 8px 0; }
details > summary { cursor: pointer; color: #334155; font-weight: 600; }
.dw-kv { display: flex; flex-wrap: wrap; gap: 8px 22px; margin: 4px 0 10px; }
.dw-kv div { min-width: 110px; }
.dw-kv b { display: block; font-size: 18px; font-variant-numeric: tabular-nums; }
.dw-kv span { color: var(--muted); font-size: 12px; }
.dw-kv .dw-bad b { color: var(--alert); }
.dw-muted { color: var(--muted); }
.dw-timeline { display: flex; gap: 3px; flex-wrap: wrap; }
.dw-timeline a { width: 14px; height: 22px; border-radius: 3px; display: inline-block;
  background: #cbd5e1; }
.dw-timeline a.dw-ok { background: #22c55e; } .dw-timeline a.dw-warn { background: #f59e0b; }
.dw-timeline a.dw-alert { background: #ef4444; } .dw-timeline a.dw-skipped { background: #94a3b8; }
.dw-timeline { align-items: flex-end; }
.dw-timeline a.dw-info { height: 10px; opacity: 0.55; }
.dw-timeline a.dw-incident { height: 28px; box-shadow: 0 0 0 2px #7f1d1d inset; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 24px; }
"""


def page(title: str, header: Markup, body: Markup, *, extra_head: Markup | None = None) -> str:
    """A complete, self-contained HTML document."""
    head = el(
        "head",
        Markup('<meta charset="utf-8">'),
        el("meta", http_equiv="Content-Security-Policy", content=PAGE_CSP),
        el("meta", name="viewport", content="width=device-width, initial-scale=1"),
        el("meta", name="referrer", content="no-referrer"),
        el("title", title),
        Markup(f"<script>{PAGE_SCRIPT}</script>"),
        Markup(f"<style>{STYLE}</style>"),
        extra_head or "",
    )
    return f'<!DOCTYPE html>\n<html lang="en">{head}<body>{header}<main>{body}</main></body></html>\n'


def status_class(status: str) -> str:
    """The CSS class of a status (unknown statuses look like ``skipped``)."""
    return f"dw-{status}" if status in ("ok", "warn", "alert", "skipped") else "dw-skipped"


def badge(status: str) -> Markup:
    """A coloured status pill."""
    return el("span", status, class_=f"dw-badge {status_class(status)}")
