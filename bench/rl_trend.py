"""Is an RL run's training reward rising? From its metrics.jsonl: the mean of the first and the
second half of the steps, and the least-squares slope per step with a 95% bootstrap interval
(steps resampled with replacement). With a second run that drew the same questions at every step
(same seed and data), also the per-step difference between the two runs' task EM, which takes out
how hard each step's questions were.

Run: ``.venv/bin/python bench/rl_trend.py runs/rl-task-aspect [--key reward_mean] [--against runs/rl-task]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from statistics import fmean


def read_metrics(run: Path) -> list[dict]:
    """The step records of a run folder, in step order (the last record of a step wins)."""
    by_step = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            by_step[record["step"]] = record
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


def describe(label: str, steps: list[float], values: list[float]) -> str:
    half = len(values) // 2
    low, high = slope_interval(steps, values)
    return (
        f"{label}: n = {len(values)} steps; first half {fmean(values[:half]):.3f}, second half "
        f"{fmean(values[half:]):.3f}; slope {slope(steps, values):+.4f} per step [{low:+.4f}, {high:+.4f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--key", default="reward_mean")
    parser.add_argument("--against", type=Path, help="a run that drew the same questions at each step")
    args = parser.parse_args()
    records = read_metrics(args.run)
    steps = [float(r["step"]) for r in records]
    lines = [describe(f"{args.run} {args.key}", steps, [r[args.key] for r in records])]
    if args.against:
        other = {r["step"]: r for r in read_metrics(args.against)}
        shared = [r for r in records if r["step"] in other]
        if any(r["question_ids"] != other[r["step"]]["question_ids"] for r in shared):
            sys.exit("the two runs drew different questions at some step: no per-step difference")
        diff = [r["reward_task_em"] - other[r["step"]]["reward_task_em"] for r in shared]
        lines.append(describe(f"task EM minus {args.against}'s", [float(r["step"]) for r in shared], diff))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
