"""The selection curve inside an RL run: the reader's EM with the current student's greedy rationales
on held-out questions (``eval_datasets``), every ``eval_every`` steps and at the end (main process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guidedcot.data.context import TokenCounter
from guidedcot.llm.types import LanguageModel
from guidedcot.metrics import best_exact_match
from guidedcot.pipeline import Answerer, Method, MethodKind, Question, TokenLimits
from guidedcot.prompts import build_templates
from guidedcot.rl.config import RLConfig
from guidedcot.rl.data import load_questions
from guidedcot.rl.policy import PolicyModel


def evaluate_policy(
    config: RLConfig, accelerator: Any, policy: PolicyModel, tokenizer: Any, reader: LanguageModel,
    data_dir: Path | None, count_tokens: TokenCounter | None, step: int,
) -> dict[str, Any]:  # fmt: skip
    """The reader's EM with the current student's greedy rationales on a held-out subset (main process)."""
    result: dict[str, Any] = {}
    if accelerator.is_main_process and config.eval_limit > 0:
        from guidedcot.llm.hf import TransformersLanguageModel

        questions = load_questions(
            config.eval_datasets, data_dir, limit=config.eval_limit, context_mode=str(config.context_mode),
            max_context_tokens=config.max_context_tokens, count_tokens=count_tokens,
        )  # fmt: skip
        student = TransformersLanguageModel(
            "", identity=f"rl-policy:{config.out}:step{step}", model=policy.model, tokenizer=tokenizer,
            device=str(accelerator.device),
        )  # fmt: skip
        answerer = Answerer(
            reader=reader, student=student, templates=build_templates(config.prompts),
            limits=TokenLimits(rationale_tokens=config.rationale_tokens, seed=config.seed),
        )  # fmt: skip
        answers = answerer.run(
            Method(MethodKind.GUIDED), [Question(q.id, q.question, q.context) for q in questions]
        )
        em = [best_exact_match(a.answer, q.answers) for a, q in zip(answers, questions, strict=True)]
        result = {"eval_em": sum(em) / len(em), "eval_n": len(em)}
        policy.train()
    accelerator.wait_for_everyone()
    return result
