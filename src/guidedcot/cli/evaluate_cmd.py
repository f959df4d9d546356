"""`guidedcot evaluate`: answering methods x datasets, scored, with a report folder."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.answering import apply_options, load_models
from guidedcot.cli.common import ConfigOption, SetOption, console, stage, stdout
from guidedcot.cli.studies import summary_table
from guidedcot.config import config_yaml, load_config
from guidedcot.data.selection import check_selections, data_root_for
from guidedcot.evaluate import EvaluateConfig, EvaluationResult, parse_methods
from guidedcot.llm import CachedLanguageModel
from guidedcot.llm.factory import token_counter
from guidedcot.report import evaluate_to_folder
from guidedcot.report.markdown import pct
from guidedcot.runs import claim_answer_folder

logger = logging.getLogger(__name__)


def evaluate_command(
    methods: Annotated[
        str | None, typer.Option("--methods", help="Comma list: standard, cot, guided, cot-sc, guided-sc.")
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="hotpotqa, 2wiki or a file path (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="First N questions of each dataset.")] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Split of named datasets (default dev).")
    ] = None,
    student: Annotated[
        str | None, typer.Option("--student", help="Student: named model, path or hub id.")
    ] = None,
    reader: Annotated[
        str | None,
        typer.Option("--reader", help="Reader: named model, path, hub id or http(s)://.../v1 URL."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default runs/evaluate-<time>).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Dataset folder.")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the generation cache.")
    ] = False,
    aspects: Annotated[
        bool,
        typer.Option(
            "--aspects", help="Also judge every rationale on the eight quality aspects (reader as judge)."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the finished run (or another run's files) in --out.")
    ] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Run answering methods on datasets and write predictions, metrics and reports."""
    settings = load_config(EvaluateConfig, config, set_)
    settings = apply_options(
        settings, methods, dataset, limit, split, student, reader, out, data_dir, no_cache
    )
    if aspects:
        settings.aspects = True
    methods_parsed = parse_methods(settings)
    out_dir = Path(settings.out or f"runs/evaluate-{dt.datetime.now():%Y%m%d-%H%M%S}")
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
