"""The run folder of an evaluation: ``config.yaml``, ``predictions.jsonl``, ``metrics.json``,
``report.md``, ``report.html`` and ``chart.png``.

`evaluate_to_folder` writes the resolved config first (so an interrupted run leaves a folder that
says what it was), runs the evaluation, then writes every output atomically.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from guidedcot import jsonl
from guidedcot.atomic import write_json_atomic, write_text_atomic
from guidedcot.config import config_yaml
from guidedcot.data.context import TokenCounter
from guidedcot.evaluate import EvaluateConfig, EvaluationResult, parse_methods, run_evaluation
from guidedcot.llm.types import LanguageModel
from guidedcot.predict.runner import write_submissions
from guidedcot.progress import ProgressHook
from guidedcot.report.chart import render_chart
from guidedcot.report.html import render_html
from guidedcot.report.markdown import render_markdown

logger = logging.getLogger(__name__)


def evaluate_to_folder(
    config: EvaluateConfig,
    *,
    reader: LanguageModel,
    student: LanguageModel | None,
    out_dir: Path,
    data_dir: Path | None,
    count_tokens: TokenCounter | None = None,
    progress: ProgressHook | None = None,
) -> EvaluationResult:
    """Run the evaluation of ``config`` and write its run folder at ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "config.yaml", config_yaml(config))
    result = run_evaluation(
        config,
        reader=reader,
        student=student,
        data_dir=data_dir,
        count_tokens=count_tokens,
        progress=progress,
    )
    write_run_folder(out_dir, config, result, reader=reader, student=student)
    return result


def _usage(model: LanguageModel | None) -> dict[str, Any] | None:
    usage = getattr(model, "usage", None)
    return usage.to_dict() if usage is not None else None


def write_run_folder(
    out_dir: Path,
    config: EvaluateConfig,
    result: EvaluationResult,
    *,
    reader: LanguageModel,
    student: LanguageModel | None,
) -> None:
    """Write predictions, metrics, the Markdown and HTML reports and the chart of ``result``."""
    records, summary, templates = result.records, result.summary, result.templates
    write_text_atomic(out_dir / "predictions.jsonl", jsonl.dumps(r.to_json() for r in records))
    uses_student = any(m.uses_student for m in parse_methods(config))
    facts = {
        "reader": reader.identity,
        "student": student.identity if student is not None and uses_student else "(not used)",
        "data": "; ".join(
            f"{s.name}: {len(s.examples)} questions from {', '.join(f.name for f in s.files)}"
            + (f" ({s.duplicate_ids} repeated ids skipped)" if s.duplicate_ids else "")
            for s in result.selections
        ),
        "split / limit": f"{config.split} / {config.limit if config.limit else 'all'}",
        "context": f"{config.context_mode} paragraphs, at most {config.max_context_tokens} reader tokens",
        "truncated contexts": "; ".join(
            f"{name}: {count.describe()}" for name, count in result.truncation.items()
        )
        if result.truncation is not None
        else "not counted (no token counter: no budget applied)",
        "prompts": ", ".join(t.version for t in templates.values()),
        "seconds": f"{result.seconds:.0f}",
    }
    if result.judge is not None:
        how = (
            "P(yes) / (P(yes) + P(no)) from first-token log-probabilities"
            if result.judge.uses_logprobs
            else "yes/no parsed from the judge's text (the backend gives no log-probabilities)"
        )
        facts["judge"] = f"{reader.identity} on {', '.join(result.judge.prompts)}: {how}"
    metrics = {
        **summary.to_json(),
        "facts": facts,
        "truncation": {name: asdict(count) for name, count in (result.truncation or {}).items()},
        "usage": {"reader": _usage(reader), "student": _usage(student) if uses_student else None},
        "prompt_versions": {
            **{name: t.version for name, t in templates.items()},
            **(result.judge.versions if result.judge is not None else {}),
        },
    }
    write_json_atomic(out_dir / "metrics.json", metrics)
    for dataset in dict.fromkeys(r.dataset for r in records):  # the official files, for `guidedcot score`
        write_submissions(
            out_dir, dataset, dataset, [r for r in records if r.dataset == dataset], jsonl=False
        )
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
