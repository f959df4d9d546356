"""What the study and demo commands share: run a study plan and print its tables; the score table
`guidedcot evaluate` prints too. (Helpers of command modules; no command module imports another.)"""

from __future__ import annotations

from rich.table import Table

from guidedcot.cli.common import stdout
from guidedcot.data.discovery import resolve_data_dir
from guidedcot.evaluate.summary import Summary
from guidedcot.progress import stage
from guidedcot.report.markdown import pct
from guidedcot.study import StudyConfig, StudyResult, build_plan, run_study


def summary_table(summary: Summary) -> Table:
    """EM / F1 with CIs over all question types, one row per dataset x method."""
    table = Table(title="Answer accuracy (% , 95% bootstrap CI)")
    for column in ("dataset", "method", "n", "EM", "EM CI", "F1", "F1 CI"):
        table.add_column(column, justify="right" if column in {"n", "EM", "F1"} else "left")
    for row in summary.overall():
        table.add_row(
            row.dataset,
            row.method,
            str(row.n),
            pct(row.em),
            f"[{pct(row.em_low)}, {pct(row.em_high)}]",
            pct(row.f1),
            f"[{pct(row.f1_low)}, {pct(row.f1_high)}]",
        )
    return table


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
