"""Pieces every subcommand shares: logging, the console, the error paragraph, --config / --set options."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from guidedcot.progress import console, progress_bar, stage

__all__ = ["ConfigOption", "SetOption", "console", "progress_bar", "setup_logging", "stage", "stdout"]


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
