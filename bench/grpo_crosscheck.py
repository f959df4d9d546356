"""Cross-check of our GRPO against TRL's GRPOTrainer (the pinned version) on one toy reward.

Both train SmolLM2 on the same HotpotQA training prompts (the student template, short gold
contexts) with the same reward (1 when the rationale uses the word "is"), k = 4 rationales per
question, the same learning rate, KL coefficient and number of steps; both should raise the reward.

Run: ``.venv/bin/python bench/grpo_crosscheck.py [--steps 24]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from statistics import fmean
from typing import Any

from guidedcot.config import load_config
from guidedcot.llm import FakeLanguageModel
from guidedcot.prompts import build_templates
from guidedcot.rewards import RewardSet, completion_text
from guidedcot.rl import RLConfig, train_rl
from guidedcot.rl.data import load_questions

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TARGET = re.compile(r"\bis\b", re.IGNORECASE)


def names_the_target(prompts: Any = None, completions: Any = (), **_: Any) -> list[float]:
    """1.0 for a completion that uses the target word, else 0.0."""
    return [1.0 if TARGET.search(completion_text(c)) else 0.0 for c in completions]


def count_words(text: str) -> int:
    return len(text.split())


def ours(args: argparse.Namespace, folder: Path) -> list[float]:
    config = load_config(
        RLConfig,
        overrides=[
            "algo=grpo", "student=smollm2", "datasets=hotpotqa:train", "limit=40", "questions_per_step=4",
            f"steps={args.steps}", "rationale_tokens=12", "max_prompt_tokens=null", "max_context_tokens=24",
            "minibatch_size=8", "epochs_per_step=1", "target_kl=null", "group_size=4", f"learning_rate={args.lr}",
            "kl_coef=0.01", "eval_limit=0", "save_every=1000", "cache=none",
        ],
    )  # fmt: skip
    config.out = str(folder / "ours")
    result = train_rl(
        config, reader=FakeLanguageModel([], name="unused"), data_dir=DATA, count_tokens=count_words,
        rewards=RewardSet([names_the_target], [1.0]),
    )  # fmt: skip
    return [r["reward_mean"] for r in result.metrics]


def trl(args: argparse.Namespace, folder: Path) -> list[float]:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from guidedcot.student import load_student

    questions = load_questions(["hotpotqa:train"], DATA, limit=40, context_mode="gold", max_context_tokens=24,
                               count_tokens=count_words)  # fmt: skip
    template = build_templates()["student"]
    rows = [{"prompt": [{"role": r, "content": c} for r, c in template.messages({"question": q.question, "context": q.context})]}
            for q in questions]  # fmt: skip
    student = load_student("smollm2")
    config = GRPOConfig(
        output_dir=str(folder / "trl"), max_steps=args.steps, per_device_train_batch_size=16, num_generations=4,
        max_completion_length=12, learning_rate=args.lr, beta=0.01, num_iterations=1,
        logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", seed=0, temperature=1.0,
    )  # fmt: skip
    trainer = GRPOTrainer(model=student.model, processing_class=student.tokenizer, reward_funcs=[names_the_target],
                          args=config, train_dataset=Dataset.from_list(rows))  # fmt: skip
    trainer.train()
    return [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--lr", type=float, default=2e-5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, run in (("ours (guidedcot.rl, GRPO)", ours), ("TRL GRPOTrainer 1.16.0", trl)):
            began = time.perf_counter()
            rewards = run(args, Path(folder))
            rows.append((name, rewards, time.perf_counter() - began))
    print(f"SmolLM2-135M-Instruct, {args.steps} steps of 4 questions x 4 rationales, lr {args.lr}, KL 0.01\n")
    print("| trainer | mean reward, first 5 steps | mean reward, last 5 steps | change | seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, rewards, seconds in rows:
        start, end = fmean(rewards[:5]), fmean(rewards[-5:])
        print(f"| {name} | {start:.2f} | {end:.2f} | {end - start:+.2f} | {seconds:.0f} |")
    for name, rewards, _ in rows:
        print(f"\n{name}: " + " ".join(f"{r:.2f}" for r in rewards))


if __name__ == "__main__":
    main()
