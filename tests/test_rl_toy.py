"""A toy task with a known reward on the real SmolLM2: rationales that use the word "is" earn 1.
A dozen steps of PPO and of GRPO (8 rationales each) must raise the mean reward clearly above where
it started (about 0.2: SmolLM2 uses the word in about one rationale in five). In float32: the path
these thresholds were set on. (On a CPU with native bf16 the RL default is bf16 autocast, which
`tests/test_rl.py` runs for every algorithm; a PPO run of this toy under it reached +0.16 instead of
the +0.2 asked here, once, on a busy machine.)"""

from __future__ import annotations

import re
from pathlib import Path
from statistics import fmean
from typing import Any

import pytest

from guidedcot.config import load_config
from guidedcot.llm import FakeLanguageModel
from guidedcot.rewards import RewardSet, completion_text
from guidedcot.rl import RLConfig, train_rl

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # a few minutes alone; more on a shared CPU
TARGET = re.compile(r"\bis\b", re.IGNORECASE)


def names_the_target(prompts: Any = None, completions: Any = (), **_: Any) -> list[float]:
    """1.0 for a completion that uses the target word, else 0.0."""
    return [1.0 if TARGET.search(completion_text(c)) else 0.0 for c in completions]


@pytest.mark.parametrize(
    ("algo", "overrides"),
    [
        ("grpo", ["questions_per_step=2", "group_size=4"]),
        ("ppo", ["questions_per_step=4", "group_size=2", "value_coef=0.5", "whiten_rewards=true"]),
    ],
)
def test_rl_raises_a_known_reward_on_smollm2(
    algo: str, overrides: list[str], tmp_path: Path, shared_data: Path
) -> None:
    config = load_config(
        RLConfig,
        overrides=[
            f"algo={algo}", "student=smollm2", "datasets=hotpotqa:train", "limit=40", "learning_rate=3e-5",
            "steps=12", "rationale_tokens=12", "max_prompt_tokens=null", "max_context_tokens=24",
            "minibatch_size=8", "epochs_per_step=2", "target_kl=null", "temperature=1.0", "eval_limit=0",
            "save_every=100", "cache=none", "kl_coef=0.01", "bf16=false", *overrides,
        ],
    )  # fmt: skip
    config.out = str(tmp_path / algo)
    result = train_rl(
        config,
        reader=FakeLanguageModel([], name="unused"),
        data_dir=shared_data,
        count_tokens=lambda text: len(text.split()),
        rewards=RewardSet([names_the_target], [1.0]),
    )
    rewards = [r["reward_mean"] for r in result.metrics]
    start, end = fmean(rewards[:3]), fmean(rewards[-4:])
    assert end > start + 0.2, rewards
