"""`guidedcot study CONFIG`: run a study (see `guidedcot.study`); `--dry-run` prints its plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import SetOption, console, stdout
from guidedcot.config import load_config
from guidedcot.data.discovery import resolve_data_dir
from guidedcot.progress import stage
from guidedcot.study import StudyConfig, StudyResult, build_plan, run_study


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


def plan_and_run(
    settings: StudyConfig, *, dry_run: bool = False, kinds: set[str] | None = None
) -> StudyResult | None:
    """Print the plan; unless ``dry_run``, run it and print each context setting's tables."""
    data_dir = resolve_data_dir(settings.data_dir)
    plan = build_plan(settings, data_dir)
    for line in plan.describe():
        stdout().print(line, highlight=False, markup=False)
    if dry_run:
        return None
    result = run_study(
        plan, data_dir=data_dir, kinds=kinds, progress=lambda s: stage(s.label, prefix=f"{s.label}: ")
    )
    print_result(result)
    return result


def print_result(result: StudyResult) -> None:
    """Each context setting's score table and paired differences, on stdout."""
    from rich.table import Table

    from guidedcot.cli.evaluate_cmd import summary_table
    from guidedcot.study.summary import paired_cell

    for mode in result.modes:
        table = summary_table(mode.summary)
        table.title = f"Context {mode.mode}: answer accuracy (%, 95% bootstrap CI)"
        stdout().print(table)
        paired = Table(title=f"Context {mode.mode}: paired EM difference (points, 95% CI)")
        for column in ("dataset", "method", "minus", "n", "EM difference", "won", "lost"):
            paired.add_column(column)
        for row in mode.paired:
            paired.add_row(row.dataset, row.method, row.baseline, str(row.n), paired_cell(row),
                           str(row.wins), str(row.losses))  # fmt: skip
        stdout().print(paired)
