"""`guidedcot models` and `guidedcot models prepare NAME`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from guidedcot.cli.common import ConfigOption, SetOption, console, stdout
from guidedcot.config import load_config
from guidedcot.models import NAMED_MODELS, model_state, resolve_model
from guidedcot.models.registry import ALIASES

logger = logging.getLogger(__name__)


@dataclass
class PrepareConfig:
    """Settings of `guidedcot models prepare`."""

    hf: bool = field(
        default=True,
        metadata={
            "help": "Also convert the GGUF into a transformers folder (needed by the transformers backend)."
        },
    )


models_app = typer.Typer(help="List the named models and prepare them.", invoke_without_command=True)


def _mb(size: int | None) -> str:
    return f"{size / 1e6:,.0f} MB" if size else "-"


@models_app.callback()
def list_models(ctx: typer.Context) -> None:
    """List each named model: packages installed, GGUF verified, transformers folder prepared, size."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table(title="Named models (offline, from PyPI packages)")
    for column in ("name", "alias", "role", "installed", "verified", "HF folder", "size", "license"):
        table.add_column(column)
    reverse_alias = {full: short for short, full in ALIASES.items()}
    for model in NAMED_MODELS.values():
        state = model_state(model)
        table.add_row(
            model.name,
            reverse_alias.get(model.name, ""),
            model.role,
            "yes" if state.installed else f"[red]no[/red] ({len(state.missing_packages)} package(s) missing)",
            "yes" if state.verified else "no",
            "yes" if state.hf_dir else "no",
            _mb(state.size_bytes) if state.size_bytes else f"~{model.approx_size_mb} MB",
            model.license,
        )
    stdout().print(table)
    console.print("Prepare one with: guidedcot models prepare NAME (hub ids and local paths work too).")


@models_app.command("prepare")
def prepare_command(
    name: Annotated[
        str, typer.Argument(help="A named model or alias, a local .gguf / HF folder, or a hub id.")
    ],
    hf: Annotated[
        bool | None,
        typer.Option("--hf/--no-hf", help="Also convert into a transformers folder (default yes)."),
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Locate (join chunks if needed), verify the sha256 and convert a model for transformers, once."""
    settings = load_config(PrepareConfig, config, set_)
    if hf is not None:
        settings.hf = hf
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"verifying {name}", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        resolved = resolve_model(name, hf=settings.hf, progress=report)
    elapsed = time.perf_counter() - started
    stdout().print(f"[green]ready[/green] {resolved.spec} ({resolved.kind}) in {elapsed:.1f} s")
    stdout().print(f"  identity: {resolved.identity}")
    if resolved.gguf_path:
        stdout().print(f"  GGUF:     {resolved.gguf_path}")
    if resolved.hf_path:
        stdout().print(f"  HF:       {resolved.hf_path}")
