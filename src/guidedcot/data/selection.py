"""Which examples an evaluation reads: a named dataset's files of one split, or explicit files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from guidedcot.data import Example, LoadResult, load_examples
from guidedcot.data.discovery import find_dataset_files, resolve_data_dir, split_of
from guidedcot.data.loading import DATASETS
from guidedcot.errors import DataError, GuidedCotError


@dataclass(frozen=True)
class Selection:
    """The examples of one dataset entry, the files they came from, and duplicates left out."""

    name: str
    examples: list[Example]
    files: list[Path]
    duplicate_ids: int
    source_of: dict[str, Path] = field(default_factory=dict, compare=False)


_SPEC = re.compile(
    r"^(?P<name>.+?)(?::(?P<split>train|dev|validation|test))?(?:\[(?P<start>\d*):(?P<stop>\d*)\])?$"
)


def names_a_dataset(spec: str) -> bool:
    """True when ``spec`` names hotpotqa / 2wiki (and so needs the data folder) rather than a file."""
    match = _SPEC.match(spec.strip())
    return match is not None and match["name"] in DATASETS


def data_root_for(data_dir: str | Path | None, specs: Sequence[str]) -> Path | None:
    """The dataset folder (``data_dir``, else $GUIDEDCOT_DATA, else ../shared/data), resolved only when
    some entry of ``specs`` names a dataset rather than a file; None otherwise."""
    if not any(map(names_a_dataset, specs)):
        return None
    return resolve_data_dir(str(data_dir) if data_dir is not None else None)


def select_examples(
    spec: str, data_dir: Path | None, *, split: str, limit: int | None, labels: bool = True
) -> Selection:
    """``spec`` = ``NAME_OR_PATH[:SPLIT][[START:STOP]]``.

    NAME is ``hotpotqa`` or ``2wiki`` (every file of the split under ``data_dir``; SPLIT defaults to
    ``split``); a path reads that file. ``[START:STOP]`` keeps a slice (``2wiki:dev[150:250]``), so
    training and evaluation can take disjoint parts of one file. Files are read largest first and an
    id seen in an earlier file is not repeated. ``limit`` then keeps the first N. ``labels=False``
    also reads records without gold answers (see `load_examples`).
    """
    match = _SPEC.match(spec.strip())
    if match is None:
        raise GuidedCotError(f"dataset spec {spec!r}: expected NAME_OR_PATH[:SPLIT][[START:STOP]]")
    spec, split = match["name"], match["split"] or split
    start = int(match["start"]) if match["start"] else 0
    stop = int(match["stop"]) if match["stop"] else None
    if spec in DATASETS:
        if data_dir is None:
            raise GuidedCotError(f"dataset {spec!r} needs a data folder (--data-dir or $GUIDEDCOT_DATA)")
        results = _loaded(spec, data_dir, split, labels)
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise GuidedCotError(f"dataset {spec!r} is neither {' nor '.join(DATASETS)} nor an existing file")
        results = [load_examples(path, labels=labels)]
    examples: list[Example] = []
    source_of: dict[str, Path] = {}
    duplicates = 0
    for result in results:
        for example in result.examples:
            if example.id in source_of:
                duplicates += 1
                continue
            source_of[example.id] = result.path
            examples.append(example)
    files = [result.path for result in results]
    if not examples:
        raise DataError(files[0] if files else Path(spec), "holds no examples")
    name = spec if spec in DATASETS else examples[0].dataset
    total = len(examples)
    examples = examples[start:stop]
    if not examples:
        raise GuidedCotError(
            f"dataset spec {spec!r}[{start}:{'' if stop is None else stop}] selects no question "
            f"({total} in {', '.join(map(str, files))})"
        )
    return Selection(name, examples[:limit] if limit else examples, files, duplicates, source_of)


def _loaded(dataset: str, data_dir: Path, split: str, labels: bool = True) -> list[LoadResult]:
    """Every file of ``split`` under ``data_dir`` whose records are ``dataset``'s, largest first."""
    candidates = sorted(
        (f for f in find_dataset_files(data_dir) if split_of(f) == split),
        key=lambda f: (-f.stat().st_size, f.name),
    )
    loaded = (load_examples(candidate, labels=labels) for candidate in candidates)
    results = [result for result in loaded if result.dataset == dataset]
    if not results:
        raise GuidedCotError(f"no {dataset} files of split {split!r} under {data_dir}")
    return results


def check_selections(
    specs: list[str],
    data_dir: Path | None,
    *,
    split: str,
    limit: int | None,
    context_mode: str | None = None,
    labels: bool = True,
) -> None:
    """Select every spec once, so a missing dataset, an empty slice or (for the gold context) a
    question without supporting facts fails before any model loads."""
    for spec in specs:
        selection = select_examples(spec, data_dir, split=split, limit=limit, labels=labels)
        if context_mode == "gold":
            check_gold(selection)


def check_gold(selection: Selection) -> None:
    """Every selected question names supporting facts, as the gold context needs."""
    for example in selection.examples:
        if not example.has_gold:
            raise DataError(
                selection.source_of.get(example.id, selection.files[0]),
                "no supporting facts, so the gold context would be empty: use context_mode=distractor "
                "(all of the record's paragraphs; for a file that holds only the gold paragraphs, as the "
                "*_blind_gold.json files do, that is the gold context), or give the record supporting_facts",
                record_id=example.id,
                field="supporting_facts",
            )
