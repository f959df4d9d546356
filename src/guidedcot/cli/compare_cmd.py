"""`guidedcot compare RUN RUN`: paired differences between two evaluation run folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from guidedcot.cli.common import stdout
from guidedcot.errors import GuidedCotError
from guidedcot.evaluate.paired import PairedRow, paired_rows, read_predictions
from guidedcot.evaluate.records import PredictionRecord


def compare_command(
    run: Annotated[
        Path, typer.Argument(help="Evaluation run folder (its predictions.jsonl): the one measured.")
    ],
    baseline: Annotated[Path, typer.Argument(help="Evaluation run folder to subtract.")],
    method: Annotated[
        str | None, typer.Option("--method", help="Method of RUN (default: its only method).")
    ] = None,
    baseline_method: Annotated[
        str | None, typer.Option("--baseline-method", help="Method of BASELINE (default: --method).")
    ] = None,
) -> None:
    """RUN minus BASELINE on the same questions: EM, F1 and (when both were judged) R_aspect, per
    dataset and over all, with 95% bootstrap intervals of the per-question differences."""
    ours, method = _method_records(run, method)
    theirs, baseline_method = _method_records(baseline, baseline_method or method)
    metrics = ["em", "f1"]
    if all(r.aspect_total is not None for r in ours + theirs):
        metrics.append("aspect_total")
    table = Table(title=f"{run} ({method}) minus {baseline} ({baseline_method}): paired, 95% bootstrap CI")
    for column in ("dataset", "metric", "n", "difference", "95% CI", "won", "lost"):
        table.add_column(column)
    for metric in metrics:
        for row in paired_rows(method, ours, baseline_method, theirs, metric=metric):
            table.add_row(row.dataset, metric, str(row.n), *_cells(row))
    stdout().print(table)


def _method_records(folder: Path, method: str | None) -> tuple[list[PredictionRecord], str]:
    records = read_predictions(folder / "predictions.jsonl")
    methods = list(dict.fromkeys(r.method for r in records))
    if method is None:
        if len(methods) != 1:
            raise GuidedCotError(f"{folder} holds methods {', '.join(methods)}: choose one with --method")
        method = methods[0]
    chosen = [r for r in records if r.method == method]
    if not chosen:
        raise GuidedCotError(f"{folder} has no method {method!r} (it has {', '.join(methods)})")
    return chosen, method


def _cells(row: PairedRow) -> tuple[str, str, str, str]:
    scale = 1.0 if row.metric == "aspect_total" else 100.0
    return (f"{scale * row.difference:+.2f}", f"[{scale * row.low:+.2f}, {scale * row.high:+.2f}]",
            str(row.wins), str(row.losses))  # fmt: skip
