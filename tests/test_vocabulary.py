"""One vocabulary: the registries of the checks and the reports speak checks/vocabulary.py, and
``driftwatch validate`` rejects names outside it with the key path and exit code 2."""

from __future__ import annotations

import pytest

from checks import vocabulary as v
from checks.drift import ALIASES, METHODS
from checks.performance import METRICS
from checks.threshold import OBJECTIVES
from monitor.cli import main
from monitor.policy.decision import LABEL_ALERT_CHECKS
from monitor.policy.signals import RANKING_METRIC, RETRAIN_METRICS
from monitor.reports.run_report import SECTIONS


def test_the_registries_implement_exactly_the_vocabulary() -> None:
    assert tuple(METHODS) == v.DRIFT_METHODS and dict(v.DRIFT_METHOD_ALIASES) == ALIASES
    assert all(target in METHODS for target in ALIASES.values())
    assert tuple(METRICS) == v.METRICS
    assert OBJECTIVES == v.THRESHOLD_OBJECTIVES and set(v.TARGET_OBJECTIVES) <= set(OBJECTIVES)
    assert tuple(SECTIONS) == v.CHECKS and set(v.PERFORMANCE_CHECKS) <= set(v.CHECKS)
    # The policy's named metrics and checks are words of the vocabulary.
    assert RETRAIN_METRICS | {RANKING_METRIC} <= set(v.METRICS)
    assert set(LABEL_ALERT_CHECKS) <= set(v.CHECKS)


MODEL = """[[models]]
name = "fraud"
task = "binary"
score_column = "score"
segments = {segments}
[models.features]
numeric = ["amount"]
categorical = ["country"]
{extra}
"""


@pytest.mark.parametrize(
    ("segments", "extra", "expected"),
    [
        (
            "[]",
            '[models.drift]\nmethod = "kss"',
            "models[0].drift.method: unknown drift method 'kss' (did you mean 'ks'?)",
        ),
        (
            "[]",
            '[models.drift.columns.amount]\nmethod = "wasserstien"',
            "models[0].drift.columns.amount.method: unknown drift method 'wasserstien' "
            "(did you mean 'wasserstein'?)",
        ),
        (
            "[]",
            "[models.performance]\nmin_delta = { roc_aucc = 0.02 }",
            "models[0].performance.min_delta.roc_aucc: unknown metric 'roc_aucc' (did you mean 'roc_auc'?)",
        ),
        (
            "[]",
            '[models.threshold_check]\nobjective = "youden"',
            "models[0].threshold_check.objective: unknown threshold objective 'youden'; "
            "known: cost, f1, precision_at, recall_at",
        ),
        (
            '["country", "regoin"]',
            "",
            "models[0].segments[1]: unknown column 'regoin' (declare it under features)",
        ),
    ],
)
def test_validate_rejects_unknown_names_with_the_key_path(
    tmp_path, capsys, segments: str, extra: str, expected: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(MODEL.format(segments=segments, extra=extra), encoding="utf-8")
    assert main(["--config", str(path), "validate"]) == 2
    assert f"{path.name}: {expected}" in capsys.readouterr().err


def test_validate_accepts_evidently_aliases(tmp_path, capsys) -> None:
    path = tmp_path / "config.toml"
    extra = '[models.drift]\nmethod = "ed"\n[models.performance]\nmin_delta = { roc_auc = 0.01 }'
    path.write_text(MODEL.format(segments='["country"]', extra=extra), encoding="utf-8")
    assert main(["--config", str(path), "validate"]) == 0
    assert "OK (1 model(s): fraud)" in capsys.readouterr().out


def test_an_alert_route_matching_an_unknown_check_is_rejected(tmp_path, capsys) -> None:
    path = tmp_path / "config.toml"
    alerts = (
        '[alerts.route]\nreceivers = ["console"]\n[[alerts.route.routes]]\n'
        'match = { check = ["drift", "calibraton"] }\nreceivers = ["console"]\n'
        '[[alerts.receivers]]\nname = "console"\ntype = "console"\n'
    )
    path.write_text(alerts + MODEL.format(segments="[]", extra=""), encoding="utf-8")
    assert main(["--config", str(path), "validate"]) == 2
    err = capsys.readouterr().err
    assert "alerts.route.routes[0].match: unknown check 'calibraton' (did you mean 'calibration'?)" in err


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("[models.drift]\nthreshold = 0.0", "models[0].drift.threshold"),
        ("[models.drift.columns.amount]\nthreshold = -0.1", "models[0].drift.columns.amount.threshold"),
    ],
)
def test_validate_rejects_a_drift_threshold_the_check_refuses(tmp_path, capsys, extra, path) -> None:
    """``column_drift`` refuses a threshold <= 0: validate says so, not every check job of the daemon."""
    config = tmp_path / "config.toml"
    config.write_text(MODEL.format(segments="[]", extra=extra), encoding="utf-8")
    assert main(["--config", str(config), "validate"]) == 2
    assert f"{config.name}: {path}" in capsys.readouterr().err
