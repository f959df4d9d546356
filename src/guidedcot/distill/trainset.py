"""Build the student's training set from a teacher store: keep rationales whose prediction is correct."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from guidedcot.distill.store import TeacherRecord
from guidedcot.errors import ConfigError
from guidedcot.metrics import contains_answer


@dataclass(frozen=True)
class RationaleExample:
    """One training pair: (question + context) -> rationale."""

    dataset: str
    id: str
    question: str
    context: str
    rationale: str


@dataclass(frozen=True)
class TrainingSetStats:
    """How the filter went: questions seen and kept, rationales kept, and how many state the answer."""

    questions: int
    records: int
    kept_records: int
    questions_kept: int
    kept_stating_answer: int
    empty_reasoning_dropped: int


def keep(record: TeacherRecord, criterion: str, f1_threshold: float) -> bool:
    """Whether a teacher rationale led to a correct prediction."""
    if criterion == "em":
        return record.em == 1.0
    if criterion == "f1":
        return record.f1 >= f1_threshold
    raise ConfigError(f"criterion must be em or f1, got {criterion!r}")


def build_training_set(
    records: Sequence[TeacherRecord], *, criterion: str = "em", f1_threshold: float = 0.8
) -> tuple[list[RationaleExample], TrainingSetStats]:
    """The kept rationales (one example per kept sample, duplicates of one question's text once)."""
    kept: list[RationaleExample] = []
    seen: set[tuple[str, str, str]] = set()
    stating = empty = 0
    for record in records:
        if not keep(record, criterion, f1_threshold):
            continue
        if not record.reasoning.strip():
            empty += 1
            continue
        key = (record.dataset, record.id, record.reasoning.strip())
        if key in seen:
            continue
        seen.add(key)
        stating += contains_answer(record.reasoning, record.gold)
        kept.append(
            RationaleExample(
                record.dataset, record.id, record.question, record.context, record.reasoning.strip()
            )
        )
    stats = TrainingSetStats(
        questions=len({(r.dataset, r.id) for r in records}),
        records=len(records),
        kept_records=len(kept),
        questions_kept=len({(e.dataset, e.id) for e in kept}),
        kept_stating_answer=stating,
        empty_reasoning_dropped=empty,
    )
    return kept, stats


def split_by_question(
    examples: Sequence[RationaleExample], eval_fraction: float, seed: int
) -> tuple[list[RationaleExample], list[RationaleExample]]:
    """(train, held-out) with every rationale of one question on the same side."""
    questions = sorted({(e.dataset, e.id) for e in examples})
    random.Random(seed).shuffle(questions)
    n_eval = round(len(questions) * eval_fraction) if eval_fraction > 0 else 0
    if eval_fraction > 0 and len(questions) > 1:
        n_eval = max(1, min(n_eval, len(questions) - 1))
    held = set(questions[:n_eval])
    return [e for e in examples if (e.dataset, e.id) not in held], [
        e for e in examples if (e.dataset, e.id) in held
    ]
