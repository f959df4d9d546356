"""Reading finished RL runs: is the training reward rising, and did a student beat another on the fixed
probe? Both work on the files a run writes (``metrics.jsonl``, ``probe.jsonl``) and report paired
differences with 95% bootstrap intervals; `guidedcot rl compare` and `guidedcot rl trend` print them.
"""

from __future__ import annotations

import random
from pathlib import Path
from statistics import fmean
from typing import Any

from guidedcot import jsonl
from guidedcot.errors import DataError, GuidedCotError
from guidedcot.evaluate.stats import bootstrap_ci
from guidedcot.rl.probe import ProbeRecord


def read_probe_records(path: Path) -> list[ProbeRecord]:
    """The probe records of a JSONL file (a run's probe.jsonl or `rl probe`'s output), in file order."""
    if not path.exists():
        return []
    records = []
    for number, value in jsonl.read_objects(path):
        try:
            records.append(ProbeRecord.from_json(value))
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(
                path, f"not a probe record ({type(error).__name__}: {error})", line=number
            ) from None
    return records


def append_probe_record(path: Path, record: ProbeRecord) -> None:
    """Append one record to ``path``, flushed and fsynced (a killed probe keeps every finished student)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    jsonl.append(path, [record.as_json()])


def per_question(record: ProbeRecord, component: str | None) -> list[float]:
    """Each question's mean reward over its rationales (a component: over those it applies to)."""
    rows = record.totals if component is None else record.components[component]
    means = []
    for row in rows:
        applied = [v for v in row if v is not None]
        means.append(fmean(applied) if applied else float("nan"))
    return means


def compare_probes(records: list[ProbeRecord], source: str) -> list[str]:
    """Each record minus the first, paired by question, for the total and each component: the means,
    the difference with its 95% bootstrap interval over questions, and how many questions rose / fell."""
    if len(records) < 2:
        raise GuidedCotError(f"{source} holds {len(records)} probe record(s); comparing needs two")
    base = records[0]
    lines = [f"{source}: base = step {base.step} {base.label}"]
    for record in records[1:]:
        if record.question_ids != base.question_ids:
            raise GuidedCotError(f"{source}: step {record.step} probed other questions than step {base.step}")
        lines.append(
            f"step {record.step} {record.label} minus base (n = {len(base.question_ids)} questions):"
        )
        for component in [None, *base.components]:
            before, after = per_question(base, component), per_question(record, component)
            pairs = [(a, b) for a, b in zip(before, after, strict=True) if a == a and b == b]
            name = "total" if component is None else component
            if not pairs:
                lines.append(f"  {name}: applies to no question in both records")
                continue
            diffs = [b - a for a, b in pairs]
            low, high = bootstrap_ci(diffs, samples=4000)
            lines.append(
                f"  {name}: {fmean(a for a, _ in pairs):.3f} -> {fmean(b for _, b in pairs):.3f}, "
                f"difference {fmean(diffs):+.3f} [{low:+.3f}, {high:+.3f}], "
                f"rose {sum(d > 0 for d in diffs)} / fell {sum(d < 0 for d in diffs)} (n = {len(diffs)})"
            )
    return lines


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """The step records of a run folder's metrics.jsonl, in step order (the last record of a step wins)."""
    path = run / "metrics.jsonl"
    if not path.exists():
        raise GuidedCotError(f"{run} has no metrics.jsonl: not an RL run folder, or no step has finished")
    by_step: dict[int, dict[str, Any]] = {}
    for number, record in jsonl.read_objects(
        path, tolerate_cut_end=True
    ):  # a running run's cut line: dropped
        try:
            by_step[int(record["step"])] = record
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(
                path, f"not a step record ({type(error).__name__}: {error})", line=number
            ) from None
    return [by_step[s] for s in sorted(by_step)]


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 when xs do not vary)."""
    mx, my = fmean(xs), fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def slope_interval(
    xs: list[float], ys: list[float], samples: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of the slope, resampling (step, value) pairs."""
    rng = random.Random(seed)
    pairs = list(zip(xs, ys, strict=True))
    draws = sorted(
        slope(*map(list, zip(*[rng.choice(pairs) for _ in pairs], strict=True))) for _ in range(samples)
    )
    return draws[int(0.025 * samples)], draws[int(0.975 * samples) - 1]


def describe_trend(label: str, steps: list[float], values: list[float]) -> str:
    """The first and second half's means and the slope per step with its 95% interval."""
    if len(values) < 2:
        raise GuidedCotError(f"{label}: {len(values)} step(s); a trend needs two")
    half = len(values) // 2
    low, high = slope_interval(steps, values)
    return (
        f"{label}: n = {len(values)} steps; first half {fmean(values[:half]):.3f}, second half "
        f"{fmean(values[half:]):.3f}; slope {slope(steps, values):+.4f} per step [{low:+.4f}, {high:+.4f}]"
    )


def run_trend(run: Path, key: str, against: Path | None = None) -> list[str]:
    """`describe_trend` of ``key`` over a run's steps; with ``against`` (a run that drew the same
    questions at every step), also the per-step difference of their task EM."""
    records = read_metrics(run)
    missing = [r["step"] for r in records if key not in r]
    if missing:
        raise GuidedCotError(f"{run}/metrics.jsonl: step {missing[0]} has no {key!r}")
    lines = [describe_trend(f"{run} {key}", [float(r["step"]) for r in records], [r[key] for r in records])]
    if against is not None:
        other = {r["step"]: r for r in read_metrics(against)}
        shared = [r for r in records if r["step"] in other]
        if any(r.get("question_ids") != other[r["step"]].get("question_ids") for r in shared):
            raise GuidedCotError(
                f"{run} and {against} drew different questions at some step: no per-step difference"
            )
        diff = [r["reward_task_em"] - other[r["step"]]["reward_task_em"] for r in shared]
        lines.append(describe_trend(f"task EM minus {against}'s", [float(r["step"]) for r in shared], diff))
    return lines
