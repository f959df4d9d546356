"""report.md: EM and F1 per dataset x method x question type with n and 95% CIs, then diagnostics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guidedcot.evaluate.summary import ALL_TYPES, TOTAL_ASPECT, AspectRow, Summary


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal, or an en dash for none."""
    return "–" if value is None else f"{100 * value:.1f}"


def aspect_cell(row: AspectRow) -> str:
    """``mean [low, high]`` of an aspect row, two decimals."""
    return f"{row.mean:.2f} [{row.low:.2f}, {row.high:.2f}]"


def aspect_markdown(summary: Summary) -> list[str]:
    """The rationale-quality table (one column per aspect), or nothing when no rationale was judged."""
    if not summary.aspects:
        return []
    names = summary.aspect_names()
    cells = {(a.dataset, a.method, a.aspect): a for a in summary.aspects}
    groups = list(dict.fromkeys((a.dataset, a.method) for a in summary.aspects))
    lines = [
        "",
        "## Rationale quality",
        "",
        "Judge score per aspect in [0, 1] (P(yes) / (P(yes) + P(no))), mean over the judged rationales, "
        f"with 95% bootstrap CIs; {TOTAL_ASPECT} is their weighted sum.",
        "",
        "| dataset | method | n | " + " | ".join(names) + " |",
        "| --- | --- | ---: |" + " ---: |" * len(names),
    ]
    for dataset, method in groups:
        n = cells[(dataset, method, TOTAL_ASPECT)].n
        row = " | ".join(aspect_cell(cells[(dataset, method, name)]) for name in names)
        lines.append(f"| {dataset} | {method} | {n} | {row} |")
    return lines


def render_markdown(summary: Summary, *, title: str, facts: Mapping[str, Any]) -> str:
    """The whole report as Markdown."""
    lines = [f"# {title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in facts.items()]
    lines += [
        "",
        "## Answer accuracy",
        "",
        "EM and F1 in %, mean over questions; brackets hold the 95% bootstrap confidence interval.",
        "",
        "| dataset | method | type | n | EM | EM 95% CI | F1 | F1 95% CI |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for row in summary.scores:
        kind = f"**{row.type}**" if row.type == ALL_TYPES else row.type
        lines.append(
            f"| {row.dataset} | {row.method} | {kind} | {row.n} | {pct(row.em)} | "
            f"[{pct(row.em_low)}, {pct(row.em_high)}] | {pct(row.f1)} | [{pct(row.f1_low)}, {pct(row.f1_high)}] |"
        )
    lines += [
        "",
        "## Diagnostics",
        "",
        "Rationale words: mean length of the rationale (the student's, or the reader's own reasoning). "
        "Gold in rationale: share of rationales that already contain a gold answer. Tokens are per "
        "question (the cost of each method), and so are the seconds (a batch's wall time over its "
        "questions; cache hits cost about 0). Cache hits: share of model calls answered from the cache.",
        "",
        "| dataset | method | n | rationale words | gold in rationale % | reader prompt tokens | "
        "reader completion tokens | student tokens | reader s | student s | no Prediction line % | "
        "cache hits % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for d in summary.diagnostics:
        words = "–" if d.mean_rationale_words is None else f"{d.mean_rationale_words:.1f}"
        lines.append(
            f"| {d.dataset} | {d.method} | {d.n} | {words} | {pct(d.rationale_contains_gold)} | "
            f"{d.reader_prompt_tokens:.0f} | {d.reader_completion_tokens:.1f} | {d.student_tokens:.0f} | "
            f"{d.reader_seconds:.2f} | {d.student_seconds:.2f} | {pct(d.missing_prediction)} | {pct(d.cache_hit_rate)} |"
        )
    lines += aspect_markdown(summary)
    lines += ["", "![EM and F1 per method](chart.png)", ""]
    return "\n".join(lines)
