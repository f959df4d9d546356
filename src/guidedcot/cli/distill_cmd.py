"""`guidedcot distill generate` and `guidedcot distill train`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import ConfigOption, SetOption, console, stage
from guidedcot.config import load_config
from guidedcot.data.selection import check_selections, data_root_for
from guidedcot.distill import GenerateConfig, TrainConfig, build_training_set, generate_rationales

logger = logging.getLogger(__name__)
distill_app = typer.Typer(
    help="Step 1: teacher rationales, filtered by correctness, then student fine-tuning."
)


@distill_app.command("generate")
def generate_command(
    samples: Annotated[int | None, typer.Option("--samples", help="k rationales per question.")] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="First N questions of each dataset entry.")
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", help="NAME_OR_PATH[:SPLIT][[START:STOP]] (repeatable).")
    ] = None,
    teacher: Annotated[
        str | None, typer.Option("--teacher", help="Teacher (the reader): model or URL.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Teacher store folder (appended, resumable).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Dataset folder.")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """The reader writes Reasoning + Prediction for every training question into the teacher store."""
    from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter

    settings = load_config(GenerateConfig, config, set_)
    if samples is not None:
        settings.samples = samples
    if limit is not None:
        settings.limit = limit
    if dataset:
        settings.datasets = [d.strip() for entry in dataset for d in entry.split(",") if d.strip()]
    if teacher:
        settings.teacher.model = teacher
    if out:
        settings.out = str(out)
    if data_dir:
        settings.data_dir = str(data_dir)
    settings.check()
    data_root = data_root_for(settings.data_dir, settings.datasets)
    check_selections(
        settings.datasets, data_root, split="train", limit=settings.limit, context_mode=settings.context_mode
    )
    model = build_model(settings.teacher, resolve_cache_path(settings.cache))
    with stage("teacher rationales") as hook:
        store = generate_rationales(
            settings,
            teacher=model,
            data_dir=data_root,
            count_tokens=token_counter(settings.teacher),
            progress=hook,
        )
    _, stats = build_training_set(store.records)
    console.print(
        f"Teacher store {settings.out}: {stats.records} rationales for {stats.questions} questions; "
        f"{stats.kept_records} correct (EM) covering {stats.questions_kept} questions, "
        f"{stats.kept_stating_answer} of them state the gold answer. Teacher calls this run: "
        f"{model.usage.calls} ({model.usage.cache_hits} from the cache).",
        highlight=False,
    )


@distill_app.command("train")
def train_command(
    student: Annotated[
        str | None, typer.Option("--student", help="Student: named model, HF folder, hub id.")
    ] = None,
    teacher_store: Annotated[
        Path | None, typer.Option("--teacher-store", help="Folder of distill generate.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (checkpoints, logs, final/).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    lora: Annotated[bool | None, typer.Option("--lora/--full", help="LoRA adapters or all weights.")] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after N optimizer steps.")
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Fine-tune the student on (question + context -> kept teacher rationale); runs under accelerate launch."""
    from guidedcot.distill.train import train_student

    settings = load_config(TrainConfig, config, set_)
    if student:
        settings.student = student
    if teacher_store:
        settings.teacher_store = str(teacher_store)
    if out:
        settings.out = str(out)
    if lora is not None:
        settings.lora = lora
    if max_steps is not None:
        settings.max_steps = max_steps
    settings.check()
    result = train_student(settings, resume=resume)
    s = result.stats
    loss = (
        f"eval loss {result.eval_loss_before:.3f} -> {result.eval_loss_after:.3f}"
        if result.eval_loss_before is not None and result.eval_loss_after is not None
        else f"eval loss {result.eval_loss_after}"
    )
    console.print(
        f"Trained on {result.train_examples} rationales ({s.questions_kept} of {s.questions} questions kept "
        f"one, {s.kept_stating_answer} state the answer), {result.eval_examples} held out; {loss}; "
        f"{result.global_step} steps"
        + (f" (resumed from {result.resumed_from})" if result.resumed_from else "")
        + f". Student saved to {result.final_dir}",
        highlight=False,
    )
