"""Run answering methods over datasets: every question answered by every method, scored, summarised.

Writing the run folder is `guidedcot.report.run_folder`'s job. Every model call goes through the
caller's models; with a persistent cache in front of them, an interrupted evaluation run again
recomputes nothing it had finished (finished steps of ``questions_per_step`` questions are cached).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from guidedcot.data.context import TokenCounter, TruncationCount, build_contexts
from guidedcot.data.selection import Selection, select_examples
from guidedcot.errors import ConfigError
from guidedcot.evaluate.config import EvaluateConfig
from guidedcot.evaluate.records import PredictionRecord, score
from guidedcot.evaluate.summary import Summary, summarize
from guidedcot.llm.types import LanguageModel
from guidedcot.pipeline import Answerer, Method, Question, TokenLimits
from guidedcot.progress import ProgressHook
from guidedcot.prompts import PromptTemplate, build_templates
from guidedcot.rewards import AspectJudge

logger = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """What an evaluation produced: every scored prediction, the summary, and what it ran on."""

    records: list[PredictionRecord]
    summary: Summary
    seconds: float
    selections: list[Selection]
    templates: dict[str, PromptTemplate]
    judge: AspectJudge | None = None
    truncation: dict[str, TruncationCount] | None = None
    """Per dataset: the contexts the token budget cut (None where no budget applied)."""


def parse_methods(config: EvaluateConfig) -> list[Method]:
    """The configured methods, validated, in the configured order."""
    methods = [
        Method.parse(name, sc_samples=config.sc_samples, sc_temperature=config.sc_temperature)
        for name in config.methods
    ]
    if not methods:
        raise ConfigError("no methods to evaluate: set --methods standard,cot,guided")
    return methods


def run_evaluation(
    config: EvaluateConfig,
    *,
    reader: LanguageModel,
    student: LanguageModel | None,
    data_dir: Path | None,
    count_tokens: TokenCounter | None = None,
    progress: ProgressHook | None = None,
) -> EvaluationResult:
    """Answer every selected question with every method, score and summarise."""
    started = time.perf_counter()
    selections = [
        select_examples(spec, data_dir, split=config.split, limit=config.limit) for spec in config.datasets
    ]
    answered = answer_selections(
        config, selections, reader=reader, student=student, count_tokens=count_tokens, progress=progress
    )
    summary = summarize(answered.records, bootstrap_samples=config.bootstrap_samples, seed=config.seed)
    seconds = time.perf_counter() - started
    return EvaluationResult(
        answered.records, summary, seconds, selections, answered.templates, answered.judge,
        answered.truncation if count_tokens else None,
    )  # fmt: skip


@dataclass
class Answered:
    """The (question, method) records of each selection, in selection order, and what answered them."""

    per_selection: list[list[PredictionRecord]]
    templates: dict[str, PromptTemplate]
    judge: AspectJudge | None
    truncation: dict[str, TruncationCount]

    @property
    def records(self) -> list[PredictionRecord]:
        """Every record, selection by selection."""
        return [record for group in self.per_selection for record in group]


def answer_selections(
    config: EvaluateConfig,
    selections: list[Selection],
    *,
    reader: LanguageModel,
    student: LanguageModel | None,
    count_tokens: TokenCounter | None = None,
    progress: ProgressHook | None = None,
) -> Answered:
    """Answer every question of ``selections`` with every configured method (`evaluate` and `predict`
    alike); a question without gold answers gets a record without scores."""
    methods = parse_methods(config)
    templates = build_templates(config.prompts)
    answerer = Answerer(
        reader=reader,
        student=student,
        templates=templates,
        limits=TokenLimits(config.answer_tokens, config.cot_tokens, config.rationale_tokens, config.seed),
    )
    judge = AspectJudge(reader, config.judge, seed=config.seed) if config.aspects else None
    total = sum(len(s.examples) for s in selections) * len(methods)
    done = 0
    per_selection: list[list[PredictionRecord]] = []
    truncation: dict[str, TruncationCount] = {}
    for selection in selections:
        built = build_contexts(
            selection.examples,
            config.context_mode,
            max_tokens=config.max_context_tokens,
            count_tokens=count_tokens,
        )
        contexts = [b.text for b in built]
        truncation[selection.name] = TruncationCount.of(built)
        by_method: dict[str, list[PredictionRecord]] = {m.name: [] for m in methods}
        step = max(1, config.questions_per_step)
        for start in range(0, len(selection.examples), step):
            examples = selection.examples[start : start + step]
            questions = [
                Question(e.id, e.question, c)
                for e, c in zip(examples, contexts[start : start + step], strict=True)
            ]
            # All methods of one step run back to back, so the backends see each question's shared
            # question + context prefix while it is still in their KV cache.
            for method in methods:
                answers = answerer.run(method, questions)
                scored = [
                    score(e, q.context, method.name, a)
                    for e, q, a in zip(examples, questions, answers, strict=True)
                ]
                if judge is not None:
                    judge_rationales(judge, questions, scored)
                by_method[method.name] += scored
                done += len(questions)
                if progress:
                    progress(f"{selection.name} {method.name}", done, total)
        per_selection.append([record for method in methods for record in by_method[method.name]])
    return Answered(per_selection, templates, judge, truncation)


def judge_rationales(judge: AspectJudge, questions: list[Question], records: list[PredictionRecord]) -> None:
    """Fill the aspect scores of every record that has a rationale (one batch to the judge)."""
    chosen = [(q, r) for q, r in zip(questions, records, strict=True) if r.rationale is not None]
    judged = judge.judge_all([q for q, _ in chosen], [r.rationale or "" for _, r in chosen])
    for (_, record), scores in zip(chosen, judged, strict=True):
        record.aspects, record.aspect_total = scores.scores, scores.total
