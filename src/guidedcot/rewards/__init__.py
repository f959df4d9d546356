"""Rewards of the RL step: the reader's answer (`R_taskAcc`) and the rationale's quality (`R_aspect`).

Every reward is a callable ``(prompts, completions, **columns) -> list[float | None]`` with the
dataset columns ``question``, ``context`` and ``answers``: it plugs into our RL loop and into TRL's
GRPOTrainer unchanged. Model calls are batched and go through whatever cache the models carry.
"""

from guidedcot.rewards.aspects import AspectJudge, AspectReward, AspectScores, parse_verdict, yes_share
from guidedcot.rewards.columns import completion_text, read_columns
from guidedcot.rewards.combine import (
    GatedAspectReward,
    RewardBatch,
    RewardMode,
    RewardSet,
    reward_set,
    total_rewards,
)
from guidedcot.rewards.task import TaskMetric, TaskReward

__all__ = [
    "AspectJudge",
    "AspectReward",
    "AspectScores",
    "GatedAspectReward",
    "RewardBatch",
    "RewardMode",
    "RewardSet",
    "TaskMetric",
    "TaskReward",
    "completion_text",
    "parse_verdict",
    "read_columns",
    "reward_set",
    "total_rewards",
    "yes_share",
]
