"""``driftwatch alerts test|dispatch|retry`` and ``driftwatch silence add|list|expire``.

``alerts test`` sends a test message through one receiver (default: every configured one) and
says plainly whether it arrived: exit 0 when all arrived, 1 otherwise. ``alerts dispatch``
delivers the pending outbox once. ``alerts retry`` re-queues notifications of receivers that
failed permanently, once their problem is fixed. Silences need a model and last ``--for`` a
duration; expiring one keeps it as history.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from alerts.durations import parse_duration
from monitor.config import load_config
from monitor.store import open_store
from monitor.store.alerts import add_silence, expire_silence, list_silences

if TYPE_CHECKING:
    from alerts.notification import Notification

# The receivers (slack-sdk) and the dispatcher are imported by the commands that send:
# every other command builds this parser, `driftwatch check` included.


def _test_notification(receiver: str, now: datetime) -> Notification:
    from alerts.notification import AlertView, Notification

    alert = AlertView(
        fingerprint="test",
        labels={"model": "driftwatch", "check": "alerts-test", "subject": receiver},
        severity="warn",
        status="firing",
        starts_at=now.isoformat(),
        annotations={"message": f"Test message from driftwatch to receiver {receiver!r}; no action needed"},
    )
    return Notification("test", receiver, "driftwatch", "test", (alert,), test=True)


def cmd_alerts_test(args: argparse.Namespace) -> int:
    from alerts.receivers import build_receiver
    from alerts.slack import SlackSender

    config = load_config(args.config).alerts
    names = [args.receiver] if args.receiver else [r.name for r in config.receivers]
    failures = 0
    for name in names:
        try:
            receiver = build_receiver(config, name)
        except KeyError as exc:
            print(exc.args[0])
            return 1
        if isinstance(receiver, SlackSender):
            auth = receiver.auth_test()
            if not auth.delivered:
                print(f"{name}: NOT delivered — {auth.detail}")
                failures += 1
                continue
        result = receiver.deliver(_test_notification(name, datetime.now(UTC)))
        if result.delivered:
            print(f"{name}: delivered")
        else:
            print(f"{name}: NOT delivered ({result.outcome}) — {result.detail}")
            failures += 1
    return 1 if failures else 0


def cmd_alerts_dispatch(args: argparse.Namespace) -> int:
    from monitor.alerting.delivery import Dispatcher

    config = load_config(args.config)
    store = open_store(config)
    try:
        stats = Dispatcher(store.engine, config.alerts).dispatch_once()
    finally:
        store.dispose()
    print(
        f"{stats.messages} message(s) for {stats.claimed} notification(s): {stats.delivered} delivered, "
        f"{stats.retried} to retry, {stats.failed} failed"
    )
    return 0 if stats.retried == 0 and stats.failed == 0 else 1


def cmd_alerts_retry(args: argparse.Namespace) -> int:
    from monitor.alerting.delivery import Dispatcher

    config = load_config(args.config)
    store = open_store(config)
    try:
        count = Dispatcher(store.engine, config.alerts).retry_failed(args.receiver)
    finally:
        store.dispose()
    print(f"{count} failed notification(s) queued again")
    return 0


def cmd_silence_add(args: argparse.Namespace) -> int:
    matchers = {"model": args.model}
    if args.check:
        matchers["check"] = args.check
    if args.subject:
        matchers["subject"] = args.subject
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        print(f"--for: {exc}")
        return 2
    if duration.total_seconds() <= 0:
        print("--for: a silence must last more than 0s")
        return 2
    config = load_config(args.config)
    store = open_store(config)
    now = datetime.now(UTC)
    try:
        with store.engine.begin() as conn:
            silence = add_silence(
                conn,
                matchers,
                starts_at=now,
                ends_at=now + duration,
                created_by=args.author or getpass.getuser(),
                comment=args.reason,
                now=now,
            )
    finally:
        store.dispose()
    print(f"Silence {silence.id} added until {silence.ends_at:%Y-%m-%d %H:%M} UTC for {matchers}")
    return 0


def cmd_silence_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    store = open_store(config)
    try:
        with store.engine.connect() as conn:
            found = list_silences(conn, now=datetime.now(UTC), include_expired=args.all)
    finally:
        store.dispose()
    if not found:
        print("No silences")
    for s in found:
        matchers = " ".join(f"{k}={v}" for k, v in s.matchers.items())
        span = f"{s.starts_at:%Y-%m-%d %H:%M} → {s.ends_at:%Y-%m-%d %H:%M}"
        print(f"{s.id}  {span}  {matchers}  {s.created_by}: {s.comment}")
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    store = open_store(config)
    try:
        with store.engine.begin() as conn:
            done = expire_silence(conn, args.id, now=datetime.now(UTC))
    finally:
        store.dispose()
    print(f"Silence {args.id} expired" if done else f"No active silence with id {args.id!r}")
    return 0 if done else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``alerts`` and ``silence`` commands to the driftwatch argument parser."""
    alerts = subparsers.add_parser("alerts", help="test receivers and deliver pending alerts")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    test = alerts_sub.add_parser("test", help="send a test message and say whether it arrived")
    test.add_argument("--receiver", help="receiver name (default: every configured receiver)")
    test.set_defaults(handler=cmd_alerts_test)
    dispatch = alerts_sub.add_parser("dispatch", help="deliver the pending alert outbox once")
    dispatch.set_defaults(handler=cmd_alerts_dispatch)
    retry = alerts_sub.add_parser("retry", help="re-queue notifications of receivers that failed permanently")
    retry.add_argument("--receiver", help="only this receiver")
    retry.set_defaults(handler=cmd_alerts_retry)

    silence = subparsers.add_parser("silence", help="silence alerts for a while")
    silence_sub = silence.add_subparsers(dest="silence_command", required=True)
    add = silence_sub.add_parser("add", help="silence alerts of a model (optionally one check or subject)")
    add.add_argument("--model", required=True)
    add.add_argument("--check")
    add.add_argument("--subject")
    add.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h, 2d")
    add.add_argument("--reason", required=True, help="why (shown with the silence)")
    add.add_argument("--author", help="who (default: the current user)")
    add.set_defaults(handler=cmd_silence_add)
    listing = silence_sub.add_parser("list", help="active and pending silences")
    listing.add_argument("--all", action="store_true", help="include expired silences")
    listing.set_defaults(handler=cmd_silence_list)
    expire = silence_sub.add_parser("expire", help="end a silence now")
    expire.add_argument("id")
    expire.set_defaults(handler=cmd_silence_expire)
