"""Run answering methods over datasets and write the run folder.

The folder holds the resolved config (``config.yaml``), ``predictions.jsonl``, ``metrics.json``,
``report.md``, ``report.html`` and ``chart.png``. Every model call goes through the caller's models;
with a persistent cache in front of them, an interrupted evaluation run again recomputes nothing it
had finished (finished steps of ``questions_per_step`` questions are in the cache).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from guidedcot.atomic import write_json_atomic, write_text_atomic
from guidedcot.config import config_to_dict
from guidedcot.data.context import TokenCounter, context_texts
from guidedcot.data.selection import Selection, select_examples
from guidedcot.errors import ConfigError
from guidedcot.evaluate.config import EvaluateConfig
from guidedcot.evaluate.records import PredictionRecord, score
from guidedcot.evaluate.summary import Summary, summarize
from guidedcot.llm.types import LanguageModel
from guidedcot.pipeline import Answerer, Decoding, Method, Question
from guidedcot.prompts import build_templates
from guidedcot.report import render_chart, render_html, render_markdown

logger = logging.getLogger(__name__)

ProgressHook = Callable[[str, int, int], None]
"""Called with (label, questions done, questions in all) after every step."""


@dataclass
class EvaluationResult:
    """What an evaluation produced: its folder, every scored prediction, and the summary."""

    out_dir: Path
    records: list[PredictionRecord]
    summary: Summary
    seconds: float


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
    out_dir: Path,
    data_dir: Path | None,
    count_tokens: TokenCounter | None = None,
    progress: ProgressHook | None = None,
) -> EvaluationResult:
    """Answer every selected question with every method, score, and write the run folder."""
    started = time.perf_counter()
    methods = parse_methods(config)
    templates = build_templates(config.prompts)
    answerer = Answerer(
        reader=reader,
        student=student,
        templates=templates,
        decoding=Decoding(config.answer_tokens, config.cot_tokens, config.rationale_tokens, config.seed),
    )
    selections = [
        select_examples(spec, data_dir, split=config.split, limit=config.limit) for spec in config.datasets
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        out_dir / "config.yaml", yaml.safe_dump(_plain(config_to_dict(config)), sort_keys=False)
    )
    total = sum(len(s.examples) for s in selections) * len(methods)
    done = 0
    records: list[PredictionRecord] = []
    for selection in selections:
        contexts = context_texts(
            selection.examples,
            config.context_mode,
            max_tokens=config.max_context_tokens,
            count_tokens=count_tokens,
        )
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
                by_method[method.name] += [
                    score(e, q.context, method.name, a)
                    for e, q, a in zip(examples, questions, answers, strict=True)
                ]
                done += len(questions)
                if progress:
                    progress(f"{selection.name} {method.name}", done, total)
        for method in methods:
            records += by_method[method.name]
    summary = summarize(records, bootstrap_samples=config.bootstrap_samples, seed=config.seed)
    seconds = time.perf_counter() - started
    _write_outputs(out_dir, config, selections, records, summary, reader, student, templates, seconds)
    return EvaluationResult(out_dir, records, summary, seconds)


def _plain(value: Any) -> Any:
    """Config values as plain YAML types (enums to strings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _usage(model: LanguageModel | None) -> dict[str, Any] | None:
    usage = getattr(model, "usage", None)
    return usage.to_dict() if usage is not None else None


def _write_outputs(
    out_dir: Path,
    config: EvaluateConfig,
    selections: Sequence[Selection],
    records: Sequence[PredictionRecord],
    summary: Summary,
    reader: LanguageModel,
    student: LanguageModel | None,
    templates: dict[str, Any],
    seconds: float,
) -> None:
    lines = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
    write_text_atomic(out_dir / "predictions.jsonl", lines)
    uses_student = any(m.uses_student for m in parse_methods(config))
    facts = {
        "reader": reader.identity,
        "student": student.identity if student is not None and uses_student else "(not used)",
        "data": "; ".join(
            f"{s.name}: {len(s.examples)} questions from {', '.join(f.name for f in s.files)}"
            + (f" ({s.duplicate_ids} repeated ids skipped)" if s.duplicate_ids else "")
            for s in selections
        ),
        "split / limit": f"{config.split} / {config.limit if config.limit else 'all'}",
        "context": f"{config.context_mode} paragraphs, at most {config.max_context_tokens} reader tokens",
        "prompts": ", ".join(t.version for t in templates.values()),
        "seconds": f"{seconds:.0f}",
    }
    metrics = {
        **summary.to_json(),
        "facts": facts,
        "usage": {"reader": _usage(reader), "student": _usage(student) if uses_student else None},
        "prompt_versions": {name: t.version for name, t in templates.items()},
    }
    write_json_atomic(out_dir / "metrics.json", metrics)
    title = "guidedcot evaluation: " + ", ".join(dict.fromkeys(r.method for r in records))
    chart = None
    if records:
        render_chart(summary, out_dir / "chart.png")
        chart = "chart.png"
    write_text_atomic(out_dir / "report.md", render_markdown(summary, title=title, facts=facts))
    write_text_atomic(
        out_dir / "report.html", render_html(summary, records, title=title, facts=facts, chart=chart)
    )
    logger.info("wrote %s", out_dir)
