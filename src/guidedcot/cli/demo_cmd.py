"""`guidedcot demo`: the method end to end on the embedded default (see `guidedcot.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import ConfigOption, SetOption, console, stdout
from guidedcot.cli.evaluate_cmd import summary_table
from guidedcot.config import load_config
from guidedcot.demo import DemoConfig, run_demo


def demo_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="A few questions per step (minutes, not an hour).")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Demo folder (default runs/demo).")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Run the method end to end on the embedded default: teacher, distillation, evaluation."""
    settings = load_config(DemoConfig, config, set_)
    if quick:
        settings.make_quick()
    if out:
        settings.out = str(out)
    result = run_demo(settings, quick=quick)
    stdout().print(summary_table(result.summary))
    console.print(
        f"Demo done in {result.seconds:.0f} s: teacher store {result.teacher_store}, student {result.student}, "
        f"reports {' and '.join(map(str, result.reports))}, summary {result.summary_file}. "
        "Not yet built: RL refinement (see the README's 'What works' table).",
        highlight=False,
    )
