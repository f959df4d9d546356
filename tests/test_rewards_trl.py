"""Our rewards plug into TRL's GRPOTrainer (the pinned version) unchanged: two real training steps of
SmolLM2 against a real llama.cpp reader (SmolLM2 too) that reads and judges the rationales."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from guidedcot.data.context import context_texts
from guidedcot.data.selection import select_examples
from guidedcot.llm import CachedLanguageModel, GenerationCache
from guidedcot.llm.factory import load_backend
from guidedcot.prompts import JudgeConfig, build_templates
from guidedcot.rewards import AspectJudge, AspectReward, TaskReward, reward_set

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _fresh_accelerate_state() -> Iterator[None]:
    """TRL's trainer sets Accelerate's process-wide state (bf16 here); later tests must not inherit it."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def test_two_grpo_steps_of_trl_with_our_task_and_aspect_rewards(shared_data: Path, tmp_path: Path) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from guidedcot.student import load_student

    examples = select_examples("hotpotqa:train", shared_data, split="train", limit=2).examples
    contexts = context_texts(examples, "gold", max_tokens=None, count_tokens=None)
    template = build_templates()["student"]
    rows = [
        {
            "prompt": [
                {"role": r, "content": c}
                for r, c in template.messages({"question": e.question, "context": ctx})
            ],
            "question": e.question,
            "context": ctx,
            "answers": list(e.answers),
        }
        for e, ctx in zip(examples, contexts, strict=True)
    ]
    reader = CachedLanguageModel(
        load_backend("smollm2", "llamacpp", n_ctx=2048, n_parallel=2), GenerationCache(tmp_path / "c.sqlite")
    )
    judge = AspectJudge(reader, JudgeConfig(aspects=["factuality", "relevance"]))
    rewards = reward_set(
        "task+aspect", task=TaskReward(reader), aspect=AspectReward(judge), aspect_weight=0.5
    )
    student = load_student("smollm2")
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=2,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=12,
        learning_rate=1e-6,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        reward_weights=rewards.weights,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=student.model,
        processing_class=student.tokenizer,
        reward_funcs=rewards.functions,
        args=args,
        train_dataset=Dataset.from_list(rows),
    )
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [entry for entry in trainer.state.log_history if "reward" in entry]
    assert len(logged) == 2, json.dumps(trainer.state.log_history)[:2000]
    for entry in logged:
        task, aspect = entry["rewards/task_em/mean"], entry["rewards/aspect/mean"]
        assert 0.0 <= task <= 1.0 and 0.0 <= aspect <= 2.0  # two aspects, each in [0, 1]
        assert entry["reward"] == pytest.approx(task + 0.5 * aspect, abs=1e-4)
    # every completion was read once and judged on both aspects, through the cache
    requests = reader.usage.cache_hits + reader.usage.cache_misses
    assert requests >= 4 * 3 and requests % 3 == 0
