"""Pieces every subcommand shares: logging, the console, the error paragraph, --config / --set options."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, soft_wrap=True)


def stdout() -> Console:
    """A console on standard output, sized to the terminal (or $COLUMNS) at the time of the call."""
    return Console()


ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="YAML config file; command-line options override it.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, dotted into sections: --set key=value (repeatable)."),
]


def setup_logging(verbose: bool = False) -> None:
    """Log through rich to stderr; INFO by default, DEBUG with --verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def progress_bar() -> Progress:
    """The progress bar every long command shows (on stderr)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def progress_hook(bar: Progress, task: TaskID, prefix: str = "") -> Callable[[str, int, int], None]:
    """A (label, done, total) callback that moves ``task`` of ``bar``."""

    def update(label: str, done: int, total: int) -> None:
        bar.update(task, description=f"{prefix}{label}", completed=done, total=total)

    return update
