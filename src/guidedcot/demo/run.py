"""The demo's stages, each resumable:

1. validate the data and prepare the student and the reader;
2. the reader as teacher writes CoT rationales for training questions (teacher store);
3. the student is fine-tuned on the rationales that led to a correct answer;
4. evaluation on held-out dev questions: standard prompting, the reader's CoT, and LM-guided CoT
   with the untrained and with the distilled student (both through the transformers backend).
The teacher store appends, training resumes from its last checkpoint, and every model call is in the
generation cache, so a killed demo run again picks up where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from guidedcot.atomic import write_text_atomic
from guidedcot.data import load_examples
from guidedcot.data.discovery import find_dataset_files, resolve_data_dir
from guidedcot.demo.config import DemoConfig
from guidedcot.distill import GenerateConfig, TrainConfig, generate_rationales
from guidedcot.distill.train import train_student
from guidedcot.evaluate import EvaluateConfig
from guidedcot.evaluate.summary import ScoreRow, Summary
from guidedcot.llm.config import ModelConfig
from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter
from guidedcot.progress import stage
from guidedcot.report import evaluate_to_folder
from guidedcot.report.markdown import pct

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """Where the demo put things, and the combined comparison of every method."""

    root: Path
    teacher_store: Path
    student: Path
    reports: list[Path]
    summary: Summary
    summary_file: Path
    seconds: float


def run_demo(settings: DemoConfig, *, quick: bool = False) -> DemoResult:
    """Teacher -> distillation -> evaluation under ``settings.out/{quick|full}``."""
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
    with stage("teacher", prefix="teacher ") as hook:
        store = generate_rationales(
            generate, teacher=reader, data_dir=data_dir, count_tokens=count_tokens, progress=hook
        )

    logger.info("step 3/4: distilling %s on the correct rationales", settings.student)
    # One student folder per teacher-store size: more rationales train a new student, while an
    # interrupted training of the same data resumes from its last checkpoint.
    student_dir = root / f"student-{len(store.records)}"
    final = student_dir / "final"
    if not (final / "config.json").exists():
        train = TrainConfig(
            teacher_store=str(root / "teacher"),
            student=settings.student,
            out=str(student_dir),
            epochs=settings.epochs,
            learning_rate=settings.learning_rate,
            save_steps=20,
        )
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
        with stage(name) as hook:
            result = evaluate_to_folder(
                evaluation, reader=reader, student=build_model(evaluation.student, cache_path),
                out_dir=root / f"eval-{name}", data_dir=data_dir, count_tokens=count_tokens, progress=hook,
            )  # fmt: skip
        rows[name] = result.summary.overall()
    combined = list(rows["baselines"]) + [
        ScoreRow(**{**r.__dict__, "method": "guided (distilled)"}) for r in rows["distilled"]
    ]
    summary_file = root / "summary.md"
    write_text_atomic(summary_file, demo_markdown(combined, store.manifest_path))
    return DemoResult(
        root=root,
        teacher_store=root / "teacher",
        student=final,
        reports=[root / f"eval-{name}" / "report.html" for name, _, _ in runs],
        summary=Summary(scores=combined, diagnostics=[]),
        summary_file=summary_file,
        seconds=time.perf_counter() - started,
    )


def demo_markdown(rows: list[ScoreRow], manifest: Path) -> str:
    """The demo's summary page: teacher-store counts and the comparison table with CIs."""
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
