"""`guidedcot predict`: answer questions that may have no labels with any of evaluate's methods, and
write the official submission file of each dataset x method.

The folder it writes::

    DIR/run.json                              models, prompt versions, datasets, guidedcot commit
    DIR/config.yaml                           the settings (reusable with --config)
    DIR/<dataset>/<method>/predictions.json   the official layout (`guidedcot.predict.submission`)
    DIR/<dataset>/<method>/predictions.jsonl  each question's rationale, reader output, tokens, seconds

``<dataset>`` is the dataset's name for a named dataset and the file's stem for a file. Every model call
goes through the generation cache, so a killed run started again recomputes nothing it had finished.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from guidedcot import __version__
from guidedcot.atomic import write_json_atomic, write_text_atomic
from guidedcot.config import config_yaml
from guidedcot.data.context import TokenCounter
from guidedcot.data.selection import Selection, check_gold, names_a_dataset, select_examples
from guidedcot.errors import ConfigError
from guidedcot.evaluate import EvaluateConfig, PredictionRecord
from guidedcot.evaluate.runner import answer_selections
from guidedcot.jsonl import dumps as jsonl_text
from guidedcot.llm.types import LanguageModel
from guidedcot.predict.submission import SUBMISSION_NAME, write_submission
from guidedcot.progress import ProgressHook


@dataclass
class PredictResult:
    """What a prediction run wrote: every record, and the submission file of each dataset x method."""

    records: list[PredictionRecord]
    submissions: dict[tuple[str, str], Path]
    seconds: float


def folder_names(specs: Sequence[str], selections: Sequence[Selection]) -> list[str]:
    """The folder of each selection: the dataset's name (``hotpotqa``) or, for a file, its stem."""
    names = [
        selection.name if names_a_dataset(spec) else selection.files[0].stem
        for spec, selection in zip(specs, selections, strict=True)
    ]
    repeated = next((name for i, name in enumerate(names) if names.index(name) != i), None)
    if repeated is not None:
        raise ConfigError(f"two dataset entries ({', '.join(specs)}) would write one folder {repeated!r}")
    return names


def write_submissions(
    out_dir: Path, folder: str, layout: str, records: Sequence[PredictionRecord], *, jsonl: bool = True
) -> dict[tuple[str, str], Path]:
    """``out_dir/<folder>/<method>/predictions.json`` in ``layout`` (hotpotqa / 2wiki), and (``jsonl``)
    its ``predictions.jsonl``, for each method of one dataset's ``records``."""
    written: dict[tuple[str, str], Path] = {}
    for method in dict.fromkeys(r.method for r in records):
        group = [r for r in records if r.method == method]
        target = out_dir / folder / method
        path = write_submission(target / SUBMISSION_NAME, layout, {r.id: r.answer for r in group})
        if jsonl:
            write_text_atomic(target / "predictions.jsonl", jsonl_text(r.to_json() for r in group))
        written[(folder, method)] = path
    return written


def predict_to_folder(
    config: EvaluateConfig,
    *,
    reader: LanguageModel,
    student: LanguageModel | None,
    out_dir: Path,
    data_dir: Path | None,
    count_tokens: TokenCounter | None = None,
    progress: ProgressHook | None = None,
) -> PredictResult:
    """Answer every question of ``config.datasets`` (labels not needed) and write the folder above."""
    started = time.perf_counter()
    selections = select_selections(config, data_dir)
    names = folder_names(config.datasets, selections)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "config.yaml", config_yaml(config))
    answered = answer_selections(
        config, selections, reader=reader, student=student, count_tokens=count_tokens, progress=progress
    )
    submissions: dict[tuple[str, str], Path] = {}
    for name, selection, records in zip(names, selections, answered.per_selection, strict=True):
        submissions |= write_submissions(out_dir, name, selection.examples[0].dataset, records)
    seconds = time.perf_counter() - started
    run = {
        "guidedcot": __version__,
        "commit": current_commit(),
        "reader": reader.identity,
        "student": student.identity if student is not None else None,
        "prompt_versions": {name: template.version for name, template in answered.templates.items()},
        "datasets": {
            name: {"spec": spec, "files": [str(f) for f in s.files], "questions": len(s.examples)}
            for name, spec, s in zip(names, config.datasets, selections, strict=True)
        },
        "context_mode": str(config.context_mode),
        "truncation": {name: vars(count) for name, count in answered.truncation.items()},
        "seconds": round(seconds, 1),
    }
    write_json_atomic(out_dir / "run.json", run)
    return PredictResult(answered.records, submissions, seconds)


def select_selections(config: EvaluateConfig, data_dir: Path | None) -> list[Selection]:
    """Every dataset entry read without needing labels; the gold context refused where a record names
    no supporting facts (the error says to use the distractor mode)."""
    selections = [
        select_examples(spec, data_dir, split=config.split, limit=config.limit, labels=False)
        for spec in config.datasets
    ]
    if str(config.context_mode) == "gold":
        for selection in selections:
            check_gold(selection)
    return selections


def current_commit() -> str | None:
    """The git commit of the guidedcot checkout that runs, ``-dirty`` when its tracked files differ
    from that commit (None outside a checkout)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                timeout=10, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
