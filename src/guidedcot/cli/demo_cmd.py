"""`guidedcot demo`: the most complete part of the method that works today, on the embedded default."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Annotated

import typer
from rich.table import Table

from guidedcot.cli.common import ConfigOption, SetOption, console, stdout
from guidedcot.config import load_config
from guidedcot.data import build_context, load_examples
from guidedcot.data.discovery import find_dataset_files, resolve_data_dir
from guidedcot.models import resolve_model

logger = logging.getLogger(__name__)


@dataclass
class DemoConfig:
    """Settings of `guidedcot demo`."""

    data_dir: str | None = field(default=None, metadata={"help": "Dataset folder; default $GUIDEDCOT_DATA."})
    student: str = field(default="smollm2", metadata={"help": "Student model: named model, path or hub id."})
    reader: str = field(
        default="qwen2.5-coder-1.5b-instruct", metadata={"help": "Reader model: named model, path or hub id."}
    )
    max_context_tokens: int = field(
        default=600,
        metadata={"help": "Token budget of each context (reader tokenizer); gold paragraphs go last."},
    )


def demo_command(
    quick: Annotated[bool, typer.Option("--quick", help="Skip preparing the 1.5B reader.")] = False,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Run the whole method end to end on the embedded default (today: the steps that exist)."""
    settings = load_config(DemoConfig, config, set_)
    started = time.perf_counter()
    data_dir = resolve_data_dir(settings.data_dir)
    files = find_dataset_files(data_dir)
    logger.info("step 1/3: validating %d dataset file(s) in %s", len(files), data_dir)
    loaded = [load_examples(path) for path in files]
    total = sum(len(result.examples) for result in loaded)

    logger.info("step 2/3: preparing the student %s and the reader %s", settings.student, settings.reader)
    student = resolve_model(settings.student)
    reader = None if quick else resolve_model(settings.reader)

    logger.info("step 3/3: building contexts within %d reader tokens", settings.max_context_tokens)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained((reader or student).hf_path)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    table = Table(title="Contexts under the budget (gold mode / distractor mode)")
    for column in (
        "file",
        "examples",
        "gold tokens (mean)",
        "distractor tokens (mean)",
        "distractors dropped",
    ):
        table.add_column(column)
    for result in loaded:
        sample = result.examples[:10]
        gold = [
            build_context(e, "gold", max_tokens=settings.max_context_tokens, count_tokens=count)
            for e in sample
        ]
        full = [
            build_context(e, "distractor", max_tokens=settings.max_context_tokens, count_tokens=count)
            for e in sample
        ]
        table.add_row(
            result.path.name,
            str(len(result.examples)),
            f"{sum(c.tokens or 0 for c in gold) / len(gold):.0f}",
            f"{sum(c.tokens or 0 for c in full) / len(full):.0f}",
            str(sum(len(c.truncation.dropped_distractors) for c in full)),
        )
    stdout().print(table)
    console.print(
        f"Validated {total} examples in {len(files)} files; student ready ({student.identity}); "
        + (f"reader ready ({reader.identity}). " if reader else "reader skipped (--quick). ")
        + f"Done in {time.perf_counter() - started:.0f} s. Not yet built: backends and answering (issue 3/4), "
        "distillation (issue 5), RL: see the README's 'What works' table."
    )
