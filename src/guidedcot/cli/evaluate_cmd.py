"""`guidedcot evaluate`: answering methods x datasets, scored, with a report folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.answering import apply_options, load_models
from guidedcot.cli.common import ConfigOption, SetOption, console, field_option, listed, stage, stdout
from guidedcot.cli.studies import summary_table
from guidedcot.config import config_yaml, load_config
from guidedcot.data.selection import check_selections, data_root_for
from guidedcot.evaluate import EvaluateConfig, EvaluationResult, parse_methods
from guidedcot.llm import CachedLanguageModel
from guidedcot.llm.factory import token_counter
from guidedcot.report import evaluate_to_folder
from guidedcot.report.markdown import pct
from guidedcot.runs import claim_answer_folder, default_folder

logger = logging.getLogger(__name__)


def evaluate_command(
    methods: Annotated[
        str | None, field_option("--methods", EvaluateConfig, "methods", "Comma list.")
    ] = None,
    dataset: Annotated[
        list[str] | None, field_option("--dataset", EvaluateConfig, "datasets", "Repeatable.")
    ] = None,
    limit: Annotated[int | None, field_option("--limit", EvaluateConfig, "limit")] = None,
    split: Annotated[str | None, field_option("--split", EvaluateConfig, "split")] = None,
    student: Annotated[
        str | None, field_option("--student", EvaluateConfig, "student.model", role="Student")
    ] = None,
    reader: Annotated[
        str | None, field_option("--reader", EvaluateConfig, "reader.model", role="Reader")
    ] = None,
    out: Annotated[Path | None, field_option("--out", EvaluateConfig, "out")] = None,
    data_dir: Annotated[Path | None, field_option("--data-dir", EvaluateConfig, "data_dir")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the generation cache.")
    ] = False,
    aspects: Annotated[bool, field_option("--aspects", EvaluateConfig, "aspects")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the finished run (or another run's files) in --out.")
    ] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Run answering methods on datasets and write predictions, metrics and reports."""
    flags = {"methods": listed([methods] if methods else None), "datasets": listed(dataset), "limit": limit,
             "split": split, "student.model": student, "reader.model": reader, "out": out, "data_dir": data_dir,
             "aspects": True if aspects else None}  # fmt: skip
    settings = apply_options(load_config(EvaluateConfig, config, set_), flags, no_cache=no_cache)
    methods_parsed = parse_methods(settings)
    out_dir = Path(settings.out) if settings.out else default_folder("evaluate")
    claim_answer_folder(out_dir, config_yaml(settings), overwrite=overwrite)
    data_root = data_root_for(settings.data_dir, settings.datasets)
    check_selections(
        settings.datasets,
        data_root,
        split=settings.split,
        limit=settings.limit,
        context_mode=settings.context_mode,
    )
    reader_model, student_model = load_models(settings, methods_parsed)
    count_tokens = token_counter(settings.reader)
    with stage("evaluating") as hook:
        result = evaluate_to_folder(
            settings, reader=reader_model, student=student_model, out_dir=out_dir, data_dir=data_root,
            count_tokens=count_tokens, progress=hook,
        )  # fmt: skip
    _print_summary(result, out_dir, reader_model, student_model)


def _print_summary(
    result: EvaluationResult, out_dir: Path, reader: CachedLanguageModel, student: CachedLanguageModel | None
) -> None:
    stdout().print(summary_table(result.summary))
    usage = reader.usage
    line = (
        f"{len(result.records)} predictions in {result.seconds:.0f} s. Reader: {usage.calls} calls, "
        f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens, "
        f"cache hits {pct(usage.hit_rate)}%."
    )
    if student is not None:
        line += f" Student: {student.usage.calls} calls, cache hits {pct(student.usage.hit_rate)}%."
    console.print(line + f" Report: {out_dir / 'report.md'} and report.html", highlight=False)
