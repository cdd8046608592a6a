"""Every config key broken in turn: ``driftwatch validate`` exits 2 and names the key path.

The keys are not listed by hand: they are walked from the pydantic models of
:mod:`monitor.config` (every field of every section, of a model, a source, each receiver type,
a child route), starting from a config in which every section is present. Each key gets a value
of the wrong shape, and each section an unknown key.
"""

from __future__ import annotations

import copy
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from alerts.config import ConsoleReceiver, RouteConfig, SlackReceiver, WebhookReceiver
from monitor.cli import main
from monitor.config import Config

BASE = """
[store]
url = "sqlite:///dw.db"
url_env = "DW_STORE_URL"
[reports]
dir = "reports"
[server]
ingest_token_env = "DW_INGEST_TOKEN"
[daemon]
timezone = "UTC"
[alerts]
resolve_after_windows = 2
[alerts.route]
receivers = ["console"]
[[alerts.route.routes]]
match = { severity = "alert" }
receivers = ["slack"]
[[alerts.receivers]]
name = "console"
type = "console"
[[alerts.receivers]]
name = "slack"
type = "slack"
channel = "#alerts"
token_env = "SLACK_BOT_TOKEN"
[[alerts.receivers]]
name = "hook"
type = "webhook"
url_env = "HOOK_URL"
secret_env = "HOOK_SECRET"
[alerts.delivery]
batch_size = 100

[[models]]
name = "fraud"
features = { numeric = ["amount"], categorical = ["country"], categories = { country = ["US"] } }
segments = ["country"]
importance = { amount = 1.0 }
[models.reference]
trailing = "7d"
[models.drift]
columns = { amount = { method = "psi" } }
[models.performance]
min_delta = { roc_auc = 0.02 }
[[models.sources]]
path = "incoming/*.csv"
"""

#: A value of the wrong shape for every field: a table where a scalar or list is expected, and
#: for a table-valued field an entry whose value is a list of a table.
WRONG = {"wrong": [{"shape": 1}]}

#: Where each receiver type sits in BASE's ``alerts.receivers``.
RECEIVERS = {ConsoleReceiver: 0, SlackReceiver: 1, WebhookReceiver: 2}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin is list or any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None))


def key_paths(
    model: type[BaseModel], prefix: tuple[Any, ...] = (), seen: frozenset = frozenset()
) -> list[tuple]:
    """Every field path below ``model`` (list items at index 0; receivers at their BASE index)."""
    out: list[tuple] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = (*prefix, key)
        out.append(path)
        if key == "receivers" and model.__name__ == "AlertsConfig":
            for receiver, index in RECEIVERS.items():
                out += key_paths(receiver, (*path, index), seen)
            continue
        child = _model_of(field.annotation)
        if child is None or child in seen or typing.get_origin(field.annotation) is dict:
            continue
        if child is RouteConfig and RouteConfig in seen:
            continue
        out += key_paths(child, (*path, 0) if _is_list(field.annotation) else path, seen | {child})
    return out


def _text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _set(data: dict[str, Any], path: tuple, value: Any) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part] if isinstance(part, int) else node.setdefault(part, {})
    node[path[-1]] = value


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def dump(data: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer (tomllib only reads): tables, arrays of tables, inline values."""
    lines, tables = [], []
    for key, value in data.items():
        if (isinstance(value, dict) and any(isinstance(v, dict | list) for v in value.values())) or (
            isinstance(value, dict) and prefix == ""
        ):
            tables.append((key, value, False))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value, True))
        else:
            lines.append(f'"{key}" = {_toml(value)}')
    for key, value, many in tables:
        name = f"{prefix}.{key}" if prefix else key
        for item in value if many else [value]:
            lines.append(f"\n[[{name}]]" if many else f"\n[{name}]")
            lines.append(dump(item, name))
    return "\n".join(lines)


PATHS = key_paths(Config)
SECTIONS = sorted({p[:-1] for p in PATHS if p[:-1]}, key=_text)


def test_the_walk_covers_every_section_and_the_writer_round_trips() -> None:
    base = tomllib.loads(BASE)
    assert tomllib.loads(dump(base)) == base
    assert len(PATHS) > 150
    for needed in ("models[0].sources[0].batch_size", "alerts.receivers[2].secret_env", "daemon.log_level"):
        assert needed in {_text(p) for p in PATHS}


@pytest.fixture(scope="module")
def base_ok(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(dump(tomllib.loads(BASE)), encoding="utf-8")
    assert main(["--config", str(path), "validate"]) == 0
    return path


@pytest.mark.parametrize("path", PATHS, ids=_text)
def test_a_wrong_value_at_any_key_exits_2_naming_the_key(
    path: tuple, tmp_path: Path, base_ok: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(tomllib.loads(BASE))
    _set(data, path, WRONG)
    config = tmp_path / "config.toml"
    config.write_text(dump(data), encoding="utf-8")
    assert main(["--config", str(config), "validate"]) == 2
    err = capsys.readouterr().err
    assert _text(path) in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("section", SECTIONS, ids=_text)
def test_an_unknown_key_in_any_section_exits_2_naming_it(
    section: tuple, tmp_path: Path, base_ok: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy.deepcopy(tomllib.loads(BASE))
    _set(data, (*section, "no_such_key"), 1)
    config = tmp_path / "config.toml"
    config.write_text(dump(data), encoding="utf-8")
    assert main(["--config", str(config), "validate"]) == 2
    err = capsys.readouterr().err
    assert f"{_text((*section, 'no_such_key'))}: unknown key" in err, err
