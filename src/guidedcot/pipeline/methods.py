"""The answering methods: standard prompting, the reader's own CoT, LM-guided CoT, self-consistency.

Every method turns a batch of questions (question + built context) into one `MethodAnswer` each,
through the `LanguageModel` protocol only; which backend is behind it is not this module's business.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from guidedcot.errors import ConfigError
from guidedcot.llm.types import Generation, GenerationRequest, LanguageModel
from guidedcot.pipeline.requests import template_request
from guidedcot.pipeline.voting import majority_vote
from guidedcot.prompts import PromptTemplate, extract_answer, split_cot


class MethodKind(StrEnum):
    """Who writes the rationale: nobody (standard), the reader (cot) or the student (guided)."""

    STANDARD = "standard"
    COT = "cot"
    GUIDED = "guided"


@dataclass(frozen=True)
class Method:
    """One answering method; ``samples`` > 1 is self-consistency over that many sampled rationales."""

    kind: MethodKind
    samples: int = 1
    temperature: float = 0.0

    @property
    def name(self) -> str:
        """The label in reports: ``cot``, or ``cot-sc5`` for self-consistency over 5 samples."""
        return self.kind.value if self.samples == 1 else f"{self.kind.value}-sc{self.samples}"

    @property
    def uses_student(self) -> bool:
        """True when the student writes the rationale (guided methods)."""
        return self.kind is MethodKind.GUIDED

    @classmethod
    def parse(cls, name: str, *, sc_samples: int, sc_temperature: float) -> Method:
        """``standard``, ``cot``, ``guided``, or ``cot-sc`` / ``guided-sc`` (self-consistency)."""
        base, _, suffix = name.strip().partition("-")
        try:
            kind = MethodKind(base)
        except ValueError:
            raise ConfigError(
                f"unknown method {name!r}; choose from standard, cot, guided, cot-sc, guided-sc"
            ) from None
        if not suffix:
            return cls(kind)
        if suffix != "sc" or kind is MethodKind.STANDARD:
            raise ConfigError(f"unknown method {name!r}; self-consistency exists as cot-sc and guided-sc")
        if sc_samples < 2 or sc_temperature <= 0:
            raise ConfigError("self-consistency needs sc_samples >= 2 and sc_temperature > 0")
        return cls(kind, samples=sc_samples, temperature=sc_temperature)


@dataclass(frozen=True)
class Question:
    """A question as the methods, the rewards and RL see it: its id, the question and the context text
    built for it; where they are known, its dataset and gold answers (what a reward scores against)."""

    id: str
    question: str
    context: str
    dataset: str = ""
    answers: tuple[str, ...] = ()


@dataclass
class MethodAnswer:
    """One question answered by one method: every sample's rationale, reader output and answer.

    ``reader_seconds`` / ``student_seconds``: wall time of the batch the question was part of,
    divided by the batch's questions (the cost per question at that batch size; near 0 for cache
    hits)."""

    rationales: list[str | None]
    reader_outputs: list[str]
    sample_answers: list[str]
    answer: str
    reader_prompt_tokens: int = 0
    reader_completion_tokens: int = 0
    student_prompt_tokens: int = 0
    student_completion_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0
    missing_prediction: int = 0
    reader_seconds: float = 0.0
    student_seconds: float = 0.0

    @property
    def rationale(self) -> str | None:
        """The rationale of the first sample (the greedy one when there is one sample)."""
        return self.rationales[0] if self.rationales else None


@dataclass(frozen=True)
class Reading:
    """The reader's output for one (question, rationale) and the answer extracted from it."""

    output: Generation
    answer: str


@dataclass(frozen=True)
class TokenLimits:
    """Token limits of each generation a method makes, and the seed of its sampled ones."""

    answer_tokens: int = 32
    cot_tokens: int = 256
    rationale_tokens: int = 128
    seed: int = 0


@dataclass
class Answerer:
    """Runs methods with one reader, an optional student, the prompt templates and token limits."""

    reader: LanguageModel
    templates: Mapping[str, PromptTemplate]
    student: LanguageModel | None = None
    limits: TokenLimits = field(default_factory=TokenLimits)

    def run(self, method: Method, questions: Sequence[Question]) -> list[MethodAnswer]:
        """Answer every question with ``method``; all its calls go to each model as one batch."""
        if method.kind is MethodKind.STANDARD:
            return self._standard(method, questions)
        if method.kind is MethodKind.COT:
            return self._cot(method, questions)
        return self._guided(method, questions)

    def _requests(
        self, name: str, method: Method, questions: Sequence[Question], max_new_tokens: int
    ) -> list[GenerationRequest]:
        """``method.samples`` requests per question from template ``name`` (sampled when > 1)."""
        return [
            template_request(
                self.templates[name],
                {"question": q.question, "context": q.context},
                max_new_tokens=max_new_tokens,
                temperature=method.temperature,
                sample_index=sample,
                seed=self.limits.seed,
            )
            for q in questions
            for sample in range(method.samples)
        ]

    def _per_question(self, results: Sequence[Generation], samples: int) -> list[list[Generation]]:
        return [list(results[i : i + samples]) for i in range(0, len(results), samples)]

    def write_rationales(
        self,
        questions: Sequence[Question],
        *,
        samples: int | Sequence[int] = 1,
        temperature: float | Sequence[float] = 0.0,
    ) -> list[list[Generation]]:
        """The student's rationales, one batch: ``samples`` per question (sample indices 0..samples-1)
        at ``temperature``; either may be one value for all questions or one value per question."""
        if self.student is None:
            raise ConfigError("the guided method needs a student model (--student)")
        counts = _per_question_values(samples, len(questions))
        temperatures = _per_question_values(temperature, len(questions))
        requests = [
            template_request(
                self.templates["student"],
                {"question": q.question, "context": q.context},
                max_new_tokens=self.limits.rationale_tokens,
                temperature=t,
                sample_index=sample,
                seed=self.limits.seed,
            )
            for q, n, t in zip(questions, counts, temperatures, strict=True)
            for sample in range(n)
        ]
        drafts = self.student.generate(requests)
        starts = [sum(counts[:i]) for i in range(len(counts))]
        return [list(drafts[start : start + n]) for start, n in zip(starts, counts, strict=True)]

    def reading_request(self, question: Question, rationale: str) -> GenerationRequest:
        """The reader's (greedy) request to answer ``question`` from its context and ``rationale``."""
        return template_request(
            self.templates["guided"],
            {"question": question.question, "context": question.context, "rationale": rationale},
            max_new_tokens=self.limits.answer_tokens,
            seed=self.limits.seed,
        )

    def read_rationales(self, questions: Sequence[Question], rationales: Sequence[str]) -> list[Reading]:
        """The reader answers each question from its context and the rationale beside it (one batch).

        ``questions[i]`` goes with ``rationales[i]``; a question may repeat (k rationales of one
        question). Greedy, so the same rationale of the same question is one cached call.
        """
        requests = [self.reading_request(q, r) for q, r in zip(questions, rationales, strict=True)]
        outputs = self.reader.generate(requests)
        return [
            Reading(output=g, answer=extract_answer(g.text, q.question))
            for q, g in zip(questions, outputs, strict=True)
        ]

    def _standard(self, method: Method, questions: Sequence[Question]) -> list[MethodAnswer]:
        started = time.perf_counter()
        results = self.reader.generate(
            self._requests("standard", method, questions, self.limits.answer_tokens)
        )
        reader_seconds = (time.perf_counter() - started) / len(questions)
        answers = []
        for question, outputs in zip(questions, self._per_question(results, method.samples), strict=True):
            parsed = [extract_answer(g.text, question.question) for g in outputs]
            answer = _answer(rationales=[None] * len(outputs), reader=outputs, parsed=parsed)
            answer.reader_seconds = reader_seconds
            answers.append(answer)
        return answers

    def _cot(self, method: Method, questions: Sequence[Question]) -> list[MethodAnswer]:
        started = time.perf_counter()
        results = self.reader.generate(self._requests("cot", method, questions, self.limits.cot_tokens))
        reader_seconds = (time.perf_counter() - started) / len(questions)
        answers = []
        for question, outputs in zip(questions, self._per_question(results, method.samples), strict=True):
            split = [split_cot(g.text, question.question) for g in outputs]
            parsed = [
                s.prediction if s.has_prediction_line else _last_line(g.text, question)
                for s, g in zip(split, outputs, strict=True)
            ]
            answer = _answer(rationales=[s.reasoning for s in split], reader=outputs, parsed=parsed)
            answer.missing_prediction = sum(not s.has_prediction_line for s in split)
            answer.reader_seconds = reader_seconds
            answers.append(answer)
        return answers

    def _guided(self, method: Method, questions: Sequence[Question]) -> list[MethodAnswer]:
        started = time.perf_counter()
        by_question = self.write_rationales(questions, samples=method.samples, temperature=method.temperature)
        written = time.perf_counter()
        rationales = [[g.text.strip() for g in group] for group in by_question]
        readings = self.read_rationales(
            [q for q in questions for _ in range(method.samples)], [r for group in rationales for r in group]
        )
        student_seconds = (written - started) / len(questions)
        reader_seconds = (time.perf_counter() - written) / len(questions)
        answers = []
        for texts, student, start in zip(
            rationales, by_question, range(0, len(readings), method.samples), strict=True
        ):
            read = readings[start : start + method.samples]
            answer = _answer(
                rationales=list(texts), reader=[r.output for r in read], parsed=[r.answer for r in read]
            )
            answer.student_prompt_tokens = sum(g.prompt_tokens for g in student)
            answer.student_completion_tokens = sum(g.completion_tokens for g in student)
            answer.calls += len(student)
            answer.cached_calls += sum(g.cached for g in student)
            answer.student_seconds, answer.reader_seconds = student_seconds, reader_seconds
            answers.append(answer)
        return answers


def _per_question_values(value: Sequence[int] | Sequence[float] | float, count: int) -> list:
    """``value`` repeated ``count`` times, or the sequence itself when it has one value per question."""
    if isinstance(value, int | float):
        return [value] * count
    if len(value) != count:
        raise ValueError(f"expected one value per question ({count}), got {len(value)}")
    return list(value)


def _answer(*, rationales: list[str | None], reader: Sequence[Generation], parsed: list[str]) -> MethodAnswer:
    return MethodAnswer(
        rationales=rationales,
        reader_outputs=[g.text for g in reader],
        sample_answers=parsed,
        answer=majority_vote(parsed),
        reader_prompt_tokens=sum(g.prompt_tokens for g in reader),
        reader_completion_tokens=sum(g.completion_tokens for g in reader),
        calls=len(reader),
        cached_calls=sum(g.cached for g in reader),
    )


def _last_line(text: str, question: Question) -> str:
    """Fallback answer of a CoT output with no ``Prediction:`` line: its last non-empty line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return extract_answer(lines[-1], question.question) if lines else ""
