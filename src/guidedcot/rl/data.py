"""The RL questions and their order: a fixed permutation per epoch, so a step's questions follow from
(seed, step) alone and a resumed run continues the same order without replaying or skipping."""

from __future__ import annotations

import random
from pathlib import Path

from guidedcot.data.context import TokenCounter, context_texts
from guidedcot.data.selection import select_examples
from guidedcot.errors import GuidedCotError
from guidedcot.pipeline import Question


def load_questions(
    specs: list[str],
    data_dir: Path | None,
    *,
    limit: int | None,
    context_mode: str,
    max_context_tokens: int,
    count_tokens: TokenCounter | None,
) -> list[Question]:
    """Every selected training question, contexts built as evaluation builds them."""
    questions: list[Question] = []
    for spec in specs:
        selection = select_examples(spec, data_dir, split="train", limit=limit)
        contexts = context_texts(
            selection.examples, context_mode, max_tokens=max_context_tokens, count_tokens=count_tokens
        )
        questions += [
            Question(e.id, e.question, c, dataset=selection.name, answers=tuple(e.answers))
            for e, c in zip(selection.examples, contexts, strict=True)
        ]
    if not questions:
        raise GuidedCotError(f"no training questions in {', '.join(specs)}")
    return questions


def step_indices(step: int, n_questions: int, per_step: int, seed: int) -> list[int]:
    """Indices of the questions of ``step`` (0-based): consecutive slices of a per-epoch permutation."""
    indices = []
    for position in range(step * per_step, (step + 1) * per_step):
        epoch, offset = divmod(position, n_questions)
        indices.append(epoch_order(n_questions, seed, epoch)[offset])
    return indices


def epoch_order(n_questions: int, seed: int, epoch: int) -> list[int]:
    """The permutation of epoch ``epoch``."""
    order = list(range(n_questions))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order
