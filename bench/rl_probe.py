"""Did RL raise the training reward? The fixed probe (`guidedcot.rl.probe`), question by question.

``measure`` probes saved students with one run's settings (its config.json: questions, reward, reader,
sampling): the same fixed sample of that run's training questions, ``group_size`` sampled rationales
each, the same sampling seeds, scored by the run's reward. Records go to a JSONL file, one per
student, written as each finishes (a rerun skips students already there).

``compare`` reads such a file, or a run's own probe.jsonl (``probe_every``), and gives each record's
reward minus the first record's: per question (the mean of its rationales), paired, with a 95%
bootstrap interval over questions and how many questions rose / fell; for the total and each component.

Run::

    .venv/bin/python bench/rl_probe.py measure runs/rl-task-aspect --out runs/probe-ta.jsonl \\
        --student runs/demo/full/student-200/final --student runs/rl-task-aspect/final --questions 32
    .venv/bin/python bench/rl_probe.py compare runs/probe-ta.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from statistics import fmean

from guidedcot.config import load_config
from guidedcot.data.discovery import resolve_data_dir
from guidedcot.evaluate.stats import bootstrap_ci
from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter
from guidedcot.rl import RLConfig
from guidedcot.rl.probe import ProbeRecord, probe_students


def read_records(path: Path) -> list[ProbeRecord]:
    """The probe records of a JSONL file, in file order."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [ProbeRecord.from_json(json.loads(line)) for line in lines if line.strip()]


def measure(run: Path, students: list[str], out: Path, questions: int | None) -> None:
    """Probe each student not yet in ``out`` with ``run``'s settings; append its record to ``out`` as
    soon as it is made (``step``: the student's position in ``students``)."""
    overrides = [f"probe_questions={questions}"] if questions else []
    config = load_config(RLConfig, run / "config.json", overrides)
    done = {r.label for r in read_records(out)}
    for student in done & set(students):
        logging.info("%s already probed in %s", student, out)
    pending = [s for s in students if s not in done]
    if not pending:
        return

    def store(record: ProbeRecord) -> None:
        record.step = students.index(record.label)
        with out.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record.as_json()) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        logging.info("%s: %s", record.label, record.summary())

    probe_students(
        config, pending, reader=build_model(config.reader, resolve_cache_path(config.cache)),
        data_dir=resolve_data_dir(config.data_dir), count_tokens=token_counter(config.reader), on_record=store,
    )  # fmt: skip


def per_question(record: ProbeRecord, component: str | None) -> list[float]:
    """Each question's mean reward over its rationales (a component: over those it applies to)."""
    rows = record.totals if component is None else record.components[component]
    means = []
    for row in rows:
        applied = [v for v in row if v is not None]
        means.append(fmean(applied) if applied else float("nan"))
    return means


def compare(path: Path) -> str:
    """Each record against the first, paired by question, for the total and each component."""
    records = read_records(path)
    if len(records) < 2:
        sys.exit(f"{path} holds {len(records)} probe record(s); comparing needs two")
    base = records[0]
    lines = [f"{path}: base = step {base.step} {base.label}"]
    for record in records[1:]:
        if record.question_ids != base.question_ids:
            sys.exit(f"{path}: step {record.step} probed other questions than step {base.step}")
        lines.append(
            f"step {record.step} {record.label} minus base (n = {len(base.question_ids)} questions):"
        )
        for component in [None, *base.components]:
            before, after = per_question(base, component), per_question(record, component)
            pairs = [(a, b) for a, b in zip(before, after, strict=True) if a == a and b == b]
            diffs = [b - a for a, b in pairs]
            low, high = bootstrap_ci(diffs, samples=4000)
            name = "total" if component is None else component
            lines.append(
                f"  {name}: {fmean(a for a, _ in pairs):.3f} -> {fmean(b for _, b in pairs):.3f}, "
                f"difference {fmean(diffs):+.3f} [{low:+.3f}, {high:+.3f}], "
                f"rose {sum(d > 0 for d in diffs)} / fell {sum(d < 0 for d in diffs)} (n = {len(diffs)})"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    measuring = commands.add_parser("measure", help="probe saved students with a run's settings")
    measuring.add_argument("run", type=Path, help="the run folder whose config.json sets the probe")
    measuring.add_argument("--student", action="append", required=True, help="a student folder (repeat)")
    measuring.add_argument("--out", type=Path, required=True, help="JSONL file of probe records")
    measuring.add_argument(
        "--questions", type=int, help="probe questions (default: the run's probe_questions)"
    )
    comparing = commands.add_parser("compare", help="each probe record minus the first, paired")
    comparing.add_argument("file", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.command == "measure":
        measure(args.run, args.student, args.out, args.questions)
    else:
        sys.stdout.write(compare(args.file) + "\n")


if __name__ == "__main__":
    main()
