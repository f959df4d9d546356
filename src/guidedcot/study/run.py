"""Run a study's plan stage by stage, each resumable, and write its summary.

The teacher store appends, distillation and RL resume from their last checkpoint and are skipped
once their ``final/`` exists, and every model call goes through the generation cache, so a study
killed at any point and run again picks up where it stopped. The wall time of every stage a run
works on is appended to ``timings.jsonl``; the summary gives each stage's total over all runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from guidedcot import jsonl
from guidedcot.atomic import write_text_atomic
from guidedcot.distill import generate_rationales
from guidedcot.distill.train import train_student
from guidedcot.errors import ConfigError, DataError
from guidedcot.evaluate.paired import PairedRow, paired_rows, read_predictions
from guidedcot.evaluate.records import PredictionRecord
from guidedcot.evaluate.summary import Summary, summarize
from guidedcot.llm.config import ModelConfig
from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter
from guidedcot.llm.types import LanguageModel
from guidedcot.progress import ProgressHook
from guidedcot.report import evaluate_to_folder
from guidedcot.runs import check_run_folder
from guidedcot.study.config import UNTRAINED
from guidedcot.study.plan import GUIDED_METHODS, STAGE_KINDS, Stage, StudyPlan
from guidedcot.study.summary import study_markdown

logger = logging.getLogger(__name__)
TIMINGS = "timings.jsonl"

StageProgress = Callable[[Stage], AbstractContextManager[ProgressHook | None]]


@dataclass
class ModeResult:
    """The evaluation of one context setting: every row, and each row paired against its baseline."""

    mode: str
    summary: Summary
    paired: list[PairedRow]


@dataclass
class StudyResult:
    """What the study wrote, and the comparison of every method per context setting."""

    root: Path
    modes: list[ModeResult]
    summary_file: Path | None
    """None until every evaluation stage is done (a run of some stages only)."""
    seconds: dict[str, float]


def run_study(
    plan: StudyPlan,
    *,
    data_dir: Path | None,
    progress: StageProgress | None = None,
    kinds: set[str] | None = None,
) -> StudyResult:
    """Run every stage of ``plan`` in order (skipping finished ones; only stages of ``kinds`` when
    given) and, once every evaluation is done, write ``summary.md``."""
    study = plan.study
    if kinds is not None and not kinds <= set(STAGE_KINDS):
        raise ConfigError(
            f"unknown stage kind(s) {sorted(kinds - set(STAGE_KINDS))}; choose from {STAGE_KINDS}"
        )
    check_run_folder(plan.root)
    plan.root.mkdir(parents=True, exist_ok=True)
    cache_path = resolve_cache_path(study.cache)
    logger.info("loading the reader %s", study.reader.model)
    reader = build_model(study.reader, cache_path)
    count_tokens = token_counter(study.reader)
    seconds: dict[str, float] = {}
    chosen = [stage for stage in plan.stages if kinds is None or stage.kind in kinds]
    for number, stage in enumerate(chosen, start=1):
        logger.info("stage %d/%d: %s", number, len(chosen), stage.label)
        started = time.perf_counter()
        if stage.done():
            logger.info("%s: done already (%s)", stage.label, stage.out)
            continue
        with progress(stage) if progress else contextlib.nullcontext(None) as hook:
            _run_stage(stage, reader, study.reader, cache_path, data_dir, count_tokens, hook)
        seconds[stage.label] = time.perf_counter() - started
        if int(os.environ.get("RANK", "0")) == 0:  # under `accelerate launch`, one line per stage
            _append_timing(plan.root / TIMINGS, stage, seconds[stage.label])
    summary_file = plan.root / "summary.md"
    if not all(stage.done() for stage in plan.stages if stage.kind == "evaluate"):
        return StudyResult(plan.root, [], None, seconds)
    modes = [summarize_mode(plan, mode) for mode in study.context_modes]
    write_text_atomic(summary_file, study_markdown(plan, modes, stage_seconds(plan.root / TIMINGS)))
    return StudyResult(plan.root, modes, summary_file, seconds)


def _run_stage(
    stage: Stage,
    reader: LanguageModel,
    reader_settings: ModelConfig,
    cache_path: Path | None,
    data_dir: Path | None,
    count_tokens: Callable[[str], int] | None,
    hook: ProgressHook | None,
) -> None:
    config = stage.config
    if stage.kind == "teacher":
        teacher = reader if config.teacher == reader_settings else build_model(config.teacher, cache_path)
        generate_rationales(
            config, teacher=teacher, data_dir=data_dir, count_tokens=count_tokens, progress=hook
        )
    elif stage.kind == "distill":
        trained = train_student(config, resume=True, progress=hook)
        logger.info("%s: eval loss %s -> %s", stage.label, trained.eval_loss_before, trained.eval_loss_after)
    elif stage.kind == "rl":
        from guidedcot.rl import train_rl

        train_rl(
            config, reader=reader, data_dir=data_dir, count_tokens=count_tokens, resume=True, progress=hook
        )
    else:
        guided = any(method in GUIDED_METHODS for method in config.methods)
        student = build_model(config.student, cache_path) if guided else None
        evaluate_to_folder(config, reader=reader, student=student, out_dir=stage.out, data_dir=data_dir,
                           count_tokens=count_tokens, progress=hook)  # fmt: skip


def summarize_mode(plan: StudyPlan, mode: str) -> ModeResult:
    """Every evaluation of one context setting: guided rows named after their student, each row
    paired against the baseline method, and each RL student paired against the student it refined."""
    stages = [s for s in plan.stages if s.kind == "evaluate" and s.config.context_mode == mode]
    records: list[PredictionRecord] = []
    for stage in stages:
        for record in read_predictions(stage.out / "predictions.jsonl"):
            if record.method.startswith("guided"):
                record = dataclasses.replace(record, method=f"{record.method} ({stage.guide})")
            records.append(record)
    by_method: dict[str, list[PredictionRecord]] = {}
    for record in records:
        by_method.setdefault(record.method, []).append(record)
    baseline = plan.study.baseline
    paired = [
        row
        for method, group in by_method.items()
        if method != baseline
        for row in paired_rows(method, group, baseline, by_method[baseline])
    ]
    for run, origin in _refinements(plan):
        for method in ("guided", "guided-sc"):
            ours, theirs = f"{method} (rl:{run})", f"{method} ({origin})"
            if ours in by_method and theirs in by_method:
                paired += paired_rows(ours, by_method[ours], theirs, by_method[theirs])
    return ModeResult(mode, summarize(records), paired)


def _refinements(plan: StudyPlan) -> Iterator[tuple[str, str]]:
    """(RL run, the guide name of the student it started from) for every RL stage."""
    for stage in plan.stages:
        if stage.kind == "rl":
            origin = stage.needs[0].replace(" ", ":", 1) if stage.needs else UNTRAINED
            yield stage.name, origin


def stage_seconds(path: Path) -> dict[str, float]:
    """Each stage's wall time summed over every run of the study that worked on it."""
    totals: dict[str, float] = {}
    if path.exists():
        for number, entry in jsonl.read_objects(path, tolerate_cut_end=True):
            try:
                totals[entry["stage"]] = totals.get(entry["stage"], 0.0) + float(entry["seconds"])
            except (KeyError, TypeError, ValueError) as error:
                raise DataError(
                    path, f"not a stage timing ({type(error).__name__}: {error})", line=number
                ) from None
    return totals


def _append_timing(path: Path, stage: Stage, seconds: float) -> None:
    jsonl.append(
        path, [{"stage": stage.label, "seconds": round(seconds, 1), "at": time.strftime("%Y-%m-%dT%H:%M:%S")}]
    )
