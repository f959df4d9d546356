"""What every reward reads: the completions' text and the dataset columns TRL passes as keywords."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from guidedcot.errors import GuidedCotError
from guidedcot.pipeline import Question

REQUIRED_COLUMNS = ("question", "context", "answers")


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or a conversational completion (a list of messages)."""
    if isinstance(completion, str):
        return completion.strip()
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", "")).strip()
    raise GuidedCotError(f"a completion must be a string or a list of chat messages, got {completion!r:.80}")


def read_columns(
    completions: Sequence[Any], columns: dict[str, Any]
) -> tuple[list[Question], list[str], list[list[str]]]:
    """(questions with their contexts, rationale texts, gold answers), one each per completion.

    The columns are lists as long as ``completions`` (TRL repeats a prompt's columns for each of its
    completions); ``answers`` holds a list of gold aliases per row, or one string.
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise GuidedCotError(
            f"reward needs the dataset column(s) {', '.join(missing)} (given: {', '.join(sorted(columns)) or 'none'})"
        )
    for name in REQUIRED_COLUMNS:
        if len(columns[name]) != len(completions):
            raise GuidedCotError(
                f"reward column {name!r} has {len(columns[name])} rows for {len(completions)} completions"
            )
    ids = columns.get("id") or [str(i) for i in range(len(completions))]
    questions = [
        Question(str(i), q, c) for i, q, c in zip(ids, columns["question"], columns["context"], strict=True)
    ]
    answers = [[a] if isinstance(a, str) else list(a) for a in columns["answers"]]
    return questions, [completion_text(c) for c in completions], answers
