"""`guidedcot demo`: the method end to end on the embedded default (see `guidedcot.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import ConfigOption, SetOption, console
from guidedcot.cli.studies import plan_and_run
from guidedcot.demo import demo_study, load_demo_settings


def demo_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="A few questions per stage (minutes); --set still sets any size.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Demo folder (default runs/demo).")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Run the method end to end on the embedded default: teacher, distillation, RL, evaluation."""
    settings = load_demo_settings(config, set_, quick=quick)
    if out:
        settings.out = str(out)
    result = plan_and_run(demo_study(settings, quick=quick))
    assert result is not None and result.summary_file is not None  # every stage ran
    reports = sorted(str(p) for p in result.root.glob("eval-*/report.html"))
    console.print(
        f"Demo done in {sum(result.seconds.values()):.0f} s: summary {result.summary_file}; "
        f"reports {', '.join(reports)}; stage times in {result.root / 'timings.jsonl'}.",
        highlight=False,
    )
