"""The config files shipped with driftwatch are valid, and config errors name file and key."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.cli import main
from monitor.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", ["config.toml", "demo/config.toml", "monitor/templates/config.toml"])
def test_shipped_configs_are_valid(path):
    config = load_config(ROOT / path)
    assert config.models


def test_init_writes_a_config_that_validates(tmp_path, capsys):
    target = tmp_path / "config.toml"
    assert main(["--config", str(target), "init"]) == 0
    assert main(["--config", str(target), "validate"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["--config", str(target), "init"]) == 2  # never overwrites without --force


def test_errors_name_the_file_and_the_key_path(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[models]]\nname = "fraud"\nsegments = ["regoin"]\n[models.features]\nnumeric = ["amount"]\n'
        '[models.reference]\ntrailing = "7d"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert (
        str(err.value) == f"{bad}: models[0].segments[0]: unknown column 'regoin' (declare it under features)"
    )
    assert main(["--config", str(bad), "validate"]) == 2
    assert "models[0].segments[0]" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.toml"), "validate"]) == 2


def test_a_misspelled_key_gets_the_closest_key_of_its_table(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[store]\nurll = "sqlite:///a.db"\n[[models]]\nname = "fraud"\nwindwo = "1d"\nzzz = 1\n'
        '[models.features]\nnumeric = ["amount"]\n[models.performance]\nmin_delat = { roc_auc = 0.1 }\n'
        '[[alerts.receivers]]\nname = "s"\ntype = "slack"\nchanel = "#x"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    lines = set(str(err.value).splitlines())
    assert f"{bad}: store.urll: unknown key (did you mean 'url'?)" in lines
    assert f"{bad}: models[0].windwo: unknown key (did you mean 'window'?)" in lines
    assert f"{bad}: models[0].zzz: unknown key" in lines  # nothing near: no guess
    assert f"{bad}: models[0].performance.min_delat: unknown key (did you mean 'min_delta'?)" in lines
    assert f"{bad}: alerts.receivers[0].chanel: unknown key (did you mean 'channel'?)" in lines


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of the config schema, as a dotted path, sections included."""
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        out.append(path)
        for kind in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (kind, *typing.get_args(kind)):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner is not model:
                    out += _keys(inner, f"{path}.")
    return out


def test_every_config_key_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    def documented(path: str) -> bool:
        parts = path.split(".")
        suffixes = (".".join(parts[i:]) for i in range(len(parts)))
        return f"[{path}]" in readme or any(f"`{suffix}" in readme for suffix in suffixes)

    undocumented = [path for path in dict.fromkeys(_keys(Config)) if not documented(path)]
    assert not undocumented, f"README.md does not document: {undocumented}"


def test_a_performance_bootstrap_too_small_for_alpha_is_a_config_error(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(
        '[[models]]\nname = "m"\n[models.features]\nnumeric = ["x"]\n'
        "[models.performance]\nn_resamples = 100\nalpha = 0.05\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "validate"]) == 2
    err = capsys.readouterr().err
    assert "models[0].performance" in err and "use at least 160" in err
