"""Pieces every subcommand shares: logging, the console, the error paragraph, --config / --set options."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from guidedcot.config import field_help
from guidedcot.progress import console, progress_bar, stage

__all__ = [
    "ConfigOption", "SetOption", "console", "field_option", "listed", "progress_bar", "setup_logging", "stage",
    "stdout",
]  # fmt: skip


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


def field_option(flag: str, cls: type, key: str, note: str = "", *, role: str = "") -> Any:
    """A typer option that sets config field ``key`` of ``cls``: its help is the field's own (after
    ``role``, before ``note``), so the text has one home (the config) and ``--help`` says what the config
    file says."""
    return typer.Option(
        flag, help=(f"{role}: " if role else "") + field_help(cls, key) + (f" {note}" if note else "")
    )


def listed(entries: list[str] | None) -> list[str] | None:
    """A repeatable option's values, each also split at commas (``--dataset a,b --dataset c``); None when
    the option was not given."""
    if not entries:
        return None
    return [item.strip() for entry in entries for item in entry.split(",") if item.strip()]


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
