"""Pure alert rules: config, routing, lifecycle, the send decision, silences, rendering, signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from alerts.alert import alerts_from_run, fingerprint
from alerts.config import AlertsConfig
from alerts.lifecycle import observe
from alerts.notification import AlertView, Notification, RunInfo, merge
from alerts.notify import FiringMark, LogEntry, notify_reason
from alerts.render import console_text, plain_text, slack_blocks, webhook_body
from alerts.routing import routes_for
from alerts.silences import Silence, silenced_by
from alerts.webhook import sign, verify_signature
from checks.result import CheckResult, Finding, ModelRun, Recommendation

T0 = datetime(2026, 3, 1, 12, 0)
H = timedelta(hours=1)

EXAMPLE = {
    "resolve_after_windows": 2,
    "route": {
        "receivers": ["console"],
        "group_by": ["model"],
        "group_wait": "0s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "send_resolved": True,
        "routes": [{"match": {"severity": "alert"}, "receivers": ["slack-oncall", "console"]}],
    },
    "receivers": [
        {"name": "console", "type": "console"},
        {"name": "slack-oncall", "type": "slack", "channel": "#ml-alerts", "token_env": "SLACK_BOT_TOKEN"},
        {"name": "pager-hook", "type": "webhook", "url_env": "U", "secret_env": "S", "timeout": "10s"},
    ],
}


def test_default_config_is_console_only() -> None:
    config = AlertsConfig()
    assert [r.name for r in config.receivers] == ["console"]
    route = routes_for(config.route, {"model": "m", "severity": "alert"})[0]
    assert (route.receivers, route.group_by, route.repeat_interval) == (("console",), ("model",), 4 * H)


def test_example_config_routes_by_severity_and_inherits_timers() -> None:
    config = AlertsConfig.model_validate(EXAMPLE)
    (alert_route,) = routes_for(config.route, {"model": "m", "severity": "alert"})
    (warn_route,) = routes_for(config.route, {"model": "m", "severity": "warn"})
    assert alert_route.receivers == ("slack-oncall", "console")
    assert warn_route.receivers == ("console",)
    assert alert_route.group_interval == timedelta(minutes=5) and alert_route.repeat_interval == 4 * H


def test_continue_and_nested_routes() -> None:
    data = {
        "receivers": [{"name": n, "type": "console"} for n in ("console", "a", "b", "c")],
        "route": {
            "routes": [
                {
                    "match": {"model": ["fraud", "churn"]},
                    "receivers": ["a"],
                    "continue": True,
                    "repeat_interval": "1h",
                    "routes": [{"match": {"check": "drift"}, "receivers": ["c"]}],
                },
                {"match": {"severity": "alert"}, "receivers": ["b"]},
            ]
        },
    }
    config = AlertsConfig.model_validate(data)
    routes = routes_for(config.route, {"model": "fraud", "check": "drift", "severity": "alert"})
    assert [(r.receivers, r.repeat_interval) for r in routes] == [(("c",), H), (("b",), 4 * H)]
    assert routes_for(config.route, {"model": "x", "check": "drift", "severity": "warn"})[0].receivers == (
        "console",
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"route": {"receivers": ["nope"]}}, "unknown receiver 'nope'"),
        ({"receivers": [{"name": "s", "type": "slack", "channel": "#a"}]}, "exactly one of token_env"),
        ({"receivers": [{"name": "s", "type": "slack", "token_env": "T"}]}, "needs a channel"),
        ({"route": {"group_wait": "soon"}}, "not a valid duration"),
        ({"route": {"routes": [{"match": {"team": "x"}}]}}, "unknown label"),
        ({"receivers": [{"name": "c", "type": "console"}, {"name": "c", "type": "console"}]}, "duplicate"),
        ({"token": "xoxb-in-the-file"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_config_says_what(data: dict, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        AlertsConfig.model_validate(data)


def _run(*findings: tuple[str, Finding], skipped: tuple[str, ...] = ()) -> ModelRun:
    checks: dict[str, list[Finding]] = {}
    for check, finding in findings:
        checks.setdefault(check, []).append(finding)
    results = [CheckResult(c, "alert", findings=tuple(fs)) for c, fs in checks.items()]
    results += [CheckResult.skipped(c, "no labels") for c in skipped]
    return ModelRun("fraud", T0 - 24 * H, T0, {}, tuple(results), run_id=7)


def test_alerts_from_run_keeps_warn_and_alert_and_fingerprints_are_stable() -> None:
    run = _run(
        ("drift", Finding("feature:amount", "psi", 0.31, 0.2, severity="alert", message="amount drifted")),
        ("drift", Finding("feature:age", "ks", 0.1, 0.05, severity="warn")),
    )
    alerts = alerts_from_run(run)
    assert sorted(a.severity for a in alerts) == ["alert", "warn"]
    labels = {"subject": "feature:amount", "check": "drift", "model": "fraud"}
    expected = hashlib.sha256(json.dumps(sorted(labels.items()), separators=(",", ":")).encode()).hexdigest()[
        :16
    ]
    assert fingerprint(labels) == expected == alerts[0].fingerprint
    assert fingerprint(dict(reversed(list(labels.items())))) == expected


# Hysteresis: sequence of windows where the finding is present (1) or absent (0) → status after each.
@pytest.mark.parametrize(
    ("seen", "after", "statuses"),
    [
        ("1", 2, ["firing"]),
        ("10", 2, ["firing", "firing"]),
        ("100", 2, ["firing", "firing", "resolved"]),
        ("1010101", 2, ["firing"] * 7),  # hovering at the threshold never flaps
        ("10", 1, ["firing", "resolved"]),
        ("1001", 2, ["firing", "firing", "resolved", "firing"]),
        ("1000", 3, ["firing", "firing", "firing", "resolved"]),
    ],
)
def test_lifecycle_hysteresis(seen: str, after: int, statuses: list[str]) -> None:
    alert = alerts_from_run(_run(("drift", Finding("feature:a", "psi", 0.3, 0.2))))[0]
    state, got = None, []
    for i, flag in enumerate(seen):
        state, _ = observe(
            state,
            alert if flag == "1" else None,
            window_end=T0 + i * 24 * H,
            now=T0 + i * H,
            resolve_after_windows=after,
        )
        got.append(state.status if state else None)
    assert got == statuses


def test_old_window_can_fire_but_not_resolve() -> None:
    alert = alerts_from_run(_run(("drift", Finding("feature:a", "psi", 0.3, 0.2))))[0]
    state, _ = observe(None, alert, window_end=T0, now=T0, resolve_after_windows=1)
    same, what = observe(state, None, window_end=T0 - 24 * H, now=T0 + H, resolve_after_windows=1)
    assert (what, same.status) == ("unchanged", "firing")


A, B = "a" * 16, "b" * 16
MA, MB = FiringMark("warn", T0), FiringMark("alert", T0)
REPEAT = 4 * H


@pytest.mark.parametrize(
    ("last", "firing", "resolved", "send_resolved", "now", "expected"),
    [
        (None, {}, set(), True, T0, (False, "nothing_firing")),
        (None, {A: MA}, set(), True, T0, (True, "first_notification")),
        (None, {}, {A}, True, T0, (False, "resolved_never_notified")),
        (LogEntry({A: MA}, T0), {A: MA}, set(), True, T0 + H, (False, "unchanged_within_repeat_interval")),
        (LogEntry({A: MA}, T0), {A: MA}, set(), True, T0 + REPEAT, (True, "repeat_due")),
        (LogEntry({A: MA}, T0), {A: MA, B: MB}, set(), True, T0 + H, (True, "new_alerts")),
        (LogEntry({A: MA}, T0), {A: FiringMark("alert", T0)}, set(), True, T0 + H, (True, "escalated")),
        (
            LogEntry({A: MB}, T0),
            {A: FiringMark("warn", T0)},
            set(),
            True,
            T0 + H,
            (False, "unchanged_within_repeat_interval"),
        ),
        (
            LogEntry({A: MA}, T0),
            {A: FiringMark("warn", T0 + 2 * H)},
            set(),
            True,
            T0 + 3 * H,
            (True, "new_alerts"),
        ),
        (LogEntry({A: MA, B: MB}, T0), {B: MB}, {A}, True, T0 + H, (True, "resolved")),
        (
            LogEntry({A: MA, B: MB}, T0),
            {B: MB},
            {A},
            False,
            T0 + H,
            (False, "unchanged_within_repeat_interval"),
        ),
        (LogEntry({A: MA}, T0), {}, {A}, True, T0 + H, (True, "resolved")),
        (LogEntry({A: MA}, T0), {}, {A}, False, T0 + H, (False, "resolved_not_sent")),
        (LogEntry({A: MA}, T0), {}, {B}, True, T0 + H, (False, "resolved_never_notified")),
        (LogEntry({A: MA}, T0), {}, set(), True, T0 + REPEAT, (False, "nothing_firing")),
    ],
)
def test_notify_reason_table(last, firing, resolved, send_resolved, now, expected) -> None:  # type: ignore[no-untyped-def]
    decision = notify_reason(
        last, firing, frozenset(resolved), send_resolved=send_resolved, repeat_interval=REPEAT, now=now
    )
    assert (decision.send, decision.reason) == expected


def test_silence_matching_and_window() -> None:
    s1 = Silence("s1", {"model": "fraud", "check": "drift"}, T0, T0 + 48 * H, "me", "retraining")
    s2 = Silence("s2", {"model": "fraud", "subject": "feature:x"}, T0 + H, T0 + 2 * H, "me", "known")
    labels = {"model": "fraud", "check": "drift", "subject": "feature:x", "severity": "alert"}
    assert silenced_by([s2, s1], labels, now=T0) is s1
    assert silenced_by([s2], labels, now=T0) is None
    assert silenced_by([s2], labels, now=T0 + H) is s2
    assert silenced_by([s1], {**labels, "check": "latency"}, now=T0) is None
    assert silenced_by([s1], labels, now=T0 + 48 * H) is None


def _view(
    fp: str, status: str = "firing", severity: str = "alert", message: str = "amount drifted"
) -> AlertView:
    return AlertView(
        fp,
        {"model": "fraud", "check": "drift", "subject": f"feature:{fp}"},
        severity,
        status,  # type: ignore[arg-type]
        T0.isoformat(),
        annotations={
            "message": message,
            "method": "psi",
            "statistic": 0.3127,
            "threshold": 0.2,
            "p_value": 1e-9,
            "evidence": {"n_current": 1200, "n_reference": 5000, "note": "text is not shown"},
        },
    )


def _notification(*alerts: AlertView) -> Notification:
    return Notification(
        "model=fraud",
        "slack",
        "fraud",
        "first_notification",
        alerts,
        RunInfo(7, (T0 - 24 * H).isoformat(), T0.isoformat(), "v3", "http://reports.local/fraud/7.html"),
        (Recommendation("retrain", ("AUC fell from 0.91 to 0.84",)).to_dict(),),
    )


def test_slack_message_carries_evidence_recommendation_and_link() -> None:
    n = _notification(
        _view("a1"), _view("a2", "resolved", message="age drifted"), _view("a3", severity="warn")
    )
    blocks = slack_blocks(n)
    dump = json.dumps(blocks, ensure_ascii=False)
    for needle in (
        "amount drifted",
        "psi = 0.3127 (threshold 0.2)",
        "p = 1e-09",
        "n_current = 1200",
        "Recommended: retrain",
        "AUC fell from 0.91 to 0.84",
        "Resolved (1)",
        "age drifted",
        "2026-02-28 12:00 → 2026-03-01 12:00",
        "http://reports.local/fraud/7.html",
    ):
        assert needle in dump, needle
    assert "text is not shown" not in dump
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    text = plain_text(n)
    assert text.startswith("[ALERT] fraud: 2 firing, 1 resolved — amount drifted")
    assert "Report: http://reports.local/fraud/7.html" in text and "retrain" in text
    assert console_text(n).count("\n") > 4 and webhook_body(n)["status"] == "firing"


def test_slack_message_stays_within_block_limits_for_many_alerts() -> None:
    n = _notification(*[_view(f"a{i:03d}", message="x" * 4000) for i in range(200)])
    blocks = slack_blocks(n)
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert "185 more firing alerts" in json.dumps(blocks)


def test_merge_keeps_latest_state_of_each_alert() -> None:
    first = _notification(_view("a1"), _view("a2"))
    second = _notification(_view("a2", "resolved"), _view("a3"))
    merged = merge([first, second])
    assert {a.fingerprint: a.status for a in merged.alerts} == {
        "a1": "firing",
        "a2": "resolved",
        "a3": "firing",
    }
    assert merged.merged_count == 2 and Notification.from_payload(merged.to_payload()) == merged


def test_webhook_signature_matches_independent_hmac() -> None:
    body = b'{"status":"firing"}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(b"k", 1700000000, body) == f"sha256={expected}"
    assert verify_signature(b"k", "1700000000", body, f"sha256={expected}", now=1700000100)
    assert not verify_signature(b"k", "1700000000", body + b" ", f"sha256={expected}", now=1700000100)
    assert not verify_signature(b"other", "1700000000", body, f"sha256={expected}", now=1700000100)
    assert not verify_signature(b"k", "1700000000", body, f"sha256={expected}", now=1700000000 + 301)


def test_a_repeat_says_the_alerts_are_still_firing_and_since_when() -> None:
    repeat = replace(_notification(_view("a1"), _view("a2", severity="warn")), reason="repeat_due")
    first_fired = min(a.starts_at for a in repeat.alerts)[:16].replace("T", " ")
    expected = f"[ALERT] fraud: 2 still firing since {first_fired} — amount drifted"
    assert plain_text(repeat).startswith(expected)
    assert "still firing" not in plain_text(replace(repeat, reason="first_notification"))


def test_a_merge_of_a_new_alert_and_a_later_repeat_is_not_a_repeat() -> None:
    queued = _notification(_view("a1"))  # first_notification, never delivered (receiver down)
    repeat = replace(_notification(_view("a1")), reason="repeat_due")
    merged = merge([queued, repeat])
    assert merged.reason == "first_notification" and "still firing" not in plain_text(merged)
    assert merge([repeat, repeat]).reason == "repeat_due"


def test_recommendation_reasons_read_as_sentences() -> None:
    # The policy's reasons are sentences: no ".;" between them, a full stop added where missing.
    rec = Recommendation(
        "retune_threshold", ("A better threshold exists.", "Ranking holds: AUC 0.58 vs 0.59")
    )
    n = replace(_notification(_view("a1")), recommendations=(rec.to_dict(),))
    text = plain_text(n)
    assert (
        "Recommended: retune threshold — A better threshold exists. Ranking holds: AUC 0.58 vs 0.59." in text
    )
    assert ".;" not in text


def test_an_alert_without_an_action_says_why_in_every_receiver() -> None:
    # A firing alert the policy has no action for must not leave the reader guessing.
    reason = "Latency alone: no model action; look at the serving path."
    base = _notification(_view("a1"))
    n = replace(base, recommendations=(), run=replace(base.run, no_action_reason=reason))
    for rendered in (plain_text(n), console_text(n)):
        assert f"No action recommended — {reason}" in rendered
    slack = json.dumps(slack_blocks(n), ensure_ascii=False)
    assert "*No action recommended*" in slack and reason in slack
    assert webhook_body(n)["run"]["no_action_reason"] == reason
    assert Notification.from_payload(n.to_payload()) == n
    resolved_only = replace(n, alerts=(_view("a1", "resolved"),))
    assert "No action recommended" not in plain_text(resolved_only)
