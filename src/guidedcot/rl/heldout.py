"""The selection curve inside an RL run: `guidedcot evaluate`'s guided method with the current student's
greedy rationales on the held-out questions (``eval_datasets``, dev split unless a spec names one),
every ``eval_every`` steps and at the end (main process). Each evaluation's records go to
``heldout/step-N.jsonl`` in the run folder, the lines of an evaluation's ``predictions.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guidedcot import jsonl
from guidedcot.atomic import write_text_atomic
from guidedcot.data.context import TokenCounter
from guidedcot.evaluate import EvaluateConfig, run_evaluation
from guidedcot.llm.types import LanguageModel
from guidedcot.rl.config import RLConfig
from guidedcot.rl.policy import PolicyModel


def heldout_config(config: RLConfig) -> EvaluateConfig:
    """The evaluation the held-out curve runs: guided, on ``eval_datasets`` (first ``eval_limit`` of each),
    with the run's context, prompts, rationale length and seed (no cache: the student changes)."""
    return EvaluateConfig(
        datasets=list(config.eval_datasets), split="dev", limit=config.eval_limit, methods=["guided"],
        context_mode=config.context_mode, max_context_tokens=config.max_context_tokens,
        rationale_tokens=config.rationale_tokens, seed=config.seed, prompts=config.prompts,
        questions_per_step=config.eval_limit, cache=None,
    )  # fmt: skip


def evaluate_policy(
    config: RLConfig, accelerator: Any, policy: PolicyModel, tokenizer: Any, reader: LanguageModel,
    data_dir: Path | None, count_tokens: TokenCounter | None, step: int, out: Path,
) -> dict[str, Any]:  # fmt: skip
    """``eval_em``, ``eval_f1`` and ``eval_n`` of the current student on the held-out questions, its
    records written to ``out/heldout/step-{step}.jsonl`` (main process; nothing on the others or where
    ``eval_limit`` is 0)."""
    result: dict[str, Any] = {}
    if accelerator.is_main_process and config.eval_limit > 0:
        from guidedcot.llm.hf import TransformersLanguageModel

        student = TransformersLanguageModel(
            "", identity=f"rl-policy:{out}:step{step}", model=policy.model, tokenizer=tokenizer,
            device=str(accelerator.device),
        )  # fmt: skip
        evaluation = run_evaluation(
            heldout_config(config),
            reader=reader,
            student=student,
            data_dir=data_dir,
            count_tokens=count_tokens,
        )
        records = evaluation.records
        write_text_atomic(out / "heldout" / f"step-{step}.jsonl", jsonl.dumps(r.to_json() for r in records))
        result = {
            "eval_em": sum(r.em or 0.0 for r in records) / len(records),
            "eval_f1": sum(r.f1 or 0.0 for r in records) / len(records),
            "eval_n": len(records),
        }
        policy.train()
    accelerator.wait_for_everyone()
    return result
