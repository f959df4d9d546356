"""A study's summary page: per context setting, every row with its CI, each row paired against the
baseline method (and each RL student against the student it refined), and the judged aspects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guidedcot.evaluate.paired import PairedRow
from guidedcot.evaluate.summary import TOTAL_ASPECT
from guidedcot.report.markdown import pct

if TYPE_CHECKING:
    from guidedcot.study.plan import StudyPlan
    from guidedcot.study.run import ModeResult


def signed(value: float) -> str:
    """A difference of shares in percentage points, with its sign."""
    return f"{100 * value:+.1f}"


def paired_cell(row: PairedRow) -> str:
    """``+4.0 [-2.0, +10.0]`` (percentage points)."""
    return f"{signed(row.difference)} [{signed(row.low)}, {signed(row.high)}]"


def study_markdown(plan: StudyPlan, modes: list[ModeResult], seconds: dict[str, float]) -> str:
    """The whole summary page."""
    study = plan.study
    lines = [
        f"# Study: {study.name}",
        "",
        f"Reader `{study.reader.model}`, student `{study.student}`. Plan:",
        "",
    ]
    lines += [f"    {line}" for line in plan.describe()[1:]]
    for mode in modes:
        lines += ["", f"## Context: {mode.mode}", "", "| dataset | method | n | EM % | EM 95% CI | F1 % | F1 95% CI |",
                  "| --- | --- | ---: | ---: | --- | ---: | --- |"]  # fmt: skip
        lines += [
            f"| {r.dataset} | {r.method} | {r.n} | {pct(r.em)} | [{pct(r.em_low)}, {pct(r.em_high)}] | "
            f"{pct(r.f1)} | [{pct(r.f1_low)}, {pct(r.f1_high)}] |"
            for r in mode.summary.overall()
        ]
        lines += ["", "Paired EM differences (same questions; percentage points, 95% bootstrap CI):", "",
                  "| dataset | method | minus | n | EM difference | won | lost |",
                  "| --- | --- | --- | ---: | --- | ---: | ---: |"]  # fmt: skip
        lines += [
            f"| {r.dataset} | {r.method} | {r.baseline} | {r.n} | {paired_cell(r)} | {r.wins} | {r.losses} |"
            for r in mode.paired
        ]
        totals = [a for a in mode.summary.aspects if a.aspect == TOTAL_ASPECT]
        if totals:
            lines += ["", f"Judged rationale quality ({TOTAL_ASPECT}, mean with 95% CI):", "",
                      "| dataset | method | n | mean | 95% CI |", "| --- | --- | ---: | ---: | --- |"]  # fmt: skip
            lines += [f"| {a.dataset} | {a.method} | {a.n} | {a.mean:.3f} | [{a.low:.3f}, {a.high:.3f}] |"
                      for a in totals]  # fmt: skip
    if seconds:
        lines += ["", "Wall time per stage (seconds, summed over the runs that worked on it):", ""]
        lines += [f"- {label}: {value:.0f}" for label, value in seconds.items()]
    return "\n".join(lines) + "\n"
