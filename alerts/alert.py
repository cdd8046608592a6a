"""Alerts: what a run's findings become before routing (Alertmanager's labels/annotations split).

An alert's identity is its sorted labels ``model``, ``check``, ``subject``; severity and the
numbers are annotations, so an alert that worsens from warn to alert stays the same alert.

>>> from datetime import datetime
>>> from checks.result import CheckResult, Finding, ModelRun
>>> f = Finding(subject="feature:amount", method="psi", statistic=0.31, threshold=0.2, severity="alert")
>>> run = ModelRun("fraud", datetime(2026, 1, 1), datetime(2026, 1, 2), {},
...                (CheckResult("drift", "alert", findings=(f,)),))
>>> [a.labels for a in alerts_from_run(run)]
[{'check': 'drift', 'model': 'fraud', 'subject': 'feature:amount'}]
>>> same = fingerprint({"subject": "feature:amount", "model": "fraud", "check": "drift"})
>>> same == alerts_from_run(run)[0].fingerprint
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.result import ModelRun, jsonable

ALERTING_SEVERITIES = frozenset({"warn", "alert"})
SEVERITY_RANK = {"warn": 1, "alert": 2}


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit identity of a label set (order-independent)."""
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One finding that warrants an alert: identity labels plus the evidence to show."""

    labels: Mapping[str, str]
    severity: str
    annotations: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def model(self) -> str:
        return self.labels["model"]

    @property
    def check(self) -> str:
        return self.labels["check"]


def alerts_from_run(run: ModelRun) -> list[Alert]:
    """The alerts of a run: one per warn/alert finding; the worse one wins on a repeated subject."""
    by_fp: dict[str, Alert] = {}
    for result in run.checks:
        for finding in result.findings:
            if finding.severity not in ALERTING_SEVERITIES:
                continue
            labels = dict(
                sorted({"model": run.model, "check": result.check, "subject": finding.subject}.items())
            )
            annotations = jsonable(
                {
                    "message": finding.message,
                    "method": finding.method,
                    "statistic": finding.statistic,
                    "threshold": finding.threshold,
                    "p_value": finding.p_value,
                    "effect_size": finding.effect_size,
                    "evidence": dict(finding.evidence),
                }
            )
            alert = Alert(labels=labels, severity=finding.severity, annotations=annotations)
            known = by_fp.get(alert.fingerprint)
            if known is None or SEVERITY_RANK[alert.severity] > SEVERITY_RANK[known.severity]:
                by_fp[alert.fingerprint] = alert
    return list(by_fp.values())


def evaluated_checks(run: ModelRun) -> frozenset[str]:
    """Checks that actually ran in ``run``; a skipped check says nothing about its alerts."""
    return frozenset(c.check for c in run.checks if c.status != "skipped")
