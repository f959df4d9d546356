"""Paired differences between two methods on the same questions, with 95% bootstrap intervals.

Two methods answered the same questions, so the per-question difference is the honest comparison:
its interval is much narrower than the two separate intervals suggest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from guidedcot.errors import DataError, GuidedCotError
from guidedcot.evaluate.records import PredictionRecord
from guidedcot.evaluate.stats import bootstrap_ci
from guidedcot.jsonl import read_objects

ALL_DATASETS = "all"


@dataclass(frozen=True)
class PairedRow:
    """``method`` minus ``baseline`` on the questions both answered (one dataset, or all)."""

    dataset: str
    method: str
    baseline: str
    metric: str
    n: int
    difference: float
    low: float
    high: float
    wins: int
    losses: int


def read_predictions(path: Path) -> list[PredictionRecord]:
    """The records of a run folder's ``predictions.jsonl``; a malformed line raises `DataError`."""
    known = {f.name for f in dataclasses.fields(PredictionRecord)}
    required = {f.name for f in dataclasses.fields(PredictionRecord) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}  # fmt: skip
    records = []
    for number, value in read_objects(path):
        if unknown := sorted(set(value) - known):
            raise DataError(path, "not a field of a prediction record", line=number, field=unknown[0])
        if missing := sorted(required - set(value)):
            raise DataError(path, "missing", line=number, field=missing[0])
        records.append(PredictionRecord(**value))
    return records


def paired_rows(
    method: str,
    records: Sequence[PredictionRecord],
    baseline: str,
    baseline_records: Sequence[PredictionRecord],
    *,
    metric: str = "em",
    samples: int = 1000,
) -> list[PairedRow]:
    """Per dataset and over all datasets: the mean per-question difference with its interval.

    Questions are matched by (dataset, id); a question only one side answered is an error, since a
    paired comparison over different questions would mean nothing.
    """
    ours = {(r.dataset, r.id): float(getattr(r, metric)) for r in records}
    theirs = {(r.dataset, r.id): float(getattr(r, metric)) for r in baseline_records}
    if ours.keys() != theirs.keys():
        only = sorted(ours.keys() ^ theirs.keys())[0]
        raise GuidedCotError(
            f"paired comparison of {method!r} with {baseline!r}: question {only[1]!r} of {only[0]} "
            "was answered by only one of them"
        )
    datasets = list(dict.fromkeys(dataset for dataset, _ in ours))
    groups = [(d, [k for k in ours if k[0] == d]) for d in datasets]
    if len(datasets) > 1:
        groups.append((ALL_DATASETS, list(ours)))
    rows = []
    for dataset, keys in groups:
        differences = [ours[k] - theirs[k] for k in keys]
        low, high = bootstrap_ci(differences, samples=samples)
        rows.append(
            PairedRow(
                dataset=dataset,
                method=method,
                baseline=baseline,
                metric=metric,
                n=len(keys),
                difference=fmean(differences),
                low=low,
                high=high,
                wins=sum(d > 0 for d in differences),
                losses=sum(d < 0 for d in differences),
            )
        )
    return rows
