"""The teacher store: a folder of teacher rationales, appended and resumable, never rewritten.

``manifest.json`` says what made the records (teacher identity, prompt version, decoding
parameters, samples per question, datasets) and counts them; ``rationales.jsonl`` holds one record
per (question, sample). A run killed in the middle of a write leaves at most one partial last line,
which the next open cuts off (and logs); every finished record stays.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from guidedcot import jsonl
from guidedcot.atomic import write_json_atomic
from guidedcot.errors import DataError, GuidedCotError

logger = logging.getLogger(__name__)
STORE_FORMAT = 1
IDENTITY_KEYS = ("teacher", "prompt_version", "decoding", "samples", "context")


@dataclass(frozen=True)
class TeacherRecord:
    """One teacher sample for one question, scored against the gold answers."""

    dataset: str
    id: str
    type: str
    question: str
    context: str
    gold: list[str]
    sample_index: int
    output: str
    reasoning: str
    prediction: str
    has_prediction_line: bool
    em: float
    f1: float
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def key(self) -> tuple[str, str, int]:
        """(dataset, question id, sample index): unique in a store."""
        return (self.dataset, self.id, self.sample_index)


@dataclass
class TeacherStore:
    """Open (or create) the store at ``path`` for a given identity (teacher, prompt, decoding...)."""

    path: Path
    identity: Mapping[str, Any]
    records: list[TeacherRecord] = field(default_factory=list)

    @property
    def records_path(self) -> Path:
        return self.path / "rationales.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @classmethod
    def open(cls, path: Path | str, identity: Mapping[str, Any]) -> TeacherStore:
        """Open an existing store made with the same identity, or create one; refuse a mismatch."""
        path = Path(path)
        store = cls(path, dict(identity))
        if store.manifest_path.exists():
            manifest = read_manifest(path)
            for key in IDENTITY_KEYS:
                if manifest.get(key) != identity.get(key):
                    raise GuidedCotError(
                        f"teacher store {path} was made with {key}={manifest.get(key)!r}, this run has "
                        f"{identity.get(key)!r}; use another --out (finished records are never rewritten)"
                    )
        path.mkdir(parents=True, exist_ok=True)
        store.records = load_records(store.records_path, repair=True)
        return store

    def done(self) -> set[tuple[str, str, int]]:
        """Keys of the finished records."""
        return {record.key for record in self.records}

    def append(self, records: Iterable[TeacherRecord], datasets: list[dict[str, Any]]) -> None:
        """Append whole records (one write, fsync), then rewrite the manifest with new counts."""
        new = list(records)
        if new:
            jsonl.append(self.records_path, [asdict(r) for r in new])
            self.records += new
        self.write_manifest(datasets)

    def write_manifest(self, datasets: list[dict[str, Any]]) -> None:
        """The manifest: identity, datasets and counts (atomic)."""
        questions = {(r.dataset, r.id) for r in self.records}
        correct = {(r.dataset, r.id) for r in self.records if r.em == 1.0}
        write_json_atomic(
            self.manifest_path,
            {
                "format": STORE_FORMAT,
                **self.identity,
                "datasets": datasets,
                "counts": {
                    "questions": len(questions),
                    "records": len(self.records),
                    "records_em": sum(r.em == 1.0 for r in self.records),
                    "questions_with_an_em_record": len(correct),
                },
            },
        )


def read_manifest(path: Path | str) -> dict[str, Any]:
    """The manifest of the store at ``path``."""
    manifest_path = Path(path) / "manifest.json"
    if Path(path).exists() and not Path(path).is_dir():
        raise DataError(
            path, "a file, not a teacher store (a folder with manifest.json and rationales.jsonl)"
        )
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            manifest_path, "no teacher store here (run `guidedcot distill generate` first)"
        ) from None
    except json.JSONDecodeError as error:
        raise DataError(manifest_path, f"invalid JSON ({error.msg})", line=error.lineno) from error


def load_records(path: Path, *, repair: bool = False) -> list[TeacherRecord]:
    """Every record of ``rationales.jsonl``; with ``repair`` a partial last line is cut off."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    tail = lines.pop()  # after the last newline: empty, or a partial line of a killed write
    if tail:
        if not repair:
            raise DataError(path, "the last line is incomplete (a killed write); open the store to repair it")
        logger.warning("%s: dropping a partial last line of %d bytes (a killed write)", path, len(tail))
        with path.open("r+b") as handle:
            handle.truncate(len(raw) - len(tail))
    records = []
    for number, value in jsonl.read_objects(path):
        try:
            records.append(TeacherRecord(**value))
        except TypeError as error:
            raise DataError(path, f"not a teacher record ({error})", line=number) from None
    return records
