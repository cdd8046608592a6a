"""History is recorded but not paged, and an incident is never first announced as resolved."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from alerts.config import AlertsConfig
from alerts.notification import AlertView, Notification, merge
from alerts.render import summary_line
from monitor.cli import main
from monitor.config import Config
from monitor.pipeline.runner import Runner
from monitor.store import Store, open_store
from monitor.store.alerts import alert_outbox, alert_states
from monitor.store.schema import runs
from tests.conftest import DAY, LIGHT, START, Clock, make_config, model_dict, traffic

#: Every window alerts: p95 latency over a 1 ms SLO.
SLOW = {**LIGHT, "latency": {"slo_p95_ms": 1.0}}


def _store(store_url: str, tmp_path: Path, days: int, **sections: Any) -> tuple[Config, Store]:
    config = make_config(store_url, tmp_path, [model_dict(**SLOW)], **sections)
    store = open_store(config)
    from monitor.ingest import ingest_frame

    for day in range(days):
        ingest_frame(
            store, store.models["fraud"], "predictions", traffic(day), source="t", now=START + days * DAY
        )
    return config, store


def _outbox(store: Store) -> list[Any]:
    with store.engine.connect() as conn:
        return conn.execute(select(alert_outbox).order_by(alert_outbox.c.id)).all()


def test_backfill_and_old_windows_are_recorded_but_not_paged(store_url: str, tmp_path: Path) -> None:
    config, store = _store(store_url, tmp_path, 12, alerts={"max_notify_age": "3d"})
    clock = Clock(START + 12 * DAY + timedelta(minutes=10))
    history = Runner(store, config, clock=clock, notify="none")  # `driftwatch backfill`
    for day in (4, 5, 6, 7):
        assert history.check_window(config.models[0], START + day * DAY).status == "alert"
    live = Runner(store, config, clock=clock)  # the daemon catching up: windows past 3 days are history
    for day in (8, 9, 10, 11):
        assert live.check_window(config.models[0], START + day * DAY).status == "alert"
    outbox = _outbox(store)
    with store.engine.connect() as conn:
        paged = conn.execute(select(runs.c.window_end).where(runs.c.id.in_([r.run_id for r in outbox]))).all()
    assert [end.replace(tzinfo=UTC) for (end,) in paged] == [START + 10 * DAY], "only recent windows page"
    assert outbox[0].reason == "first_notification"
    with store.engine.connect() as conn:
        states = conn.execute(select(alert_states)).all()
    assert [s.status for s in states] == ["firing"]  # alert state followed the history
    assert all((tmp_path / "reports" / "fraud").glob("*.html"))
    store.dispose()


def test_backfill_command_does_not_notify_by_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    config, store = _store(url, tmp_path, 6)
    store.dispose()
    toml = tmp_path / "config.toml"
    toml.write_text(
        f'[store]\nurl = "{url}"\n[reports]\ndir = "{tmp_path / "reports"}"\n'
        '[alerts]\nmax_notify_age = "3650d"\n'  # the windows are old, but not too old to page
        '[[models]]\nname = "fraud"\ntask = "binary"\nwindow = "1d"\nschedule = "5 0 * * *"\n'
        '[models.features]\nnumeric = ["amount", "age"]\ncategorical = ["country"]\n'
        '[models.reference]\nstart = "2026-10-01T00:00:00Z"\nend = "2026-10-03T00:00:00Z"\n'
        "[models.latency]\nslo_p95_ms = 1.0\n"
    )
    window = ["--from", (START + 3 * DAY).isoformat(), "--to", (START + 5 * DAY).isoformat()]
    assert main(["--config", str(toml), "backfill", *window]) == 0
    store = open_store(config)
    assert _outbox(store) == []
    assert main(["--config", str(toml), "backfill", "--force", "--notify", *window]) == 0
    assert len(_outbox(store)) == 1  # paged when asked to
    store.dispose()


def _view(status: str) -> AlertView:
    return AlertView("fp1", {"model": "fraud", "check": "latency"}, "alert", status, "2026-10-05T00:00:00")


def test_an_incident_is_never_first_announced_as_resolved() -> None:
    fired = Notification("model=fraud", "slack", "fraud", "first_notification", (_view("firing"),))
    resolved = Notification("model=fraud", "slack", "fraud", "resolved", (_view("resolved"),))
    merged = merge([fired, resolved])  # both pending when the receiver is reached
    assert merged.reason == "fired_and_resolved"
    assert summary_line(merged).startswith("[ALERT] fraud: 1 fired and resolved")
    assert summary_line(merge([resolved])).startswith("[RESOLVED]")  # it was announced before


def test_incident_queued_behind_history_is_announced_firing(store_url: str, tmp_path: Path) -> None:
    """Reproducer: a backfill's queued pages held back the real incident until it had resolved."""
    config, store = _store(
        store_url, tmp_path, 12, alerts={"route": {"group_interval": "5m", "group_wait": "30s"}}
    )
    clock = Clock(START + 12 * DAY + timedelta(minutes=10))
    Runner(store, config, clock=clock, notify="none").work(
        config.models[0], [START + d * DAY for d in range(4, 11)], []
    )
    assert _outbox(store) == []  # no flood of history
    Runner(store, config, clock=clock).check_window(config.models[0], START + 11 * DAY)
    outbox = _outbox(store)
    assert len(outbox) == 1 and outbox[0].next_attempt_at <= (clock() + timedelta(seconds=30)).replace(
        tzinfo=None
    )
    assert outbox[0].payload["alerts"][0]["status"] == "firing"
    store.dispose()


def test_max_notify_age_default_is_two_windows_plus_label_delay(tmp_path: Path) -> None:
    config = make_config("sqlite:///x.db", tmp_path, [model_dict(**SLOW)])
    assert AlertsConfig().max_notify_age is None
    runner = Runner(None, config)  # type: ignore[arg-type]
    model, now = config.models[0], START + 30 * DAY
    limit = 2 * model.window.nominal + model.labels.max_delay
    assert runner.pages(model, now - limit, now) and not runner.pages(model, now - limit - DAY, now)
    assert Runner(None, config, notify="all").pages(model, START, now)  # type: ignore[arg-type]
    assert not Runner(None, config, notify="none").pages(model, now, now)  # type: ignore[arg-type]


class Ticking:
    """A receiver each of whose deliveries takes ``seconds`` on a fake monotonic clock."""

    name = "console"

    def __init__(self, seconds: float) -> None:
        self.seconds, self.now, self.sent = seconds, 0.0, 0

    def monotonic(self) -> float:
        return self.now

    def identity(self) -> str:
        return "ticking"

    def deliver(self, notification: Notification) -> Any:
        from alerts.delivery import DeliveryResult

        self.now += self.seconds
        self.sent += 1
        return DeliveryResult("delivered")


def test_shutdown_delivers_what_is_due_within_the_grace_and_logs_what_remains(
    tmp_path: Path, monkeypatch: Any, caplog: Any
) -> None:
    from types import SimpleNamespace

    from monitor.alerting.recording import record_run_alerts
    from monitor.service.daemon import Daemon
    from tests.test_alerts_outbox import T0, _run

    clock = Clock(T0 + 2 * DAY)
    daemon = Daemon(make_config(f"sqlite:///{tmp_path / 'dw.db'}", tmp_path), clock=clock, serve=False)
    with daemon.store().engine.begin() as conn:
        for i in range(5):
            record_run_alerts(conn, _run(1, "amount", model=f"m{i}"), daemon.config.alerts, now=T0 + DAY)
    receiver = Ticking(seconds=10)
    daemon.connection.dispatcher.receivers["console"] = receiver  # type: ignore[union-attr]
    fake_time = SimpleNamespace(monotonic=receiver.monotonic)
    monkeypatch.setattr("monitor.service.daemon.time", fake_time)
    monkeypatch.setattr("monitor.service.housekeeping.time", fake_time)
    monkeypatch.setattr("monitor.alerting.delivery.time", fake_time)
    caplog.set_level("INFO", logger="driftwatch.daemon")
    assert daemon.shutdown(timedelta(seconds=25))  # SIGTERM
    assert receiver.sent == 3  # started at 0, 10 and 20 s; not at 30 s
    assert "Flushed the alert outbox: 3 notification(s) delivered, 2 still queued" in caplog.text
