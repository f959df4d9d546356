"""Aggregate prediction records: EM and F1 with bootstrap CIs per dataset x method x question type,
and per-method diagnostics (rationale length, gold answer in rationale, cost per question, cache hits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

from guidedcot.evaluate.records import PredictionRecord
from guidedcot.evaluate.stats import bootstrap_ci

ALL_TYPES = "all"


@dataclass(frozen=True)
class ScoreRow:
    """EM and F1 (means over questions) with 95% bootstrap intervals, for one group of questions."""

    dataset: str
    method: str
    type: str
    n: int
    em: float
    em_low: float
    em_high: float
    f1: float
    f1_low: float
    f1_high: float


@dataclass(frozen=True)
class Diagnostics:
    """Per dataset x method: rationale length and leakage, cost per question (tokens and wall
    seconds of each model), cache hit rate."""

    dataset: str
    method: str
    n: int
    mean_rationale_words: float | None
    rationale_contains_gold: float | None
    reader_prompt_tokens: float
    reader_completion_tokens: float
    student_tokens: float
    cache_hit_rate: float
    missing_prediction: float
    reader_seconds: float = 0.0
    student_seconds: float = 0.0


@dataclass(frozen=True)
class AspectRow:
    """Mean judge score of one aspect (or ``R_aspect``, their weighted sum) with its 95% bootstrap
    interval, over the judged rationales of one dataset x method."""

    dataset: str
    method: str
    aspect: str
    n: int
    mean: float
    low: float
    high: float


TOTAL_ASPECT = "R_aspect"


@dataclass(frozen=True)
class Summary:
    """All score rows, diagnostics and (when judged) aspect rows of one evaluation, in a stable order."""

    scores: list[ScoreRow]
    diagnostics: list[Diagnostics]
    aspects: list[AspectRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "scores": [asdict(r) for r in self.scores],
            "diagnostics": [asdict(d) for d in self.diagnostics],
            "aspects": [asdict(a) for a in self.aspects],
        }

    def aspect_names(self) -> list[str]:
        """The judged aspects in order, ``R_aspect`` last."""
        return list(dict.fromkeys(a.aspect for a in self.aspects))

    def overall(self) -> list[ScoreRow]:
        """The rows over all question types."""
        return [row for row in self.scores if row.type == ALL_TYPES]


def summarize(
    records: Sequence[PredictionRecord], *, bootstrap_samples: int = 1000, seed: int = 0
) -> Summary:
    """Score rows per (dataset, method, type) plus an ``all`` row, and diagnostics per (dataset, method)."""
    groups: dict[tuple[str, str], list[PredictionRecord]] = {}
    for record in records:
        groups.setdefault((record.dataset, record.method), []).append(record)
    scores: list[ScoreRow] = []
    diagnostics: list[Diagnostics] = []
    aspects: list[AspectRow] = []
    for (dataset, method), group in groups.items():
        types = sorted({r.type for r in group})
        for kind in [ALL_TYPES, *types]:
            chosen = group if kind == ALL_TYPES else [r for r in group if r.type == kind]
            scores.append(_score_row(dataset, method, kind, chosen, bootstrap_samples, seed))
        diagnostics.append(_diagnostics(dataset, method, group))
        aspects += _aspect_rows(dataset, method, group, bootstrap_samples, seed)
    return Summary(scores=scores, diagnostics=diagnostics, aspects=aspects)


def _aspect_rows(
    dataset: str, method: str, records: Sequence[PredictionRecord], samples: int, seed: int
) -> list[AspectRow]:
    judged = [r for r in records if r.aspects is not None]
    if not judged:
        return []
    columns = {name: [r.aspects[name] for r in judged] for name in judged[0].aspects or {}}  # type: ignore[index]
    columns[TOTAL_ASPECT] = [r.aspect_total or 0.0 for r in judged]
    return [
        AspectRow(
            dataset,
            method,
            name,
            len(values),
            fmean(values),
            *bootstrap_ci(values, samples=samples, seed=seed),
        )
        for name, values in columns.items()
    ]


def _score_row(
    dataset: str, method: str, kind: str, records: Sequence[PredictionRecord], samples: int, seed: int
) -> ScoreRow:
    em = [r.em for r in records]
    f1 = [r.f1 for r in records]
    em_low, em_high = bootstrap_ci(em, samples=samples, seed=seed)
    f1_low, f1_high = bootstrap_ci(f1, samples=samples, seed=seed)
    return ScoreRow(
        dataset, method, kind, len(records), fmean(em), em_low, em_high, fmean(f1), f1_low, f1_high
    )


def _diagnostics(dataset: str, method: str, records: Sequence[PredictionRecord]) -> Diagnostics:
    with_rationale = [r for r in records if r.rationale is not None]
    calls = sum(r.calls for r in records)
    return Diagnostics(
        dataset=dataset,
        method=method,
        n=len(records),
        mean_rationale_words=fmean(r.rationale_words or 0 for r in with_rationale)
        if with_rationale
        else None,
        rationale_contains_gold=(
            fmean(bool(r.rationale_contains_gold) for r in with_rationale) if with_rationale else None
        ),
        reader_prompt_tokens=fmean(r.reader_prompt_tokens for r in records),
        reader_completion_tokens=fmean(r.reader_completion_tokens for r in records),
        student_tokens=fmean(r.student_prompt_tokens + r.student_completion_tokens for r in records),
        cache_hit_rate=sum(r.cached_calls for r in records) / calls if calls else 0.0,
        missing_prediction=fmean(r.missing_prediction > 0 for r in records),
        reader_seconds=fmean(r.reader_seconds for r in records),
        student_seconds=fmean(r.student_seconds for r in records),
    )
