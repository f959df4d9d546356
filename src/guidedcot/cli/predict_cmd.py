"""`guidedcot predict`: official submission files for questions without labels; `guidedcot score`: a
submission's EM and F1 against a labelled file, with CIs and a paired difference to a baseline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from guidedcot.cli.answering import apply_options, load_models
from guidedcot.cli.common import ConfigOption, SetOption, console, field_option, listed, stage, stdout
from guidedcot.config import config_yaml, load_config
from guidedcot.data.selection import data_root_for, select_examples
from guidedcot.errors import GuidedCotError
from guidedcot.evaluate import EvaluateConfig, parse_methods, summarize
from guidedcot.evaluate.paired import paired_rows
from guidedcot.llm.factory import token_counter
from guidedcot.predict import predict_to_folder, read_submission, score_submission
from guidedcot.predict.runner import select_selections
from guidedcot.report.markdown import pct
from guidedcot.runs import claim_answer_folder, default_folder

logger = logging.getLogger(__name__)


def predict_command(
    dataset: Annotated[
        list[str] | None,
        field_option("--dataset", EvaluateConfig, "datasets", "Labels not needed. Repeatable."),
    ] = None,
    methods: Annotated[
        str | None, field_option("--methods", EvaluateConfig, "methods", "Comma list.")
    ] = None,
    student: Annotated[
        str | None, field_option("--student", EvaluateConfig, "student.model", role="Student")
    ] = None,
    reader: Annotated[
        str | None, field_option("--reader", EvaluateConfig, "reader.model", role="Reader")
    ] = None,
    context_mode: Annotated[
        str | None,
        typer.Option(
            "--context-mode",
            help="gold (the supporting paragraphs: needs supporting_facts) or distractor (all paragraphs).",
        ),
    ] = None,
    limit: Annotated[int | None, field_option("--limit", EvaluateConfig, "limit")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder (default runs/predict-<time>).")] = None,
    data_dir: Annotated[Path | None, field_option("--data-dir", EvaluateConfig, "data_dir")] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the generation cache.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the finished run (or another run's files) in --out.")
    ] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Answer questions (labels not needed) and write each dataset x method's official submission file:
    OUT/<dataset>/<method>/predictions.json (HotpotQA: answer, sp; 2WikiMultiHopQA: answer, sp,
    evidence), beside predictions.jsonl (rationales, reader outputs, tokens, seconds)."""
    flags = {"methods": listed([methods] if methods else None), "datasets": listed(dataset), "limit": limit,
             "student.model": student, "reader.model": reader, "out": out, "data_dir": data_dir,
             "context_mode": context_mode or None}  # fmt: skip
    settings = apply_options(load_config(EvaluateConfig, config, set_), flags, no_cache=no_cache)
    if settings.aspects:
        raise GuidedCotError(
            "predict writes answers only: judge rationales with `guidedcot evaluate --aspects`"
        )
    methods_parsed = parse_methods(settings)
    out_dir = Path(settings.out) if settings.out else default_folder("predict")
    claim_answer_folder(out_dir, config_yaml(settings), overwrite=overwrite)
    data_root = data_root_for(settings.data_dir, settings.datasets)
    select_selections(settings, data_root)  # every file checked before a model loads
    reader_model, student_model = load_models(settings, methods_parsed)
    with stage("predicting") as hook:
        result = predict_to_folder(
            settings, reader=reader_model, student=student_model, out_dir=out_dir, data_dir=data_root,
            count_tokens=token_counter(settings.reader), progress=hook,
        )  # fmt: skip
    table = Table(title=f"Submission files ({len(result.records)} answers in {result.seconds:.0f} s)")
    table.add_column("dataset / method")
    table.add_column("file")
    for (folder, method), path in result.submissions.items():
        table.add_row(f"{folder} / {method}", str(path))
    stdout().print(table)


def score_command(
    predictions: Annotated[
        Path, typer.Argument(help="Submission file (official layout: predictions.json of predict/evaluate).")
    ],
    dataset: Annotated[
        str, typer.Option("--dataset", help="The labelled questions: hotpotqa:dev[0:50], 2wiki, or a file.")
    ],
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Another submission on the same questions: the paired difference."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split of a named dataset.")] = "dev",
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Dataset folder.")] = None,
    bootstrap_samples: Annotated[
        int, typer.Option("--bootstrap-samples", help="Resamples of the CIs.")
    ] = 1000,
) -> None:
    """EM and F1 of a submission file against a labelled file, per question type with 95% bootstrap CIs;
    with --baseline, the paired difference with its CI and the questions won and lost."""
    data_root = data_root_for(data_dir, [dataset])
    selection = select_examples(dataset, data_root, split=split, limit=None)
    records = score_submission(read_submission(predictions), selection, method=predictions.parent.name)
    summary = summarize(records, bootstrap_samples=bootstrap_samples)
    table = Table(title=f"{predictions} on {dataset} (% , 95% bootstrap CI)")
    for column in ("type", "n", "EM", "EM CI", "F1", "F1 CI"):
        table.add_column(column, justify="right" if column in {"n", "EM", "F1"} else "left")
    for row in summary.scores:
        table.add_row(row.type, str(row.n), pct(row.em), f"[{pct(row.em_low)}, {pct(row.em_high)}]",
                      pct(row.f1), f"[{pct(row.f1_low)}, {pct(row.f1_high)}]")  # fmt: skip
    stdout().print(table)
    if baseline is None:
        return
    theirs = score_submission(read_submission(baseline), selection, method=baseline.parent.name)
    paired = Table(title=f"{predictions} minus {baseline}: paired, 95% bootstrap CI")
    for column in ("metric", "n", "difference", "95% CI", "won", "lost"):
        paired.add_column(column)
    for metric in ("em", "f1"):
        for row in paired_rows(
            "submission", records, "baseline", theirs, metric=metric, samples=bootstrap_samples
        ):
            paired.add_row(metric, str(row.n), f"{100 * row.difference:+.1f}",
                           f"[{100 * row.low:+.1f}, {100 * row.high:+.1f}]", str(row.wins), str(row.losses))  # fmt: skip
    stdout().print(paired)
    console.print(f"scored {len(records)} questions of {selection.name}", highlight=False)
