"""The one result vocabulary of driftwatch.

Every check returns a :class:`CheckResult`; a result holds :class:`Finding` objects; the
policy turns findings into :class:`Recommendation` objects; a :class:`ModelRun` bundles all
of them for one model and one window. Reports, alerts, Prometheus metrics and the
``--json`` output all render these same objects (compute is not display).

>>> f = Finding(subject="feature:amount", method="ks", statistic=0.31, threshold=0.05,
...             p_value=1e-9, effect_size=0.31, severity="alert", message="amount drifted")
>>> r = CheckResult(check="drift", status="alert", findings=(f,))
>>> r.to_dict()["findings"][0]["subject"]
'feature:amount'
>>> CheckResult.skipped("performance", "label coverage 12% < 50%").status
'skipped'
>>> CheckResult.from_dict(r.to_dict()) == r
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from checks.details import Detail, read_details

Status = Literal["ok", "warn", "alert", "skipped"]
Severity = Literal["warn", "alert"]
Action = Literal["recalibrate", "retune_threshold", "retrain", "investigate_data", "correct_priors"]

STATUS_ORDER: dict[str, int] = {"skipped": 0, "ok": 1, "warn": 2, "alert": 3}

#: Version of the JSON document produced by :meth:`ModelRun.to_dict` (``driftwatch check --json``).
JSON_SCHEMA_VERSION = 1


def worst_status(statuses: list[str] | tuple[str, ...]) -> Status:
    """The most severe status of several (``skipped`` < ``ok`` < ``warn`` < ``alert``).

    >>> worst_status(["ok", "warn", "skipped"])
    'warn'
    >>> worst_status([])
    'ok'
    """
    if not statuses:
        return "ok"
    return max(statuses, key=lambda s: STATUS_ORDER[s])  # type: ignore[return-value]


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, datetimes, non-finite floats and typed details
    (:class:`checks.details.Detail`) to plain JSON values.

    >>> jsonable({"a": np.float64(1.5), "b": [np.int64(2), float("nan")]})
    {'a': 1.5, 'b': [2, None]}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biu":  # plain ints and bools already: no walk per element
            return value.tolist()
        if value.dtype.kind == "f":
            if np.isfinite(value).all():
                return value.tolist()
            return np.where(np.isfinite(value), value, None).tolist()
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Detail):
        return jsonable(value.to_dict())
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True)
class Finding:
    """One thing a check found about one subject.

    Parameters
    ----------
    subject : str
        What the finding is about: ``"model"``, ``"feature:<name>"``, ``"prediction"``,
        ``"segment:<column>=<value>"``, ``"latency:p99"``...
    method : str
        The statistic or metric actually used (``"ks"``, ``"psi"``, ``"roc_auc"``, ``"ece"``).
    statistic : float
        Its value on the current window.
    threshold : float
        The threshold it was compared with.
    p_value : float or None
        Where the method has one (after multiple-testing adjustment when stated in evidence).
    effect_size : float or None
        A practical-significance measure on a scale documented by the method.
    severity : {"warn", "alert"}
    message : str
        One human sentence: what is wrong.
    evidence : mapping
        Further numbers that back the finding (sample sizes, reference value, interval).
    """

    subject: str
    method: str
    statistic: float
    threshold: float
    p_value: float | None = None
    effect_size: float | None = None
    severity: Severity = "alert"
    message: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            subject=data["subject"],
            method=data["method"],
            statistic=_num(data.get("statistic")),
            threshold=_num(data.get("threshold")),
            p_value=data.get("p_value"),
            effect_size=data.get("effect_size"),
            severity=data.get("severity", "alert"),
            message=data.get("message", ""),
            evidence=data.get("evidence") or {},
        )

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "subject": self.subject,
                "method": self.method,
                "statistic": self.statistic,
                "p_value": self.p_value,
                "threshold": self.threshold,
                "effect_size": self.effect_size,
                "severity": self.severity,
                "message": self.message,
                "evidence": dict(self.evidence),
            }
        )


@dataclass(frozen=True)
class CheckResult:
    """What one check concluded over one window.

    ``metrics`` holds scalar (or small list) numbers that go to JSON and Prometheus;
    ``details`` holds larger structures for the report (histograms, curves, tables), the
    ones the reports read as the typed rows of :mod:`checks.details`; it is included in JSON
    too, under ``details``, and :meth:`from_dict` types those parts again.
    """

    check: str
    status: Status
    metrics: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def skipped(cls, check: str, reason: str, **metrics: Any) -> CheckResult:
        """A result for a check that could not run, with the reason why."""
        return cls(check=check, status="skipped", reason=reason, metrics=metrics)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            check=data["check"],
            status=data["status"],
            metrics=data.get("metrics") or {},
            findings=tuple(Finding.from_dict(f) for f in data.get("findings", ())),
            reason=data.get("reason"),
            details=read_details(data["check"], data.get("details") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check,
            "status": self.status,
            "metrics": jsonable(dict(self.metrics)),
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.details:
            out["details"] = jsonable(dict(self.details))
        return out


@dataclass(frozen=True)
class Recommendation:
    """What the findings call for, with the reasons and the evidence numbers.

    ``artifact`` is a path or identifier (a fitted recalibrator, a proposed threshold) when
    the action comes with one.
    """

    action: Action
    reasons: tuple[str, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict)
    artifact: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recommendation:
        return cls(
            action=data["action"],
            reasons=tuple(data.get("reasons", ())),
            evidence=data.get("evidence") or {},
            artifact=data.get("artifact"),
        )

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "action": self.action,
                "reasons": list(self.reasons),
                "evidence": dict(self.evidence),
                "artifact": self.artifact,
            }
        )


@dataclass(frozen=True)
class ModelRun:
    """All results for one model over one window: the unit that is stored, reported and alerted.

    ``no_action_reason`` says why the policy recommended nothing when a check warned or
    alerted (None when it recommended an action or all is well).
    """

    model: str
    window_start: datetime
    window_end: datetime
    reference: Mapping[str, Any]
    checks: tuple[CheckResult, ...]
    recommendations: tuple[Recommendation, ...] = ()
    run_id: int | None = None
    model_version: str | None = None
    report_url: str | None = None
    no_action_reason: str | None = None

    @property
    def status(self) -> Status:
        return worst_status([c.status for c in self.checks])

    def check(self, name: str) -> CheckResult | None:
        """The result of the check called ``name``, if it ran."""
        return next((c for c in self.checks if c.check == name), None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelRun:
        """Rebuild a run from :meth:`to_dict` output (e.g. as stored in the runs table)."""
        return cls(
            model=data["model"],
            window_start=datetime.fromisoformat(data["window"]["start"]),
            window_end=datetime.fromisoformat(data["window"]["end"]),
            reference=data.get("reference") or {},
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks", ())),
            recommendations=tuple(Recommendation.from_dict(r) for r in data.get("recommendations", ())),
            run_id=data.get("run_id"),
            model_version=data.get("model_version"),
            report_url=data.get("report_url"),
            no_action_reason=data.get("no_action_reason"),
        )

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "schema_version": JSON_SCHEMA_VERSION,
                "model": self.model,
                "model_version": self.model_version,
                "run_id": self.run_id,
                "status": self.status,
                "window": {"start": self.window_start, "end": self.window_end},
                "reference": dict(self.reference),
                "checks": [c.to_dict() for c in self.checks],
                "recommendations": [r.to_dict() for r in self.recommendations],
                "no_action_reason": self.no_action_reason,
                "report_url": self.report_url,
            }
        )
