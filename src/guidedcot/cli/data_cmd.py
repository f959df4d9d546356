"""`guidedcot data`: find, validate and summarise dataset files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from guidedcot.cli.common import ConfigOption, SetOption, console, stdout
from guidedcot.config import load_config
from guidedcot.data.discovery import find_dataset_files, resolve_data_dir, split_of
from guidedcot.data.loading import load_examples
from guidedcot.errors import DataError, GuidedCotError


@dataclass
class DataConfig:
    """Settings of `guidedcot data`."""

    data_dir: str | None = field(
        default=None, metadata={"help": "Folder searched for .json/.jsonl files; default $GUIDEDCOT_DATA."}
    )
    skip_invalid: bool = field(
        default=False,
        metadata={"help": "Leave invalid records out (each is counted and reported) instead of failing."},
    )


def _short(path: Path) -> str:
    """The file name with its folder, which is enough to tell the files apart."""
    return f"{path.parent.name}/{path.name}"


def data_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Dataset files; default: every file in the data dir.")
    ] = None,
    data_dir: Annotated[str | None, typer.Option(help="Dataset folder (default $GUIDEDCOT_DATA).")] = None,
    skip_invalid: Annotated[
        bool | None, typer.Option("--skip-invalid", help="Skip invalid records, counting and reporting each.")
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Find, validate and summarise dataset files (counts per dataset, split and question type)."""
    settings = load_config(DataConfig, config, set_)
    if data_dir is not None:
        settings.data_dir = data_dir
    if skip_invalid is not None:
        settings.skip_invalid = skip_invalid
    files = list(paths or find_dataset_files(resolve_data_dir(settings.data_dir)))
    if not files:
        raise GuidedCotError(
            f"no .json or .jsonl dataset files found in {resolve_data_dir(settings.data_dir)}"
        )

    table = Table(title="Datasets")
    for column in ("file", "dataset", "split", "examples", "skipped", "question types"):
        table.add_column(column, justify="right" if column in {"examples", "skipped"} else "left")
    failures: list[DataError] = []
    skipped_total = 0
    for path in files:
        try:
            result = load_examples(path, skip_invalid=settings.skip_invalid)
            if not result.examples and not result.skipped:
                raise DataError(path, "holds no questions")
        except DataError as error:
            failures.append(error)
            table.add_row(escape(_short(path)), "-", split_of(path), "-", "-", "[red]invalid[/red]")
            continue
        types = Counter(example.type for example in result.examples)
        skipped_total += len(result.skipped)
        table.add_row(
            escape(_short(path)),
            result.dataset,
            split_of(path),
            str(len(result.examples)),
            str(len(result.skipped)),
            ", ".join(f"{name} {count}" for name, count in sorted(types.items())),
        )
        for error in result.skipped:
            console.print(f"[yellow]skipped[/yellow] {escape(str(error))}")
    stdout().print(table)
    for error in failures:
        console.print(f"[red]error[/red] {escape(str(error))}")
    valid = len(files) - len(failures)
    console.print(f"{valid} of {len(files)} file(s) valid; {skipped_total} record(s) skipped.")
    if failures:  # a user error, as everywhere: exit status 2
        raise typer.Exit(code=2)
