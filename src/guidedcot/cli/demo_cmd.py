"""`guidedcot demo`: the method end to end on the embedded default, as far as it is built.

1. validate the data and prepare the student and the reader;
2. the reader as teacher writes CoT rationales for training questions (teacher store);
3. the student is fine-tuned on the rationales that led to a correct answer;
4. evaluation on held-out dev questions: standard prompting, the reader's CoT, and LM-guided CoT
   with the untrained and with the distilled student (both through the transformers backend).
Every step is resumable: the teacher store appends, training resumes from its last checkpoint, and
every model call is in the generation cache, so a killed demo run again picks up where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from guidedcot.atomic import write_text_atomic
from guidedcot.cli.common import ConfigOption, SetOption, console, progress_bar, progress_hook, stdout
from guidedcot.cli.evaluate_cmd import evaluate_with_progress, summary_table
from guidedcot.config import load_config
from guidedcot.data import load_examples
from guidedcot.data.discovery import find_dataset_files, resolve_data_dir
from guidedcot.distill import GenerateConfig, TrainConfig, generate_rationales
from guidedcot.distill.train import train_student
from guidedcot.evaluate import EvaluateConfig
from guidedcot.evaluate.summary import ScoreRow, Summary
from guidedcot.llm.config import ModelConfig
from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter
from guidedcot.report.markdown import pct

logger = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Settings of `guidedcot demo`."""

    data_dir: str | None = field(default=None, metadata={"help": "Dataset folder; default $GUIDEDCOT_DATA."})
    student: str = field(default="smollm2", metadata={"help": "Student model: named model, path or hub id."})
    reader: str = field(
        default="qwen2.5-coder-1.5b-instruct", metadata={"help": "Reader (and teacher) model."}
    )
    eval_datasets: list[str] = field(
        default_factory=lambda: ["hotpotqa:dev", "2wiki:dev[0:100]"],
        metadata={"help": "Held-out evaluation questions (disjoint from the teacher's)."},
    )
    eval_limit: int = field(default=50, metadata={"help": "Evaluation questions per dataset."})
    teacher_datasets: list[str] = field(
        default_factory=lambda: ["hotpotqa:train", "2wiki:dev[100:250]"],
        metadata={"help": "Training questions for teacher rationales."},
    )
    teacher_limit: int | None = field(
        default=None, metadata={"help": "Teacher questions per dataset entry (null: all of them)."}
    )
    epochs: float = field(default=3.0, metadata={"help": "Distillation epochs."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Distillation learning rate."})
    cache: str = field(default="default", metadata={"help": "Generation cache ('default', a path or none)."})
    out: str = field(default="runs/demo", metadata={"help": "Demo folder (reused and resumed)."})


def demo_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="A few questions per step (minutes, not an hour).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Demo folder (default runs/demo).")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Run the method end to end on the embedded default: teacher, distillation, evaluation."""
    settings = load_config(DemoConfig, config, set_)
    if quick:
        settings.eval_limit, settings.teacher_limit, settings.epochs = 4, 8, 1.0
    if out:
        settings.out = str(out)
    root = Path(settings.out) / ("quick" if quick else "full")
    started = time.perf_counter()
    data_dir = resolve_data_dir(settings.data_dir)
    files = find_dataset_files(data_dir)
    total = sum(len(load_examples(path).examples) for path in files)
    logger.info(
        "step 1/4: %d examples in %d files are valid; loading the reader %s",
        total,
        len(files),
        settings.reader,
    )
    cache_path = resolve_cache_path(settings.cache)
    reader_settings = ModelConfig(model=settings.reader)
    reader = build_model(reader_settings, cache_path)
    count_tokens = token_counter(reader_settings)

    logger.info("step 2/4: teacher rationales for %s", ", ".join(settings.teacher_datasets))
    generate = GenerateConfig(
        datasets=settings.teacher_datasets, limit=settings.teacher_limit, out=str(root / "teacher")
    )
    with progress_bar() as bar:
        task = bar.add_task("teacher", total=None)
        store = generate_rationales(
            generate,
            teacher=reader,
            data_dir=data_dir,
            count_tokens=count_tokens,
            progress=progress_hook(bar, task, "teacher "),
        )

    logger.info("step 3/4: distilling %s on the correct rationales", settings.student)
    # One student folder per teacher-store size: more rationales train a new student, while an
    # interrupted training of the same data resumes from its last checkpoint.
    student_dir = root / f"student-{len(store.records)}"
    train = TrainConfig(
        teacher_store=str(root / "teacher"),
        student=settings.student,
        out=str(student_dir),
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        save_steps=20,
    )
    final = student_dir / "final"
    if not (final / "config.json").exists():
        trained = train_student(train, resume=True)  # from the last checkpoint when there is one
        logger.info("distilled: eval loss %s -> %s", trained.eval_loss_before, trained.eval_loss_after)

    logger.info("step 4/4: evaluating on %s", ", ".join(settings.eval_datasets))
    rows: dict[str, list[ScoreRow]] = {}
    runs = [
        ("baselines", ["standard", "cot", "guided"], settings.student),
        ("distilled", ["guided"], str(final)),
    ]
    for name, methods, student in runs:
        evaluation = EvaluateConfig(
            datasets=settings.eval_datasets,
            limit=settings.eval_limit,
            methods=methods,
            student=ModelConfig(model=student, backend="transformers"),
            out=str(root / f"eval-{name}"),
        )
        result = evaluate_with_progress(
            evaluation, reader=reader, student=build_model(evaluation.student, cache_path),
            out_dir=root / f"eval-{name}", data_dir=data_dir, count_tokens=count_tokens, label=name,
        )  # fmt: skip
        rows[name] = result.summary.overall()
    combined = list(rows["baselines"]) + [
        ScoreRow(**{**r.__dict__, "method": "guided (distilled)"}) for r in rows["distilled"]
    ]
    summary = Summary(scores=combined, diagnostics=[])
    stdout().print(summary_table(summary))
    write_text_atomic(root / "summary.md", _markdown(combined, store.manifest_path))
    console.print(
        f"Demo done in {time.perf_counter() - started:.0f} s: teacher store {root / 'teacher'}, student {final}, "
        f"reports {root}/eval-baselines/report.html and {root}/eval-distilled/report.html, summary {root / 'summary.md'}. "
        "Not yet built: RL refinement (see the README's 'What works' table).",
        highlight=False,
    )


def _markdown(rows: list[ScoreRow], manifest: Path) -> str:
    counts = json.loads(manifest.read_text(encoding="utf-8"))["counts"]
    lines = [
        "# guidedcot demo",
        "",
        f"Teacher store: {counts['records']} rationales for {counts['questions']} questions, "
        f"{counts['questions_with_an_em_record']} questions with a correct one.",
        "",
        "| dataset | method | n | EM % | EM 95% CI | F1 % | F1 95% CI |",
        "| --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    lines += [
        f"| {r.dataset} | {r.method} | {r.n} | {pct(r.em)} | [{pct(r.em_low)}, {pct(r.em_high)}] | "
        f"{pct(r.f1)} | [{pct(r.f1_low)}, {pct(r.f1_high)}] |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"
