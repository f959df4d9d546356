"""One line of predictions.jsonl: a question answered by one method, scored, with its costs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from guidedcot.data import Example
from guidedcot.metrics import best_exact_match, best_f1, contains_answer
from guidedcot.pipeline import MethodAnswer


@dataclass
class PredictionRecord:
    """Everything the reports show of one (question, method) pair (``em`` / ``f1`` None: a question
    without gold answers, answered by `guidedcot predict`)."""

    dataset: str
    method: str
    id: str
    type: str
    question: str
    gold: list[str]
    context: str
    rationale: str | None
    reader_output: str
    answer: str
    em: float | None
    f1: float | None
    rationale_words: int | None
    rationale_contains_gold: bool | None
    reader_prompt_tokens: int
    reader_completion_tokens: int
    student_prompt_tokens: int
    student_completion_tokens: int
    calls: int
    cached_calls: int
    missing_prediction: int
    samples: list[dict[str, Any]] = field(default_factory=list)
    aspects: dict[str, float] | None = None
    aspect_total: float | None = None
    reader_seconds: float = 0.0
    student_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def score(example: Example, context: str, method: str, answer: MethodAnswer) -> PredictionRecord:
    """Score one method's answer to ``example`` against its gold aliases (no scores without any)."""
    rationale = answer.rationale
    labelled = example.labelled
    samples = (
        [
            {"rationale": r, "reader_output": o, "answer": a}
            for r, o, a in zip(answer.rationales, answer.reader_outputs, answer.sample_answers, strict=True)
        ]
        if len(answer.reader_outputs) > 1
        else []
    )
    return PredictionRecord(
        dataset=example.dataset,
        method=method,
        id=example.id,
        type=example.type,
        question=example.question,
        gold=list(example.answers),
        context=context,
        rationale=rationale,
        reader_output=answer.reader_outputs[0],
        answer=answer.answer,
        em=best_exact_match(answer.answer, example.answers) if labelled else None,
        f1=best_f1(answer.answer, example.answers) if labelled else None,
        rationale_words=len(rationale.split()) if rationale is not None else None,
        rationale_contains_gold=contains_answer(rationale, example.answers)
        if rationale is not None and labelled
        else None,
        reader_prompt_tokens=answer.reader_prompt_tokens,
        reader_completion_tokens=answer.reader_completion_tokens,
        student_prompt_tokens=answer.student_prompt_tokens,
        student_completion_tokens=answer.student_completion_tokens,
        calls=answer.calls,
        cached_calls=answer.cached_calls,
        reader_seconds=answer.reader_seconds,
        student_seconds=answer.student_seconds,
        missing_prediction=answer.missing_prediction,
        samples=samples,
    )
