"""`guidedcot distill generate` and `guidedcot distill train`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import ConfigOption, SetOption, console, field_option, listed, stage
from guidedcot.config import field_help, load_config, set_fields
from guidedcot.data.selection import check_selections, data_root_for
from guidedcot.distill import GenerateConfig, TrainConfig, build_training_set, generate_rationales

logger = logging.getLogger(__name__)
distill_app = typer.Typer(
    help="Step 1: teacher rationales, filtered by correctness, then student fine-tuning."
)


@distill_app.command("generate")
def generate_command(
    samples: Annotated[int | None, field_option("--samples", GenerateConfig, "samples")] = None,
    limit: Annotated[int | None, field_option("--limit", GenerateConfig, "limit")] = None,
    dataset: Annotated[
        list[str] | None, field_option("--dataset", GenerateConfig, "datasets", "Repeatable.")
    ] = None,
    teacher: Annotated[
        str | None, field_option("--teacher", GenerateConfig, "teacher.model", role="Teacher (the reader)")
    ] = None,
    out: Annotated[Path | None, field_option("--out", GenerateConfig, "out")] = None,
    data_dir: Annotated[Path | None, field_option("--data-dir", GenerateConfig, "data_dir")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """The reader writes Reasoning + Prediction for every training question into the teacher store."""
    from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter

    flags = {"samples": samples, "limit": limit, "datasets": listed(dataset), "teacher.model": teacher,
             "out": out, "data_dir": data_dir}  # fmt: skip
    settings = set_fields(load_config(GenerateConfig, config, set_), flags)
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
    student: Annotated[str | None, field_option("--student", TrainConfig, "student")] = None,
    teacher_store: Annotated[
        Path | None, field_option("--teacher-store", TrainConfig, "teacher_store")
    ] = None,
    out: Annotated[Path | None, field_option("--out", TrainConfig, "out")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    lora: Annotated[bool | None, typer.Option("--lora/--full", help=field_help(TrainConfig, "lora"))] = None,
    max_steps: Annotated[int | None, field_option("--max-steps", TrainConfig, "max_steps")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Fine-tune the student on (question + context -> kept teacher rationale); runs under accelerate launch."""
    from guidedcot.distill.train import train_student

    flags = {
        "student": student,
        "teacher_store": teacher_store,
        "out": out,
        "lora": lora,
        "max_steps": max_steps,
    }
    settings = set_fields(load_config(TrainConfig, config, set_), flags)
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
