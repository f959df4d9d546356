"""Official submission files: the prediction JSON that HotpotQA's ``hotpot_evaluate_v1.py`` and
2WikiMultiHopQA's ``2wikimultihop_evaluate_v1.1.py`` read, written from answers and read back.

HotpotQA: ``{"answer": {id: text}, "sp": {id: [[title, sentence], ...]}}``; 2WikiMultiHopQA: the same
plus ``"evidence": {id: [[subject, relation, object], ...]}``. guidedcot predicts answers only, so every
question's ``sp`` (and ``evidence``) list is empty: the official scripts then score those parts 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guidedcot.atomic import write_json_atomic
from guidedcot.errors import GuidedCotError

SUBMISSION_NAME = "predictions.json"
KEYS = {"hotpotqa": ("answer", "sp"), "2wiki": ("answer", "sp", "evidence")}


@dataclass(frozen=True)
class Submission:
    """The answer per question id of one dataset's submission file (and where it was read from)."""

    dataset: str
    answers: dict[str, str]
    path: Path | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The official layout: every key the dataset's script reads, every id in each."""
        layout: dict[str, Any] = {"answer": dict(self.answers)}
        for key in KEYS[self.dataset][1:]:
            layout[key] = {question_id: [] for question_id in self.answers}
        return layout


def write_submission(path: Path, dataset: str, answers: Mapping[str, str]) -> Path:
    """Write ``answers`` (id -> answer text) as ``dataset``'s official prediction file, atomically."""
    if dataset not in KEYS:
        raise GuidedCotError(f"no official submission layout for dataset {dataset!r} ({', '.join(KEYS)})")
    write_json_atomic(path, Submission(dataset, dict(answers)).to_json())
    return path


def read_submission(path: Path) -> Submission:
    """A submission file read back: its answers, checked to be the official layout (the error names the
    file and the key or id at fault)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise GuidedCotError(f"cannot read submission {path}: {error.strerror or error}") from error
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise GuidedCotError(f"submission {path} is not a JSON file: {str(error)[:200]}") from error
    if not isinstance(value, dict) or not isinstance(value.get("answer"), dict):
        raise GuidedCotError(
            f'submission {path}: expected an object with an "answer" object of id -> answer text '
            "(the official HotpotQA / 2WikiMultiHopQA layout)"
        )
    answers = value["answer"]
    for question_id, answer in answers.items():
        if not isinstance(answer, str):
            raise GuidedCotError(
                f'submission {path}: "answer" of id {question_id[:100]!r} is {type(answer).__name__}, not text'
            )
    for key in ("sp", "evidence"):
        if key in value and not isinstance(value[key], dict):
            raise GuidedCotError(f'submission {path}: "{key}" must be an object of id -> list')
    return Submission("2wiki" if "evidence" in value else "hotpotqa", dict(answers), path)
