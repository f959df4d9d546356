"""Every numeric setting has its range and every choice its list, checked when a config is built (the
Python API, a YAML file, ``--set``), naming the field with its section, before anything loads."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import pytest

from guidedcot.config import load_config
from guidedcot.demo.config import DemoConfig
from guidedcot.distill.config import GenerateConfig, TrainConfig
from guidedcot.errors import ConfigError
from guidedcot.evaluate.config import EvaluateConfig
from guidedcot.llm.config import ModelConfig
from guidedcot.rl.config import RLConfig
from guidedcot.serve.config import ServeConfig

CONFIGS = [RLConfig, TrainConfig, GenerateConfig, EvaluateConfig, DemoConfig, ServeConfig]


def numeric_fields(cls: type) -> list[dataclasses.Field[Any]]:
    hints = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return [f for f in dataclasses.fields(cls) if hints[f.name].split(" |")[0] in {"int", "float"}]


@pytest.mark.parametrize("cls", [*CONFIGS, ModelConfig])
def test_every_numeric_setting_declares_its_range(cls: type) -> None:
    unbounded = [
        f.name for f in numeric_fields(cls) if not {"min", "above", "max", "below"} & set(f.metadata)
    ]
    assert unbounded == [], f"{cls.__name__}: no range for {unbounded}"


@pytest.mark.parametrize(
    ("cls", "override", "message"),
    [
        (RLConfig, "questions_per_step=0", "config key 'questions_per_step' must be >= 1, got 0"),
        (RLConfig, "group_size=0", "'group_size' must be >= 1, got 0"),
        (RLConfig, "learning_rate=-1", "'learning_rate' must be > 0, got -1.0"),
        (RLConfig, "kl_coef=-1", "'kl_coef' must be >= 0, got -1.0"),
        (RLConfig, "epochs_per_step=0", "'epochs_per_step' must be >= 1, got 0"),
        (RLConfig, "max_context_tokens=-5", "'max_context_tokens' must be >= 1, got -5"),
        (RLConfig, "top_p=1.5", "'top_p' must be <= 1, got 1.5"),
        (RLConfig, "learning_rate=.nan", "'learning_rate' must be a finite number, got nan"),
        (RLConfig, "reader.n_parallel=0", "config key 'reader.n_parallel' must be >= 1, got 0"),
        (
            RLConfig,
            "rollout_cache=paged",
            "'rollout_cache' must be one of auto, dynamic, static; got 'paged'",
        ),
        (RLConfig, "seed=" + "9" * 5000, "seed=9999"),
        (GenerateConfig, "samples=0", "'samples' must be >= 1, got 0"),
        (GenerateConfig, "teacher.backend=vllm", "'teacher.backend' must be one of auto, llamacpp"),
        (TrainConfig, "eval_fraction=1", "'eval_fraction' must be < 1, got 1.0"),
        (TrainConfig, "criterion=bleu", "'criterion' must be one of em, f1; got 'bleu'"),
        (EvaluateConfig, "limit=-1", "'limit' must be >= 1, got -1"),
        (ServeConfig, "port=99999", "'port' must be <= 65535, got 99999"),
        (DemoConfig, "rl_group_size=1", "'rl_group_size' must be >= 2, got 1"),
    ],
)
def test_a_value_out_of_range_is_refused_naming_the_field(cls: type, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        load_config(cls, overrides=[override])
    assert len(str(raised.value)) < 200  # a huge value is never echoed in full


def test_the_python_api_checks_too_and_unset_optionals_pass() -> None:
    with pytest.raises(ConfigError, match="'steps' must be >= 1"):
        RLConfig(steps=0)
    assert RLConfig(limit=None, kl_target=None).limit is None
    assert math.isfinite(TrainConfig().learning_rate)
    with pytest.raises(ConfigError, match="group_size >= 2"):
        RLConfig(algo="grpo", group_size=1)


def test_every_named_choice_outside_a_config_is_checked_the_same_way() -> None:
    """The Python API's entry points that take a choice as text refuse a wrong one with the config's
    message, and hold a right one as the member."""
    from guidedcot.llm.factory import load_backend
    from guidedcot.rewards.combine import RewardMode, reward_set
    from guidedcot.rewards.task import TaskMetric, TaskReward

    with pytest.raises(ConfigError, match=r"config key 'backend' must be one of auto, .*; got 'vllm'"):
        load_backend("smollm2", "vllm")
    with pytest.raises(ConfigError, match=r"config key 'reward' must be one of task, .*; got 'bleu'"):
        reward_set("bleu")
    with pytest.raises(ConfigError, match="config key 'metric' must be one of em, f1, gain; got 3"):
        TaskReward(None, metric=3)  # type: ignore[arg-type]
    assert TaskReward(None, metric="f1").metric is TaskMetric.F1  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs a task reward"):
        reward_set(RewardMode.TASK)


def test_a_yaml_file_out_of_range_names_the_file_key(tmp_path: Path) -> None:
    config = tmp_path / "rl.yaml"
    config.write_text("judge:\n  aspects: [coherence]\nreader:\n  model: x\n  timeout_s: 0\n")
    with pytest.raises(ConfigError, match=re.escape("'reader.timeout_s' must be > 0, got 0.0")):
        load_config(RLConfig, config)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("steps: [" * 2000 + "]" * 2000, "nests too deeply"),
        ("steps: " + "9" * 5000, "cannot be read"),
    ],
)
def test_unreadable_yaml_gets_a_message(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(RLConfig, config)


def test_a_config_in_another_encoding_is_refused_as_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "utf16.yaml"
    config.write_text("steps: 3\n", encoding="utf-16")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(RLConfig, config)


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "--limit", "-1", "--methods", "standard"],
        ["distill", "generate", "--limit", "0"],
        ["distill", "train", "--max-steps", "-5"],
        ["rl", "--steps", "0"],
    ],
)
def test_a_command_line_option_out_of_range_ends_in_a_message_with_status_2(
    args: list[str], tmp_path: Path
) -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "guidedcot.cli.app", *args, "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "must be >=" in run.stderr and "Traceback" not in run.stderr
