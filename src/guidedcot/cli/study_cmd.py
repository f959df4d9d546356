"""`guidedcot study CONFIG`: run a study (see `guidedcot.study`); `--dry-run` prints its plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import SetOption, console
from guidedcot.cli.studies import plan_and_run
from guidedcot.config import load_config
from guidedcot.study import StudyConfig


def study_command(
    config: Annotated[Path, typer.Argument(help="Study YAML file (see configs/).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and print the plan; load no model.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Study folder (default: the config's out).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Dataset folder.")] = None,
    stage_kinds: Annotated[
        list[str] | None,
        typer.Option(
            "--stage", help="Run only stages of this kind: teacher, distill, rl, evaluate (repeatable)."
        ),
    ] = None,
    set_: SetOption = None,
) -> None:
    """Run a study: teacher, distillation variants, RL runs and the evaluation of every method."""
    settings = load_config(StudyConfig, config, set_)
    if out:
        settings.out = str(out)
    if data_dir:
        settings.data_dir = str(data_dir)
    result = plan_and_run(settings, dry_run=dry_run, kinds=set(stage_kinds) if stage_kinds else None)
    if result is not None:
        done = (
            f"summary {result.summary_file}" if result.summary_file else "some evaluations are still to run"
        )
        console.print(f"Study stages done: {done}.", highlight=False)
