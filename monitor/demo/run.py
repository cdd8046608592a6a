"""``driftwatch demo`` end to end: start clean, train, generate traffic, replay, tell the story.

The demo reads everything it needs from the config: the store (it must be SQLite: the demo
starts from an empty one), the reports directory, the model's file sources (where the
serving system writes its logs), its decision threshold, and its reference period (the
first clean days of the scenario). With ``SLACK_BOT_TOKEN`` and ``DRIFTWATCH_SLACK_CHANNEL``
set in the environment, alerts also go to that Slack channel.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from alerts.config import SlackReceiver
from monitor.config import Config, ModelConfig
from monitor.demo.model import FraudModel, train_model
from monitor.demo.replay import ReplayResult, run_replay
from monitor.demo.scenario import Scenario, demo_scenario, small_scenario
from monitor.demo.serving import LogWriter, ServingSystem
from monitor.demo.verdict import Detection, clean_period_alerts, detect, summary

SLACK_TOKEN_ENV = "SLACK_BOT_TOKEN"
SLACK_CHANNEL_ENV = "DRIFTWATCH_SLACK_CHANNEL"


class DemoConfigError(ValueError):
    """The config cannot drive the demo (not SQLite, no fixed reference period, no file sources)."""


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo writes: the SQLite file, the two log directories, the reports."""

    database: Path
    predictions: Path
    outcomes: Path
    reports: Path


@dataclass(frozen=True)
class DemoOutcome:
    """Everything the demo did: the scenario, the model, each evaluation, each detection."""

    scenario: Scenario
    model: FraudModel
    replay: ReplayResult
    detections: list[Detection]
    clean_alerts: int
    index: Path
    seconds: float


def _source_dir(model: ModelConfig, kind: str, filename: str) -> Path:
    for source in model.sources:
        if source.kind == kind and source.type == "files" and source.path:
            pattern = Path(source.path)
            if not fnmatch.fnmatch(filename, pattern.name):
                raise DemoConfigError(
                    f"the {kind} source path {source.path!r} must match files like {filename!r}"
                )
            return pattern.parent
    raise DemoConfigError(f"model {model.name!r} needs a files source of kind {kind!r} (where the demo logs)")


def demo_paths(config: Config, model: ModelConfig) -> DemoPaths:
    """The demo's output locations, from the config.

    :raises DemoConfigError: the store is not a SQLite file, or a file source is missing.
    """
    url = make_url(config.store.resolved_url())
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise DemoConfigError('the demo needs a SQLite file store ([store] url = "sqlite:///...")')
    return DemoPaths(
        database=Path(url.database).resolve(),
        predictions=_source_dir(model, "predictions", "2026-03-02.parquet").resolve(),
        outcomes=_source_dir(model, "outcomes", "2026-03-02.csv").resolve(),
        reports=Path(config.reports.dir).resolve(),
    )


def start_clean(paths: DemoPaths) -> None:
    """Remove the output of a previous demo run: the store, the log files, the reports."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{paths.database}{suffix}").unlink(missing_ok=True)
    for directory, pattern in ((paths.predictions, "*.parquet"), (paths.outcomes, "*.csv")):
        for old in directory.glob(pattern):
            old.unlink()
    shutil.rmtree(paths.reports, ignore_errors=True)
    paths.database.parent.mkdir(parents=True, exist_ok=True)


def scenario_for(model: ModelConfig, *, small: bool = False) -> Scenario:
    """The scenario, aligned on the model's fixed reference period (its clean first days).

    :raises DemoConfigError: the reference is not a fixed period of whole days.
    """
    ref = model.reference
    if ref.kind != "period" or ref.start is None or ref.end is None:
        raise DemoConfigError("the demo needs a fixed reference period (models.reference start and end)")
    start = ref.start if ref.start.tzinfo else ref.start.replace(tzinfo=UTC)
    end = ref.end if ref.end.tzinfo else ref.end.replace(tzinfo=UTC)
    days = (end - start) / timedelta(days=1)
    if days != int(days) or start != start.replace(hour=0, minute=0, second=0, microsecond=0):
        raise DemoConfigError("the demo's reference period must be whole days starting at midnight UTC")
    make = small_scenario if small else demo_scenario
    return make(start.astimezone(UTC), int(days))


def with_slack(config: Config, environ: Mapping[str, str]) -> tuple[Config, str | None]:
    """``config`` plus a Slack receiver on the root route when the token and channel are set."""
    channel = environ.get(SLACK_CHANNEL_ENV)
    if not environ.get(SLACK_TOKEN_ENV) or not channel:
        return config, None
    alerts = config.alerts
    slack = SlackReceiver(name="slack", type="slack", channel=channel, token_env=SLACK_TOKEN_ENV)
    receivers = [r for r in alerts.receivers if r.name != "slack"] + [slack]
    route = alerts.route.model_copy(update={"receivers": [*alerts.route.receivers, "slack"]})
    alerts = alerts.model_validate({**alerts.model_dump(), "receivers": [r.model_dump() for r in receivers],
                                    "route": route.model_dump(by_alias=True)})  # fmt: skip
    return config.model_copy(update={"alerts": alerts}), channel


def _model_card_notes(model: ModelConfig, trained: FraudModel) -> list[str]:
    notes = [f"  config threshold {model.threshold:.2f} (training found {trained.best_threshold:.2f})"]
    if model.importance:
        total = sum(model.importance.values()) or 1.0
        top = sorted(model.importance, key=lambda k: -model.importance[k])[:3]
        shares = ", ".join(f"{k} {model.importance[k] / total:.0%}" for k in top)
        notes[0] += f"; config importance: {shares}"
    return notes


def run_demo(
    config: Config,
    model: ModelConfig,
    *,
    small: bool = False,
    out: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> DemoOutcome:
    """Run the whole demo and return what happened (the story goes to ``out``)."""
    stream = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    scenario = scenario_for(model, small=small)
    paths = demo_paths(config, model)
    start_clean(paths)
    config, channel = with_slack(config, os.environ if environ is None else environ)
    say(scenario.timeline())
    say()
    trained = train_model(scenario.training_rows, seed=scenario.seed)
    say("Model: " + trained.card())
    for note in _model_card_notes(model, trained):
        say(note)
    traffic = ServingSystem(scenario, trained, threshold=model.threshold).traffic()
    writer = LogWriter(traffic, scenario, paths.predictions, paths.outcomes)
    say(
        f"Traffic: {len(traffic.predictions):,} predictions and {len(traffic.outcomes):,} outcomes "
        f"(chargebacks 1-{scenario.dispute_days} days late, undisputed payments confirmed after "
        f"{scenario.dispute_days}), logged day by day under {paths.predictions.parent}"
    )
    say("Alerts: console" + (f" and Slack channel {channel}" if channel else f" (set {SLACK_TOKEN_ENV} and "
        f"{SLACK_CHANNEL_ENV} to also post to Slack)"))  # fmt: skip
    say()
    started = time.perf_counter()
    replay = run_replay(config, model, scenario, writer, out=stream)
    seconds = time.perf_counter() - started
    detections = detect(scenario, replay.evaluations)
    clean = clean_period_alerts(scenario, replay.evaluations)
    index = paths.reports / "index.html"
    say()
    say(summary(scenario, detections, model.window.nominal))
    say(f"  Clean weeks: {'no alerts' if not clean else f'{len(clean)} window(s) raised alerts'}")
    for failure in replay.failures:
        say(f"  FAILED: {failure}")
    say()
    say(f"Replayed {scenario.days} days in {seconds:.0f} s. Report index: {index}")
    return DemoOutcome(scenario, trained, replay, detections, len(clean), index, seconds)
