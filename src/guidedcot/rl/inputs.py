"""What a run builds from its config besides the models: the reward over the reader, and the
student's prompts for the training questions (shared by the training loop and the probe)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from guidedcot.llm.types import LanguageModel
from guidedcot.pipeline import Question
from guidedcot.prompts import build_templates
from guidedcot.rewards import AspectJudge, AspectReward, RewardSet, TaskReward, reward_set
from guidedcot.rl.config import RLConfig
from guidedcot.student import fit_prompt

logger = logging.getLogger(__name__)


def build_rewards(config: RLConfig, reader: LanguageModel) -> RewardSet:
    """The configured reward variant over the reader (task metric, judge aspects, weights)."""
    templates = build_templates(config.prompts)
    task = (
        TaskReward(reader, metric=config.task_metric, templates=templates)
        if config.reward != "aspect"
        else None
    )
    aspect = (
        AspectReward(AspectJudge(reader, config.judge, seed=config.seed)) if config.reward != "task" else None
    )
    return reward_set(
        config.reward,
        task=task,
        aspect=aspect,
        task_weight=config.task_weight,
        aspect_weight=config.aspect_weight,
    )


def student_prompts(
    tokenizer: object, config: RLConfig, questions: Sequence[Question], *, seq2seq: bool
) -> list[list[int]]:
    """The student's prompt token ids for each question (the configured template; a prompt over
    ``max_prompt_tokens`` loses the end of its context, and the count is logged)."""
    template = build_templates(config.prompts)["student"]
    encoded = [
        fit_prompt(
            tokenizer, template, {"question": q.question, "context": q.context},
            seq2seq=seq2seq, max_length=config.max_prompt_tokens,
        )
        for q in questions
    ]  # fmt: skip
    cut = [e.context_tokens_cut for e in encoded if e.context_tokens_cut]
    if cut:
        logger.warning(
            "%d of %d student prompts were over max_prompt_tokens=%s: their contexts lost %d tokens in all "
            "(at the end; the student sees longer contexts at inference)",
            len(cut), len(encoded), config.max_prompt_tokens, sum(cut),
        )  # fmt: skip
    return [e.ids for e in encoded]
