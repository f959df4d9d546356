"""Find dataset files: an explicit folder or ``$GUIDEDCOT_DATA``, searched for .json / .jsonl files."""

from __future__ import annotations

import os
from pathlib import Path

from guidedcot.errors import DataError, GuidedCotError

DATA_ENV = "GUIDEDCOT_DATA"
_SPLITS = ("train", "dev", "validation", "test")


def resolve_data_dir(explicit: Path | str | None = None) -> Path:
    """The dataset folder: ``explicit`` if given, else ``$GUIDEDCOT_DATA``; it must exist."""
    if explicit is not None:
        path = Path(explicit).expanduser()
    elif value := os.environ.get(DATA_ENV):
        path = Path(value).expanduser()
    else:
        raise GuidedCotError(
            f"no dataset folder: pass --data-dir or set ${DATA_ENV} (for example ../shared/data)"
        )
    if not path.is_dir():
        raise DataError(path, "dataset folder does not exist")
    return path


def find_dataset_files(root: Path) -> list[Path]:
    """Every .json and .jsonl file under ``root``, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".json", ".jsonl"})


def split_of(path: Path) -> str:
    """The split a file name announces (train, dev, validation or test), or ``unknown``."""
    name = path.name.lower()
    for split in _SPLITS:
        if split in name:
            return "dev" if split == "validation" else split
    return "unknown"
