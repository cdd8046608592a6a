"""Render a notification for people: Slack Block Kit with a text fallback, console text, webhook JSON.

What is wrong comes first in one line, then per alert the numbers behind it (statistic,
threshold, p-value, window, sample sizes), then the recommended action with its reasons and the
link to the run's HTML report.

>>> from alerts.notification import AlertView, Notification, RunInfo
>>> a = AlertView("fp1", {"model": "fraud", "check": "drift", "subject": "feature:amount"}, "alert",
...               "firing", "2026-01-02T00:05:00",
...               annotations={"message": "amount drifted", "method": "psi", "statistic": 0.31,
...                            "threshold": 0.2, "evidence": {"n_current": 1000}})
>>> n = Notification("model=fraud", "console", "fraud", "first_notification", (a,),
...                  RunInfo(7, "2026-01-01T00:00:00", "2026-01-02T00:00:00"))
>>> print(summary_line(n))
[ALERT] fraud: 1 firing — amount drifted
>>> print(console_text(n).splitlines()[2])
         drift · feature:amount · psi = 0.31 (threshold 0.2) · n_current = 1000
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alerts.alert import SEVERITY_RANK
from alerts.notification import AlertView, Notification

#: Slack allows 50 blocks per message; alerts past this many are counted, not listed.
MAX_LISTED_ALERTS = 15
MAX_EVIDENCE_ITEMS = 6
_ICONS = {"alert": ":red_circle:", "warn": ":large_yellow_circle:", "resolved": ":white_check_mark:"}
_SECTION_LIMIT = 2900


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _window(n: Notification) -> str:
    if not n.run.window_start or not n.run.window_end:
        return ""
    return f"{n.run.window_start[:16].replace('T', ' ')} → {n.run.window_end[:16].replace('T', ' ')}"


def evidence_line(alert: AlertView) -> str:
    """``check · subject · method = statistic (threshold t) · p = … · effect = … · evidence``."""
    ann: Mapping[str, Any] = alert.annotations
    parts = [str(alert.labels.get("check", "")), str(alert.labels.get("subject", ""))]
    if ann.get("statistic") is not None:
        method, threshold = ann.get("method", "statistic"), _num(ann.get("threshold"))
        parts.append(f"{method} = {_num(ann['statistic'])} (threshold {threshold})")
    if ann.get("p_value") is not None:
        parts.append(f"p = {_num(ann['p_value'])}")
    if ann.get("effect_size") is not None:
        parts.append(f"effect = {_num(ann['effect_size'])}")
    evidence = ann.get("evidence") or {}
    numbers = [(k, v) for k, v in evidence.items() if isinstance(v, int | float) and not isinstance(v, bool)]
    parts.extend(f"{k} = {_num(v)}" for k, v in numbers[:MAX_EVIDENCE_ITEMS])
    return " · ".join(p for p in parts if p)


def summary_line(n: Notification) -> str:
    """What is wrong, in one line: ``[ALERT] fraud: 2 firing, 1 resolved — amount drifted``.

    A repeat of an unchanged group says ``still firing since <first firing>``: the run it links
    may itself be clean while the alerts wait out their resolve hysteresis.
    """
    firing, resolved = n.firing, n.resolved
    brief = n.reason == "fired_and_resolved"  # the receiver never heard of them firing
    severity = max((a.severity for a in resolved), key=lambda s: SEVERITY_RANK.get(s, 0)) if brief else None
    tag = "TEST" if n.test else (severity or n.severity).upper()
    repeat = n.reason == "repeat_due" and firing and not resolved
    since = f" since {min(a.starts_at for a in firing)[:16].replace('T', ' ')}" if repeat else ""
    counts = [f"{len(firing)} {'still firing' if repeat else 'firing'}{since}"] if firing else []
    if resolved:
        counts.append(f"{len(resolved)} {'fired and resolved' if brief else 'resolved'}")
    head = f"[{tag}] {n.model}: {', '.join(counts) or 'no alerts'}"
    first = firing[0] if firing else (resolved[0] if resolved else None)
    return f"{head} — {first.title}" if first is not None else head


def _recommendation_lines(n: Notification) -> list[str]:
    lines = []
    for rec in n.recommendations:
        action = str(rec.get("action", "")).replace("_", " ")
        sentences = (str(r).strip() for r in rec.get("reasons", ()))
        reasons = " ".join(r if r.endswith((".", "!", "?")) else f"{r}." for r in sentences if r)
        lines.append(f"Recommended: {action}" + (f" — {reasons}" if reasons else ""))
    if not lines and n.firing and n.run.no_action_reason:
        lines.append(f"No action recommended — {n.run.no_action_reason}")
    return lines


def _footer(n: Notification) -> str:
    parts = ["driftwatch"]
    if n.run.run_id is not None:
        parts.append(f"run {n.run.run_id}")
    if n.run.model_version:
        parts.append(f"model version {n.run.model_version}")
    parts.append(f"group {n.group_key}")
    if n.merged_count > 1:
        parts.append(f"{n.merged_count} notifications merged")
    if n.silenced:
        parts.append(f"{n.silenced} silenced")
    return " · ".join(parts)


def plain_text(n: Notification) -> str:
    """The ``text`` fallback of a Slack message (notifications, screen readers, old clients).

    Slack parses it as mrkdwn like the blocks, so it is escaped like them: a category value
    ``<!channel>`` must not notify a whole channel.
    """
    parts = [summary_line(n)]
    if len(n.firing) > 1:
        parts.append("Also: " + "; ".join(a.title for a in n.firing[1:MAX_LISTED_ALERTS]))
    parts.extend(_recommendation_lines(n))
    if n.run.report_url:
        parts.append(f"Report: {n.run.report_url}")
    return _esc("\n".join(parts))


def _esc(text: str) -> str:
    """Slack's mrkdwn escaping: ``&``, ``<`` and ``>`` (what makes links, mentions and ``<!channel>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:_SECTION_LIMIT]}}


def slack_blocks(n: Notification) -> list[dict[str, Any]]:
    """Block Kit blocks of ``n`` (at most ~25 blocks, every text within Slack's limits)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": summary_line(n)[:150], "emoji": True}}
    ]
    facts = [f"*Model* `{_esc(n.model)}`", f"*Severity* {_esc(n.severity)}"]
    if _window(n):
        facts.append(f"*Window* {_esc(_window(n))}")
    blocks.append(_section("   ".join(facts)))
    blocks.append({"type": "divider"})
    firing = n.firing
    for alert in firing[:MAX_LISTED_ALERTS]:
        icon = _ICONS.get(alert.severity, "")
        blocks.append(_section(f"{icon} *{_esc(alert.title)}*\n{_esc(evidence_line(alert))}"))
    if len(firing) > MAX_LISTED_ALERTS:
        more = f"…and {len(firing) - MAX_LISTED_ALERTS} more firing alerts (see the report)"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    if n.resolved:
        listed = "\n".join(f"• {_esc(a.title)}" for a in n.resolved[:MAX_LISTED_ALERTS])
        blocks.append(_section(f"{_ICONS['resolved']} *Resolved ({len(n.resolved)})*\n{listed}"))
    for line in _recommendation_lines(n):
        action, _, reasons = line.partition(" — ")
        blocks.append(_section(f":wrench: *{_esc(action)}*" + (f"\n{_esc(reasons)}" if reasons else "")))
    if n.run.report_url:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open report"},
            "url": n.run.report_url,
        }
        blocks.append({"type": "actions", "elements": [button]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _esc(_footer(n))}]})
    return blocks


def console_text(n: Notification) -> str:
    """The notification as a person reads it in a terminal or a log file."""
    window = _window(n)
    lines = [summary_line(n) + (f"  (window {window})" if window else "")]
    for alert in n.firing:
        lines.append(f"  {alert.severity.upper():<6} {alert.title}")
        lines.append(f"         {evidence_line(alert)}")
    for alert in n.resolved:
        lines.append(f"  {'OK':<6} resolved: {alert.title}")
    lines.extend(f"  {line}" for line in _recommendation_lines(n))
    if n.run.report_url:
        lines.append(f"  Report: {n.run.report_url}")
    lines.append(f"  ({_footer(n)})")
    return "\n".join(lines)


def webhook_body(n: Notification) -> dict[str, Any]:
    """The JSON document POSTed to a generic webhook: the stored payload plus status and summary."""
    return {**n.to_payload(), "status": "firing" if n.firing else "resolved", "summary": summary_line(n)}
