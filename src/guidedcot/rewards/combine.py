"""The reward variants the method compares: task only, aspect only, task + aspect (weighted sum), and
gated (the aspect reward counts only when the reader's answer is right).

Each variant is a list of reward functions with weights, exactly what TRL's trainers take as
``reward_funcs`` and ``reward_weights``; `RewardSet` sums them the way TRL does (a function's
None, "does not apply", adds nothing), so our RL loop and TRL's GRPOTrainer see the same rewards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from guidedcot.config import member
from guidedcot.errors import ConfigError
from guidedcot.rewards.aspects import AspectReward
from guidedcot.rewards.columns import read_columns
from guidedcot.rewards.task import TaskReward


class RewardMode(StrEnum):
    """Which rewards an RL step sums."""

    TASK = "task"
    ASPECT = "aspect"
    TASK_ASPECT = "task+aspect"
    GATED = "gated"
    """The task reward, plus the aspect reward only where the answer is right."""


RewardFunction = Callable[..., list[float | None]]


class GatedAspectReward:
    """`R_aspect` where the reader answers the question right from the rationale (EM), else None.

    Only the rationales that led to a right answer are sent to the judge.
    """

    def __init__(self, task: TaskReward, aspect: AspectReward) -> None:
        self.task = task
        self.aspect = aspect
        self.__name__ = "aspect_if_correct"

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **columns: Any
    ) -> list[float | None]:
        questions, rationales, answers = read_columns(completions, columns)
        correct = self.task.scores(questions, rationales, answers, metric="em")
        chosen = [i for i, c in enumerate(correct) if c == 1.0]
        judged = self.aspect.judge.judge_all([questions[i] for i in chosen], [rationales[i] for i in chosen])
        totals: list[float | None] = [None] * len(completions)
        for i, scores in zip(chosen, judged, strict=True):
            totals[i] = scores.total
        return totals


@dataclass
class RewardBatch:
    """The summed reward per completion and every function's own values (None: does not apply)."""

    total: list[float]
    components: dict[str, list[float | None]] = field(default_factory=dict)


@dataclass
class RewardSet:
    """Reward functions with weights; calling it sums them per completion as TRL does."""

    functions: list[RewardFunction]
    weights: list[float]

    @property
    def names(self) -> list[str]:
        """Each function's name (its ``__name__``), as logged."""
        return [getattr(f, "__name__", type(f).__name__) for f in self.functions]

    def __call__(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any], **columns: Any
    ) -> RewardBatch:
        components = {
            name: list(function(prompts=prompts, completions=completions, **columns))
            for name, function in zip(self.names, self.functions, strict=True)
        }
        return RewardBatch(total_rewards(list(components.values()), self.weights), components)


def total_rewards(values: Sequence[Sequence[float | None]], weights: Sequence[float]) -> list[float]:
    """Per completion, the weighted sum over functions of the values that apply (None adds nothing)."""
    if len(values) != len(weights):
        raise ConfigError(f"{len(values)} reward functions but {len(weights)} weights")
    rows = zip(*values, strict=True)
    return [sum(w * v for w, v in zip(weights, row, strict=True) if v is not None) for row in rows]


def reward_set(
    mode: RewardMode | str,
    *,
    task: TaskReward | None = None,
    aspect: AspectReward | None = None,
    task_weight: float = 1.0,
    aspect_weight: float = 1.0,
) -> RewardSet:
    """The functions and weights of a reward variant: ``task``, ``aspect``, ``task+aspect`` or ``gated``."""
    mode = member(RewardMode, mode, "reward")
    needs_task, needs_aspect = mode != "aspect", mode != "task"
    if (needs_task and task is None) or (needs_aspect and aspect is None):
        raise ConfigError(f"reward {mode!r} needs a task reward and/or an aspect judge that were not given")
    if mode == "task":
        return RewardSet([task], [task_weight])  # type: ignore[list-item]
    if mode == "aspect":
        return RewardSet([aspect], [aspect_weight])  # type: ignore[list-item]
    if mode == "task+aspect":
        return RewardSet([task, aspect], [task_weight, aspect_weight])  # type: ignore[list-item]
    return RewardSet([task, GatedAspectReward(task, aspect)], [task_weight, aspect_weight])  # type: ignore[arg-type, list-item]
