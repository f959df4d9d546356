"""The training reward on a fixed probe: the same training questions and the same sampling seed at every
point, so a curve over steps, or a comparison between students, is not dominated by how hard the few
questions that one step happened to draw were (with 4 questions a step, that draw moves the per-step
reward more than training does).

A probe samples ``group_size`` rationales per probe question from the policy (as rollouts do: the
policy's own samples, never cached) and scores them with the run's reward; reward calls go through the
cache, so a rationale that an earlier probe or step already scored is not paid for twice.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guidedcot.data.context import TokenCounter
from guidedcot.llm.types import LanguageModel, stable_seed
from guidedcot.models.hf import native_bf16
from guidedcot.pipeline import Question
from guidedcot.rewards import RewardSet
from guidedcot.rl.config import RLConfig
from guidedcot.rl.data import load_questions
from guidedcot.rl.inputs import build_rewards, student_prompts
from guidedcot.rl.rollout import decode_responses, sample_responses

PROBE_STREAM = 7919  # keeps the probe's sampling seeds apart from the steps' (seed, step, rank)


def probe_indices(n_questions: int, count: int, seed: int) -> list[int]:
    """The probe's questions: a fixed sample (by ``seed``) of the training questions, in index order."""
    return sorted(random.Random(f"{seed}:probe").sample(range(n_questions), min(count, n_questions)))


@dataclass
class ProbeRecord:
    """One probe: the rewards of each question's rationales (question-major), total and per component."""

    step: int
    label: str
    question_ids: list[str]
    totals: list[list[float]]
    components: dict[str, list[list[float | None]]]

    def summary(self) -> dict[str, float]:
        """``probe_reward_mean`` and ``probe_reward_<component>`` (the mean where a component applies)."""
        flat = [v for row in self.totals for v in row]
        result = {"probe_reward_mean": sum(flat) / len(flat)}
        for name, rows in self.components.items():
            applied = [v for row in rows for v in row if v is not None]
            result[f"probe_reward_{name}"] = sum(applied) / len(applied) if applied else float("nan")
        return result

    def as_json(self) -> dict[str, Any]:
        """The line of probe.jsonl: the summary and every rationale's rewards (for paired comparisons)."""
        return {
            "step": self.step,
            "label": self.label,
            **self.summary(),
            "question_ids": self.question_ids,
            "totals": self.totals,
            "components": self.components,
        }

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ProbeRecord:
        """A record read back from probe.jsonl."""
        return cls(
            record["step"],
            record.get("label", ""),
            record["question_ids"],
            record["totals"],
            record["components"],
        )


def probe_policy(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    questions: Sequence[Question],
    rewards: RewardSet,
    *,
    step: int,
    label: str = "",
    seq2seq: bool,
    group_size: int,
    rationale_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    device: Any,
    chunk_questions: int = 4,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> ProbeRecord:
    """Sample ``group_size`` rationales for each probe question and score them with ``rewards``.

    Sampling seeds depend on the chunk alone, not on ``step``: at every probe the same random stream
    meets the current weights, which keeps the comparison between probes paired as closely as sampling
    allows. ``prompts[i]`` is the student prompt of ``questions[i]``.
    """
    totals: list[list[float]] = []
    components: dict[str, list[list[float | None]]] = {}
    was_training = model.training
    model.eval()
    for start in range(0, len(questions), chunk_questions):
        chunk = list(range(start, min(start + chunk_questions, len(questions))))
        with autocast():
            rollout = sample_responses(
                model, tokenizer, [list(prompts[i]) for i in chunk for _ in range(group_size)],
                seq2seq=seq2seq, max_new_tokens=rationale_tokens, temperature=temperature, top_p=top_p,
                generator_seed=stable_seed(seed, PROBE_STREAM, start), device=device,
            )  # fmt: skip
        texts = decode_responses(tokenizer, rollout)
        rows = [questions[i] for i in chunk for _ in range(group_size)]
        batch = rewards(
            None, texts, question=[q.question for q in rows],
            context=[q.context for q in rows], answers=[list(q.answers) for q in rows], id=[q.id for q in rows],
        )  # fmt: skip
        for offset in range(0, len(rows), group_size):
            totals.append([float(v) for v in batch.total[offset : offset + group_size]])
            for name, values in batch.components.items():
                components.setdefault(name, []).append(list(values[offset : offset + group_size]))
    model.train(was_training)
    return ProbeRecord(step, label, [q.id for q in questions], totals, components)


@dataclass
class Probe:
    """A run's fixed probe: its questions, their prompts for one student's tokenizer, the reward, and the
    run's sampling settings (``group_size`` rationales a question, ``rationale_tokens``, temperature,
    top-p, seed): what the trainer's ``probe_every`` and `probe_students` both score."""

    config: RLConfig
    questions: list[Question]
    prompts: list[list[int]]
    rewards: RewardSet

    @classmethod
    def of_run(
        cls, config: RLConfig, questions: Sequence[Question], prompts: Sequence[list[int]], rewards: RewardSet
    ) -> Probe:
        """The probe of a run over these training questions (``prompts[i]`` is ``questions[i]``'s)."""
        chosen = probe_indices(len(questions), config.probe_questions, config.seed)
        return cls(config, [questions[i] for i in chosen], [list(prompts[i]) for i in chosen], rewards)

    def score(
        self, model: Any, tokenizer: Any, *, step: int, seq2seq: bool, device: Any, label: str = "",
        autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> ProbeRecord:  # fmt: skip
        """The probe's record for ``model`` (`probe_policy` with the run's settings)."""
        config = self.config
        return probe_policy(
            model, tokenizer, self.prompts, self.questions, self.rewards, step=step, label=label, seq2seq=seq2seq,
            group_size=config.group_size, rationale_tokens=config.rationale_tokens, temperature=config.temperature,
            top_p=config.top_p, seed=config.seed, device=device, autocast=autocast,
        )  # fmt: skip


def probe_students(
    config: RLConfig,
    students: Sequence[str],
    *,
    reader: LanguageModel,
    data_dir: Path | None,
    count_tokens: TokenCounter | None = None,
    on_record: Callable[[ProbeRecord], None] | None = None,
) -> list[ProbeRecord]:
    """Probe saved students (e.g. the distilled one and RL's ``final/``) with one run's settings: the
    same probe questions, sampling and reward as that run's ``probe_every`` would use, so their records
    pair question by question. ``step`` of each record is its position in ``students``; ``on_record``
    gets each record as soon as it is made (to store it before the next student starts)."""
    import torch

    from guidedcot.student import load_student

    questions = load_questions(
        config.datasets, data_dir, limit=config.limit, context_mode=str(config.context_mode),
        max_context_tokens=config.max_context_tokens, count_tokens=count_tokens,
    )  # fmt: skip
    chosen = [questions[i] for i in probe_indices(len(questions), config.probe_questions, config.seed)]
    rewards = build_rewards(config, reader)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = native_bf16(device) if config.bf16 is None else config.bf16

    def autocast() -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    records = []
    for position, path in enumerate(students):
        student = load_student(path)
        student.model.to(device)
        student.model.config.use_cache = True
        probe = Probe(config, chosen, student_prompts(student.tokenizer, config, chosen, seq2seq=student.seq2seq),
                      rewards)  # fmt: skip
        record = probe.score(student.model, student.tokenizer, step=position, label=str(path),
                             seq2seq=student.seq2seq, device=device, autocast=autocast)  # fmt: skip
        records.append(record)
        if on_record:
            on_record(record)
        del student
    return records
