"""Command-line flags that set a config field: their help is the field's (one home), their values land
in the field (dotted into sections), a left-out flag keeps the config's value, and the config checks them."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from guidedcot.cli.app import app
from guidedcot.config import field_help, load_config, set_fields
from guidedcot.errors import ConfigError
from guidedcot.evaluate import EvaluateConfig
from guidedcot.rl.config import RLConfig


def test_a_fields_help_is_found_by_its_dotted_key_and_a_missing_one_is_an_error() -> None:
    limit = next(f for f in dataclasses.fields(EvaluateConfig) if f.name == "limit")
    assert field_help(EvaluateConfig, "limit") == limit.metadata["help"]
    assert "URL" in field_help(EvaluateConfig, "reader.model")  # a section's field
    with pytest.raises(KeyError, match="no field 'limits'"):
        field_help(EvaluateConfig, "limits")
    with pytest.raises(KeyError, match="not a section"):
        field_help(EvaluateConfig, "limit.model")


def test_set_fields_sets_given_values_keeps_the_rest_and_checks_the_result(tmp_path: object) -> None:
    config = load_config(EvaluateConfig, None, ["limit=7", "split=train", "reader.n_ctx=2048"])
    flags = {"limit": None, "split": "dev", "reader.model": "http://x/v1", "out": tmp_path}
    config = set_fields(config, flags)
    got = (config.limit, config.split, config.reader.model, config.out)
    assert got == (7, "dev", "http://x/v1", str(tmp_path))
    assert config.reader.n_ctx == 2048  # the section keeps the keys no flag named
    with pytest.raises(ConfigError, match="config key 'limit' must be >= 1"):
        set_fields(config, {"limit": 0})  # the field's declared minimum
    with pytest.raises(ConfigError, match=r"unknown config key 'reader\.nope'"):
        set_fields(config, {"reader.nope": 1})


@pytest.mark.parametrize(
    ("command", "flag", "cls", "key"),
    [(["evaluate"], "--limit", EvaluateConfig, "limit"), (["predict"], "--data-dir", EvaluateConfig, "data_dir"),
     (["rl"], "--algo", RLConfig, "algo"), (["rl"], "--steps", RLConfig, "steps")],
)  # fmt: skip
def test_help_of_a_flag_is_its_config_fields_help(command: list[str], flag: str, cls: type, key: str) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if f" {flag} " in line)
    assert field_help(cls, key) in " ".join(line.split())
