"""`R_taskAcc`: did the frozen reader answer correctly from (question, context, rationale)?

The reader reads through `Answerer.read_rationales`, the very step that evaluates the guided method,
so a reward and an evaluation of the same rationale are one cached call. Metrics: ``em`` (default),
``f1``, or ``gain`` = the EM with the rationale minus the reader's standard-prompting EM on the same
question without any rationale (computed once per question, then cached).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from guidedcot.config import member
from guidedcot.llm.types import LanguageModel
from guidedcot.metrics import best_exact_match, best_f1
from guidedcot.pipeline import Answerer, Method, MethodKind, Question, TokenLimits
from guidedcot.prompts import PromptTemplate, build_templates
from guidedcot.rewards.columns import read_columns


class TaskMetric(StrEnum):
    """The task reward's metric of the reader's answer."""

    EM = "em"
    F1 = "f1"
    GAIN = "gain"
    """EM with the rationale minus the reader's standard-prompting EM without it."""


@dataclass(frozen=True)
class TaskScore:
    """The reader's answer from one rationale, and the task metric of that answer."""

    answer: str
    value: float


class TaskReward:
    """A reward function ``(prompts, completions, **columns) -> list[float]`` (TRL's shape)."""

    def __init__(
        self,
        reader: LanguageModel,
        *,
        metric: TaskMetric | str = TaskMetric.EM,
        templates: Mapping[str, PromptTemplate] | None = None,
        limits: TokenLimits | None = None,
    ) -> None:
        self.metric = member(TaskMetric, metric, "metric")
        self.answerer = Answerer(
            reader=reader, templates=templates or build_templates(), limits=limits or TokenLimits()
        )
        self.__name__ = f"task_{metric}"
        self._baseline: dict[tuple[str, str], float] = {}

    def results(
        self,
        questions: Sequence[Question],
        rationales: Sequence[str],
        answers: Sequence[Sequence[str]],
        metric: TaskMetric | None = None,
    ) -> list[TaskScore]:
        """The reader's answer and the metric (default: the configured one) for each (question, rationale)."""
        metric = metric or self.metric
        readings = [r.answer for r in self.answerer.read_rationales(questions, rationales)]
        if metric == "f1":
            values = [best_f1(a, gold) for a, gold in zip(readings, answers, strict=True)]
        else:
            values = [best_exact_match(a, gold) for a, gold in zip(readings, answers, strict=True)]
        if metric == "gain":
            baseline = self.baseline(questions, answers)
            values = [e - b for e, b in zip(values, baseline, strict=True)]
        return [TaskScore(a, v) for a, v in zip(readings, values, strict=True)]

    def scores(
        self,
        questions: Sequence[Question],
        rationales: Sequence[str],
        answers: Sequence[Sequence[str]],
        metric: TaskMetric | None = None,
    ) -> list[float]:
        """The metric alone of each `results` entry."""
        return [r.value for r in self.results(questions, rationales, answers, metric)]

    def baseline(self, questions: Sequence[Question], answers: Sequence[Sequence[str]]) -> list[float]:
        """The reader's standard-prompting EM per question (each distinct question computed once)."""
        todo = {}
        for question, gold in zip(questions, answers, strict=True):
            key = (question.question, question.context)
            if key not in self._baseline:
                todo[key] = (question, gold)
        if todo:
            pending = list(todo.values())
            standard = self.answerer.run(Method(MethodKind.STANDARD), [q for q, _ in pending])
            for (question, gold), answer in zip(pending, standard, strict=True):
                self._baseline[(question.question, question.context)] = best_exact_match(answer.answer, gold)
        return [self._baseline[(q.question, q.context)] for q in questions]

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **columns: Any
    ) -> list[float]:
        questions, rationales, answers = read_columns(completions, columns)
        return self.scores(questions, rationales, answers)
