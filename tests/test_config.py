"""Typed configs: YAML plus dotted --set overrides, with clear errors for unknown keys and bad types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from guidedcot.config import load_config
from guidedcot.data import ContextMode
from guidedcot.errors import ConfigError


@dataclass
class Inner:
    limit: int = 10
    temperature: float = 0.0
    mode: ContextMode = ContextMode.GOLD


@dataclass
class Outer:
    name: str = "x"
    methods: list[str] = field(default_factory=lambda: ["standard"])
    student: str | None = None
    quick: bool = False
    data: Inner = field(default_factory=Inner)


def test_defaults_yaml_and_overrides(tmp_path: Path) -> None:
    assert load_config(Outer) == Outer()
    path = tmp_path / "c.yaml"
    path.write_text("name: run\ndata:\n  limit: 5\n  mode: distractor\nmethods: [standard, cot]\n")
    config = load_config(
        Outer, path, ["data.limit=7", "data.temperature=1", "methods=cot,guided", "quick=true"]
    )
    assert config.name == "run" and config.quick is True
    assert config.data == Inner(limit=7, temperature=1.0, mode=ContextMode.DISTRACTOR)
    assert config.methods == ["cot", "guided"]
    assert load_config(Outer, None, ["student=null"]).student is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["nmae=1"], "unknown config key 'nmae'; known keys here: data, methods, name, quick, student"),
        (["data.limt=1"], "unknown config key 'data.limt'"),
        (["data.limit=many"], "config key 'data.limit' expects int, got 'many'"),
        (["quick=maybe"], "config key 'quick' expects true or false"),
        (["data.mode=oracle"], "'data.mode' must be one of gold, distractor; got 'oracle'"),
        (["noequals"], "expected key=value"),
        (["name.sub=1"], "'name' is a value, not a section"),
    ],
)
def test_bad_overrides(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(Outer, None, overrides)
    assert message in str(caught.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(Outer, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(Outer, listing)


def test_a_base_keeps_what_the_overrides_do_not_name(tmp_path: Path) -> None:
    base = Outer(name="quick", methods=["cot"], data=Inner(limit=3, mode=ContextMode.DISTRACTOR))
    config = load_config(Outer, None, ["data.temperature=0.5", "quick=true"], base=base)
    assert (config.name, config.methods, config.quick) == ("quick", ["cot"], True)
    assert config.data == Inner(limit=3, temperature=0.5, mode=ContextMode.DISTRACTOR)  # partial section
    assert base == Outer(name="quick", methods=["cot"], data=Inner(limit=3, mode=ContextMode.DISTRACTOR))


def test_a_named_choice_is_held_as_its_enum_however_the_config_is_built() -> None:
    from guidedcot.llm.config import Backend
    from guidedcot.rl import Algo, RLConfig

    built = RLConfig(algo="ppo")  # the Python API, text in
    loaded = load_config(RLConfig, overrides=["algo=ppo", "reader.backend=http"])
    assert built.algo is Algo.PPO and loaded.algo is Algo.PPO and loaded.reader.backend is Backend.HTTP
    with pytest.raises(ConfigError, match="'algo' must be one of ppo, grpo, rloo; got 'a2c'"):
        RLConfig(algo="a2c")
