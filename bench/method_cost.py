"""The method's cost claim: per question, the reader's prompt tokens, completion tokens and wall time
of `guided` against `cot` and `standard`, as ratios, with the student's own cost beside them.

All three methods answer the same questions in one `guidedcot evaluate` run, with the generation
cache off (every call computed), each step's methods back to back (so a noisy machine slows them
alike). This script runs that evaluation (or reads a run folder made earlier) and prints the table.

Run: ``.venv/bin/python bench/method_cost.py [--limit 50] [--student smollm2] [--out runs/bench-cost]``
      ``.venv/bin/python bench/method_cost.py --read runs/bench-cost`` (table only)
Targets (issue 12): guided needs at most 1/5 of CoT's reader completion tokens and at most 1/2 of
its reader wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from statistics import fmean

from guidedcot.evaluate.paired import read_predictions

COSTS = {
    "reader prompt tokens": lambda r: r.reader_prompt_tokens,
    "reader completion tokens": lambda r: r.reader_completion_tokens,
    "reader seconds": lambda r: r.reader_seconds,
    "student seconds": lambda r: r.student_seconds,
    "seconds, both models": lambda r: r.reader_seconds + r.student_seconds,
}


def run_evaluation(args: argparse.Namespace) -> None:
    """One evaluation of standard, cot and guided on the first ``limit`` dev questions of each dataset."""
    command = [
        sys.executable, "-m", "guidedcot.cli.app", "evaluate", "--methods", "standard,cot,guided",
        "--dataset", "hotpotqa", "--dataset", "2wiki", "--limit", str(args.limit), "--student", args.student,
        "--reader", args.reader, "--out", str(args.out), "--no-cache",
    ]  # fmt: skip
    subprocess.run(command, check=True, env=os.environ)


def cost_table(run: Path) -> str:
    """Mean cost per question of each method, per dataset and overall, and guided's ratios."""
    records = read_predictions(run / "predictions.jsonl")
    if any(r.cached_calls for r in records):
        raise SystemExit(f"{run}: some calls came from the cache; their seconds are not a cost")
    lines = [
        "| dataset | cost per question | standard | cot | guided | guided / cot | guided / standard |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for dataset in [*sorted({r.dataset for r in records}), "all"]:
        chosen = [r for r in records if dataset in ("all", r.dataset)]
        n = len({r.id for r in chosen})
        for label, cost in COSTS.items():
            mean = {m: fmean(cost(r) for r in chosen if r.method == m) for m in ("standard", "cot", "guided")}
            ratio = {b: mean["guided"] / mean[b] if mean[b] else float("nan") for b in ("cot", "standard")}
            lines.append(
                f"| {dataset} (n = {n}) | {label} | {mean['standard']:.2f} | {mean['cot']:.2f} | "
                f"{mean['guided']:.2f} | {ratio['cot']:.2f} | {ratio['standard']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=50, help="Questions per dataset.")
    parser.add_argument("--student", default="smollm2")
    parser.add_argument("--reader", default="qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-cost"))
    parser.add_argument("--read", type=Path, help="Only print the table of this run folder.")
    args = parser.parse_args()
    if args.read is None:
        run_evaluation(args)
    sys.stdout.write(cost_table(args.read or args.out) + "\n")


if __name__ == "__main__":
    main()
