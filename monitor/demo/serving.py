"""The serving system of the demo: scores each day's transactions and logs them as daily files.

Per day it draws the transactions of that day from the world (with the faults of the day
applied), scores them with the deployed model, decides (``prediction`` = 1 sends the payment
to review), and records the latency of each request. Labels follow the card network's
dispute window: a fraudulent payment is charged back one to ``dispute_days`` days later (most
within three days); a payment nobody disputed is confirmed legitimate when its window closes,
``dispute_days`` days after it was made. About 3% of the outcomes never reach the log. The
logs are what a real serving system would write:

- ``predictions/<date>.parquet``: one row per request of that day (id, timestamp as ISO
  text, model version, the features, score, prediction, latency, error flag), including a
  few malformed rows (a missing score, an infinite amount, an unreadable timestamp, a
  probability above one, a negative latency) that driftwatch quarantines;
- ``outcomes/<date>.csv``: the outcomes that arrived that day (id, arrival timestamp, label),
  now and then with an unreadable label.

All days are generated up front from one seed (the same data on every run); each day's
files are written only when the simulated clock has passed that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from monitor.demo.model import FraudModel
from monitor.demo.scenario import Fault, Scenario
from monitor.demo.world import FEATURES, draw_labels, fraud_probability, sample_transactions

#: Odds multiplier of the calibration fault: model 1.1.0 deflates every probability.
CALIBRATION_ODDS = 1 / 3
#: The fraud wave multiplies the share of fraud by this.
FRAUD_WAVE_FACTOR = 3.0
#: Share of transactions of the targeted country taken over in the segment fault.
TAKEOVER_SHARE = 0.3
TAKEOVER_COUNTRY = "BR"
#: The latency fault multiplies every request's latency by this.
LATENCY_FACTOR = 2.3
TIMEOUT_MS = 400.0
NEVER_LABELLED = 0.03
WEEKEND_VOLUME = 0.85


@dataclass(frozen=True)
class Traffic:
    """Every logged request and every outcome of the scenario (outcomes with arrival times)."""

    predictions: pd.DataFrame
    outcomes: pd.DataFrame


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class ServingSystem:
    """Generates the scenario's traffic with ``model`` deciding at ``threshold``."""

    def __init__(self, scenario: Scenario, model: FraudModel, *, threshold: float) -> None:
        self.scenario = scenario
        self.model = model
        self.threshold = threshold

    def version(self, day: int) -> str:
        """The deployed model version: 1.1.0 during the calibration fault, 1.1.1 (fixed) after it."""
        fault = self.scenario.fault("calibration")
        if fault is None or day < fault.start_day:
            return self.model.version
        return "1.1.0" if fault.active(day) else "1.1.1"

    def day(self, day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The logged predictions and the outcomes (with arrival times) of one day."""
        scenario = self.scenario
        rng = np.random.default_rng([scenario.seed, day])
        start = scenario.day_start(day)
        volume = scenario.daily_volume * (WEEKEND_VOLUME if start.weekday() >= 5 else 1.0)
        n = int(rng.poisson(volume))
        active = {f.kind: f for f in scenario.active(day)}
        frame, y = self._transactions(rng, n, day, active)
        frame["timestamp"] = [
            start + timedelta(hours=int(h), seconds=float(s))
            for h, s in zip(frame["hour_of_day"], rng.uniform(0, 3600, n), strict=True)
        ]
        order = np.argsort(frame["timestamp"].to_numpy(), kind="stable")
        frame, y = frame.iloc[order].reset_index(drop=True), y[order]
        frame.insert(0, "id", [f"tx-{start:%Y%m%d}-{i:05d}" for i in range(n)])
        score = self.model.score(frame)
        if "calibration" in active:
            score = _sigmoid(_logit(score) + np.log(CALIBRATION_ODDS))
        latency = np.exp(rng.normal(np.log(30.0), 0.35, n))
        slow = rng.random(n) < 0.03
        latency[slow] += np.exp(rng.normal(np.log(70.0), 0.4, int(slow.sum())))
        if "latency" in active:
            latency *= LATENCY_FACTOR
        predictions = pd.DataFrame(
            {
                "id": frame["id"],
                "timestamp": frame["timestamp"],
                "model_version": self.version(day),
                **{c: frame[c] for c in FEATURES},
                "score": np.round(score, 6),
                "prediction": (score >= self.threshold).astype(int),
                "latency_ms": np.round(latency, 1),
                "error": (latency > TIMEOUT_MS) | (rng.random(n) < 0.0005),
            }
        )
        window_hours = 24.0 * scenario.dispute_days
        chargeback_hours = np.minimum(24.0 + rng.gamma(2.0, 20.0, n), window_hours)
        delay_hours = np.where(y == 1, chargeback_hours, window_hours)
        arrives = pd.to_datetime(frame["timestamp"]) + pd.to_timedelta(delay_hours, unit="h")
        outcomes = pd.DataFrame({"id": frame["id"], "timestamp": arrives, "label": y})
        outcomes = outcomes[rng.random(n) >= NEVER_LABELLED]
        return predictions, outcomes.reset_index(drop=True)

    def _transactions(
        self, rng: np.random.Generator, n: int, day: int, active: dict[str, Fault]
    ) -> tuple[pd.DataFrame, np.ndarray]:
        conditions = self.scenario.conditions(day)
        if "class_balance" not in active:
            frame = sample_transactions(rng, n, conditions)
            y = draw_labels(rng, fraud_probability(frame))
        else:
            # Prior shift: P(x | y) as usual, P(y) multiplied; drawn by class from a larger pool.
            pool = sample_transactions(rng, 4 * n, conditions)
            p = fraud_probability(pool)
            y_pool = draw_labels(rng, p)
            n_fraud = int(rng.binomial(n, min(0.5, FRAUD_WAVE_FACTOR * p.mean())))
            fraud = rng.choice(np.flatnonzero(y_pool == 1), size=n_fraud, replace=False)
            legit = rng.choice(np.flatnonzero(y_pool == 0), size=n - n_fraud, replace=False)
            chosen = rng.permutation(np.concatenate([fraud, legit]))
            frame, y = pool.iloc[chosen].reset_index(drop=True), y_pool[chosen]
        if "segment" in active:
            taken = (frame["country"] == TAKEOVER_COUNTRY).to_numpy() & (rng.random(n) < TAKEOVER_SHARE)
            y = np.where(taken, 1, y)
        return frame, y

    def traffic(self) -> Traffic:
        """Every day of the scenario."""
        days = [self.day(d) for d in range(self.scenario.days)]
        return Traffic(
            predictions=pd.concat([p for p, _ in days], ignore_index=True),
            outcomes=pd.concat([o for _, o in days], ignore_index=True),
        )


def _malformed(frame: pd.DataFrame, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """``frame`` with ``k`` rows broken the ways real logs break (copied, not in place)."""
    out = frame.copy()
    out["timestamp"] = out["timestamp"].map(lambda t: t.isoformat())
    rows = rng.choice(len(out), size=min(k, len(out)), replace=False)
    breaks = [
        ("score", np.nan),
        ("amount", np.inf),
        ("timestamp", "2026-13-45T99:00:00"),
        ("score", 1.7),
        ("latency_ms", -3.0),
    ]
    for i, row in enumerate(rows):
        column, value = breaks[i % len(breaks)]
        out.loc[out.index[row], column] = value
    return out


class LogWriter:
    """Writes the logs of each day as the simulated clock passes it."""

    def __init__(
        self, traffic: Traffic, scenario: Scenario, predictions_dir: Path, outcomes_dir: Path
    ) -> None:
        self.scenario = scenario
        self.predictions_dir = predictions_dir
        self.outcomes_dir = outcomes_dir
        self.predictions_dir.mkdir(parents=True, exist_ok=True)
        self.outcomes_dir.mkdir(parents=True, exist_ok=True)
        ts = pd.to_datetime(traffic.predictions["timestamp"], utc=True)
        self._predictions = traffic.predictions.assign(_day=(ts - pd.Timestamp(scenario.start)).dt.days)
        arrives = pd.to_datetime(traffic.outcomes["timestamp"], utc=True)
        self._outcomes = traffic.outcomes.assign(_day=(arrives - pd.Timestamp(scenario.start)).dt.days)

    def write_day(self, day: int) -> tuple[int, int]:
        """Write the predictions logged on ``day`` and the outcomes that arrived on it; row counts."""
        rng = np.random.default_rng([self.scenario.seed, day, 1])
        date = self.scenario.day_start(day)
        predictions = self._predictions[self._predictions["_day"] == day].drop(columns="_day")
        logged = _malformed(predictions, self.scenario.malformed_per_day, rng)
        logged.to_parquet(self.predictions_dir / f"{date:%Y-%m-%d}.parquet", index=False)
        outcomes = self._outcomes[self._outcomes["_day"] == day].drop(columns="_day")
        written = outcomes.assign(timestamp=outcomes["timestamp"].map(lambda t: t.isoformat()))
        written = written.astype({"label": object})
        if len(written) and day % 3 == 2:
            written.iloc[int(rng.integers(len(written))), written.columns.get_loc("label")] = "disputed"
        written.to_csv(self.outcomes_dir / f"{date:%Y-%m-%d}.csv", index=False)
        return len(logged), len(written)


def day_of(moment: datetime, scenario: Scenario) -> int:
    """The scenario day that ``moment`` falls in."""
    return (moment - scenario.start) // timedelta(days=1)
