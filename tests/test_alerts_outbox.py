"""Alert state, outbox and dispatch on a real store: SQLite and PostgreSQL, fake Slack, injected clock."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import monitor.store.alerts as tables
from alerts.config import AlertsConfig
from checks.result import CheckResult, Finding, ModelRun, Recommendation
from monitor.alerting.delivery import Dispatcher
from monitor.alerting.recording import record_run_alerts
from monitor.store.alerts import add_silence, alert_outbox, alert_states, expire_silence, notification_log
from monitor.store.engine import make_engine
from monitor.store.schema import metadata
from tests.fake_slack import Answer, FakeSlack

TOKEN = "xoxb-PLANTED-SECRET-987654321"
T0 = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)
DAY = timedelta(days=1)
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.Engine]:
    assert tables.alert_outbox is alert_outbox
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
        metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    name = f"dw_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc.orig}); start it (see .ci/run)")
    eng = sa.create_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    metadata.create_all(eng)
    yield eng
    eng.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, channels={"#alerts"}) as fake:
        yield fake


def _config(slack: FakeSlack, batch_size: int = 200, **root: Any) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "resolve_after_windows": 2,
            "route": {"receivers": ["slack"], "group_by": ["model"], "repeat_interval": "4h", **root},
            "receivers": [
                {"name": "console", "type": "console"},
                {
                    "name": "slack",
                    "type": "slack",
                    "channel": "#alerts",
                    "token_env": "SLACK_BOT_TOKEN",
                    "base_url": slack.api_url,
                    "timeout": "2s",
                },
            ],
            "delivery": {"initial_backoff": "10s", "max_backoff": "10m", "batch_size": batch_size},
        }
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _dispatcher(engine: sa.Engine, config: AlertsConfig, clock: Clock, owner: str = "d1") -> Dispatcher:
    return Dispatcher(
        engine,
        config,
        clock=clock,
        owner=owner,
        environ={"SLACK_BOT_TOKEN": TOKEN},
        sleep=lambda s: None,
        rng=random.Random(0),
    )


def _run(day: int, *subjects: str, model: str = "fraud", check_ran: bool = True) -> ModelRun:
    findings = tuple(
        Finding(
            f"feature:{s}",
            "psi",
            0.31,
            0.2,
            severity="alert",
            message=f"{s} drifted",
            evidence={"n_current": 1000},
        )
        for s in subjects
    )
    result = (
        CheckResult("drift", "alert" if findings else "ok", findings=findings)
        if check_ran
        else (CheckResult.skipped("drift", "no data"))
    )
    return ModelRun(
        model,
        T0 + (day - 1) * DAY,
        T0 + day * DAY,
        {},
        (result,),
        (Recommendation("retrain", ("heavy drift",)),),
        run_id=day,
        report_url=f"http://reports/{model}/{day}.html",
    )


def _record(engine: sa.Engine, run: ModelRun, config: AlertsConfig, now: datetime) -> int:
    with engine.begin() as conn:
        return record_run_alerts(conn, run, config, now=now)


def _titles(message: dict[str, Any]) -> str:
    return message["text"] + str(message["blocks"])


def test_fire_repeat_resolve_with_hysteresis(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack), Clock(T0 + DAY)
    dispatcher = _dispatcher(engine, config, clock)
    assert _record(engine, _run(1, "amount", "age"), config, clock.now) == 1
    assert dispatcher.dispatch_once().delivered == 1
    (first,) = slack.messages
    assert "amount drifted" in _titles(first) and "age drifted" in _titles(first)  # one grouped message
    assert "http://reports/fraud/1.html" in _titles(first) and "retrain" in first["text"]

    clock.now += timedelta(hours=1)  # same alerts again within repeat_interval: nothing
    assert _record(engine, _run(2, "amount", "age"), config, clock.now) == 0
    clock.now += timedelta(hours=4)  # repeat due
    assert _record(engine, _run(3, "amount", "age"), config, clock.now) == 1
    dispatcher.dispatch_once()
    assert len(slack.messages) == 2

    clock.now += timedelta(minutes=10)  # "age" clears once: still firing (hysteresis), no message
    assert _record(engine, _run(4, "amount"), config, clock.now) == 0
    clock.now += timedelta(minutes=10)  # check skipped: says nothing about "age"
    assert _record(engine, _run(5, check_ran=False), config, clock.now) == 0
    clock.now += timedelta(minutes=10)  # second clear window: resolved and sent
    assert _record(engine, _run(6, "amount"), config, clock.now) == 1
    dispatcher.dispatch_once()
    resolved = slack.messages[-1]
    assert "Resolved (1)" in _titles(resolved) and "age drifted" in _titles(resolved)
    with engine.connect() as conn:
        states = {r.subject: r.status for r in conn.execute(sa.select(alert_states))}
    assert states == {"feature:amount": "firing", "feature:age": "resolved"}


def test_silenced_alerts_are_tracked_but_not_sent(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack), Clock(T0 + DAY)
    with engine.begin() as conn:
        silence = add_silence(
            conn,
            {"model": "fraud", "subject": "feature:age"},
            starts_at=clock.now,
            ends_at=clock.now + 2 * DAY,
            created_by="oncall",
            comment="known",
            now=clock.now,
        )
    _record(engine, _run(1, "age"), config, clock.now)
    assert _dispatcher(engine, config, clock).dispatch_once().claimed == 0
    assert slack.messages == []
    with engine.connect() as conn:
        row = conn.execute(sa.select(alert_states)).one()
    assert (row.status, row.silenced_by) == ("firing", silence.id)

    _record(engine, _run(2, "age", "amount"), config, clock.now)  # an unsilenced alert joins
    _dispatcher(engine, config, clock).dispatch_once()
    (message,) = slack.messages
    assert "amount drifted" in _titles(message) and "age drifted" not in _titles(message)
    assert "1 silenced" in _titles(message)
    with engine.begin() as conn:
        assert expire_silence(conn, silence.id, now=clock.now)
    clock.now += timedelta(hours=1)
    _record(engine, _run(3, "age", "amount"), config, clock.now)  # silence over: age is new to the receiver
    _dispatcher(engine, config, clock).dispatch_once()
    assert "age drifted" in _titles(slack.messages[-1])


def test_retries_with_backoff_then_delivers_once(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack), Clock(T0 + DAY)
    dispatcher = _dispatcher(engine, config, clock)
    _record(engine, _run(1, "amount"), config, clock.now)
    slack.script("chat.postMessage", *[Answer.server_error(500)] * 3, Answer.rate_limited(retry_after=90))
    assert dispatcher.dispatch_once().retried == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(alert_outbox)).one()
    assert (row.status, row.attempts, row.claimed_by) == ("pending", 1, None) and "500" in row.last_error
    wait = row.next_attempt_at - clock.now.replace(tzinfo=None)
    assert timedelta(seconds=5) <= wait <= timedelta(seconds=10)  # 10s with jitter in [0.5, 1]
    assert dispatcher.dispatch_once().claimed == 0  # not due yet
    clock.now += wait
    assert dispatcher.dispatch_once().retried == 1  # 429 with Retry-After 90: persisted
    with engine.connect() as conn:
        row = conn.execute(sa.select(alert_outbox)).one()
    assert row.next_attempt_at - clock.now.replace(tzinfo=None) >= timedelta(seconds=90)
    clock.now = row.next_attempt_at.replace(tzinfo=UTC)
    assert dispatcher.dispatch_once().delivered == 1
    assert dispatcher.dispatch_once().claimed == 0
    assert len(slack.messages) == 1


def test_broken_receiver_is_unhealthy_without_retry_loop(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack), Clock(T0 + DAY)
    dispatcher = Dispatcher(engine, config, clock=clock, environ={"SLACK_BOT_TOKEN": "xoxb-revoked"})
    _record(engine, _run(1, "amount"), config, clock.now)
    assert dispatcher.dispatch_once().failed == 1
    health = dispatcher.receiver_health()
    assert health["slack"] == "Slack error invalid_auth" and health["console"] is True
    _record(engine, _run(2, "amount", "age"), config, clock.now + timedelta(hours=1))
    for _ in range(3):
        clock.now += timedelta(hours=1)
        assert dispatcher.dispatch_once().claimed == 0
    assert slack.calls("chat.postMessage") == 1
    fixed = _dispatcher(engine, config, clock)  # the token was fixed: new identity, everything retried
    assert fixed.receiver_health()["slack"] is True
    stats = fixed.dispatch_once()
    assert (stats.messages, stats.delivered) == (1, 2)  # the failed and the waiting row, merged
    assert len(slack.messages) == 1 and "2 notifications merged" in _titles(slack.messages[0])


def test_crash_between_outbox_write_and_delivery_delivers_once(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack), Clock(T0 + DAY)
    _record(engine, _run(1, "amount"), config, clock.now)
    crashed = _dispatcher(engine, config, clock, owner="crashed")
    (group,) = crashed._due_groups(crashed._now())
    assert crashed._claim(*group, crashed._now())  # claimed, then the process dies before sending
    survivor = _dispatcher(engine, config, clock, owner="survivor")
    assert survivor.dispatch_once().claimed == 0  # the lease still holds
    clock.now += config.delivery.lease + timedelta(seconds=1)
    assert survivor.dispatch_once().delivered == 1
    assert survivor.dispatch_once().claimed == 0
    assert len(slack.messages) == 1


def test_backlog_after_downtime_arrives_grouped(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack, repeat_interval="1h"), Clock(T0 + DAY)
    slack.script("chat.postMessage", *[Answer.server_error(503)] * 3)
    dispatcher = _dispatcher(engine, config, clock)
    _record(engine, _run(1, "amount"), config, clock.now)
    dispatcher.dispatch_once()  # Slack down
    for day, subjects in ((2, ("amount", "age")), (3, ("age",)), (4, ("age",))):
        clock.now += timedelta(hours=2)
        _record(engine, _run(day, *subjects), config, clock.now)
    clock.now += timedelta(hours=1)
    stats = dispatcher.dispatch_once()
    assert (stats.messages, stats.delivered) == (1, 4)
    (message,) = slack.messages
    text = _titles(message)
    assert "age drifted" in text and "Resolved (1)" in text and "amount drifted" in text
    assert "4 notifications merged" in text and "http://reports/fraud/4.html" in text


def test_two_dispatchers_never_double_send(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack), Clock(T0 + DAY)
    for i in range(6):
        _record(engine, _run(1, "amount", model=f"model_{i}"), config, clock.now)
    first, second = _dispatcher(engine, config, clock, "a"), _dispatcher(engine, config, clock, "b")
    groups = first._due_groups(first._now())
    assert len(groups) == 6
    assert len(first._claim(*groups[0], first._now())) == 1
    assert second._claim(*groups[0], second._now()) == []  # one claim per group
    assert second.dispatch_once().delivered == 5  # the other groups are free
    clock.now += config.delivery.lease + timedelta(seconds=1)
    total = first.dispatch_once().delivered + second.dispatch_once().delivered
    assert total == 1 and len(slack.messages) == 6


class SlowReceiver:
    """Takes longer than the lease (on the injected clock) to deliver; records every message."""

    def __init__(self, name: str, clock: Clock, lease: timedelta, sent: list[tuple[str, str]]) -> None:
        self.name, self.clock, self.lease, self.sent = name, clock, lease, sent
        self.during: Any = None  # called once, mid-send: the other replica's dispatch

    def identity(self) -> str:
        return "slow"

    def deliver(self, notification: Any) -> Any:
        from alerts.delivery import DeliveryResult

        self.clock.now += self.lease + timedelta(minutes=1)
        if self.during is not None:
            during, self.during = self.during, None
            during()
        self.sent.append((self.name, notification.group_key))
        return DeliveryResult("delivered")


def test_receiver_slower_than_the_lease_gets_each_group_once(engine: sa.Engine, slack: FakeSlack) -> None:
    """Reproducer: with a receiver slower than the lease, two dispatchers sent 8 of 9 groups twice."""
    config, clock = _config(slack), Clock(T0 + DAY)
    for i in range(9):
        _record(engine, _run(1, "amount", model=f"model_{i}"), config, clock.now)
    sent: list[tuple[str, str]] = []
    slow_a = SlowReceiver("a", clock, config.delivery.lease, sent)
    fast_b = SlowReceiver("b", clock, timedelta(0), sent)
    first = Dispatcher(engine, config, clock=clock, receivers={"slack": slow_a}, heartbeat=0.01)
    second = Dispatcher(engine, config, clock=clock, receivers={"slack": fast_b}, heartbeat=0.01)

    def lease_extended() -> bool:  # the heartbeat of the send in progress moved the lease past the clock
        with engine.connect() as conn:
            until = conn.execute(
                sa.select(sa.func.max(alert_outbox.c.claimed_until)).where(
                    alert_outbox.c.claimed_by.is_not(None)
                )
            ).scalar_one()
        return until is not None and until > clock.now.replace(tzinfo=None)

    def replica_b_runs() -> None:
        deadline = time.monotonic() + 5
        while not lease_extended() and time.monotonic() < deadline:
            time.sleep(0.01)
        second.dispatch_once()

    slow_a.during = replica_b_runs
    first.dispatch_once()
    groups = [group for _, group in sent]
    assert sorted(groups) == sorted(set(groups)) and len(groups) == 9, f"sent twice: {sent}"
    assert {who for who, _ in sent} == {"a", "b"}  # both replicas delivered
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(alert_outbox.c.status, alert_outbox.c.claimed_by)).all()
    assert set(statuses) == {("delivered", None)}


def test_severity_routes_and_console_default(engine: sa.Engine, slack: FakeSlack, capsys: Any) -> None:
    config = AlertsConfig.model_validate(
        {
            "route": {"routes": [{"match": {"severity": "alert"}, "receivers": ["slack", "console"]}]},
            "receivers": [
                {"name": "console", "type": "console"},
                {
                    "name": "slack",
                    "type": "slack",
                    "channel": "#alerts",
                    "token_env": "SLACK_BOT_TOKEN",
                    "base_url": slack.api_url,
                },
            ],
        }
    )
    clock = Clock(T0 + DAY)
    warn = ModelRun(
        "churn",
        T0,
        T0 + DAY,
        {},
        (
            CheckResult(
                "latency",
                "warn",
                findings=(
                    Finding(
                        "latency:p99", "p99", 812.0, 500.0, severity="warn", message="p99 latency above SLO"
                    ),
                ),
            ),
        ),
    )
    assert _record(engine, warn, config, clock.now) == 1
    assert _record(engine, _run(1, "amount"), config, clock.now) == 2
    stats = _dispatcher(engine, config, clock).dispatch_once()
    assert stats.messages == 3
    assert [m["text"].splitlines()[0] for m in slack.messages] == ["[ALERT] fraud: 1 firing — amount drifted"]
    out = capsys.readouterr().out
    assert "[WARN] churn: 1 firing — p99 latency above SLO" in out and "[ALERT] fraud" in out


def test_no_secret_in_stored_rows_or_logs(engine: sa.Engine, slack: FakeSlack, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    config, clock = _config(slack), Clock(T0 + DAY)
    _record(engine, _run(1, "amount"), config, clock.now)
    slack.script("chat.postMessage", Answer.error("invalid_auth"))
    _dispatcher(engine, config, clock).dispatch_once()
    dump = caplog.text
    with engine.connect() as conn:
        for table in (alert_outbox, alert_states, notification_log, tables.receiver_health):
            dump += repr(conn.execute(sa.select(table)).all())
    assert "invalid_auth" in dump and TOKEN not in dump


def test_concurrent_dispatchers_split_the_work(engine: sa.Engine, slack: FakeSlack) -> None:
    config, clock = _config(slack, batch_size=2), Clock(T0 + DAY)
    for i in range(12):
        _record(engine, _run(1, "amount", model=f"model_{i}"), config, clock.now)
    dispatchers = [_dispatcher(engine, config, clock, f"d{i}") for i in range(3)]
    barrier = threading.Barrier(len(dispatchers))
    delivered: list[int] = []

    def drain(dispatcher: Dispatcher) -> None:
        barrier.wait()
        while (stats := dispatcher.dispatch_once()).claimed:
            delivered.append(stats.delivered)

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(delivered) == 12
    assert sorted(m["text"].split(":")[0] for m in slack.messages) == sorted(
        f"[ALERT] model_{i}" for i in range(12)
    )
