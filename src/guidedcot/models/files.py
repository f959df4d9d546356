"""File helpers for model sources: the cache folder, atomic writes, sha256 with a reusable stamp."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from guidedcot.atomic import write_json_atomic

ProgressCallback = Callable[[int, int], None]
_BLOCK = 4 * 1024 * 1024


def cache_root() -> Path:
    """The guidedcot cache folder: ``$GUIDEDCOT_CACHE``, else ``$XDG_CACHE_HOME/guidedcot`` or ``~/.cache/guidedcot``."""
    if explicit := os.environ.get("GUIDEDCOT_CACHE"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "guidedcot"


def hash_files(paths: Iterable[Path], *, total: int, progress: ProgressCallback | None = None) -> str:
    """sha256 of the concatenation of ``paths``, reading in blocks, reporting bytes done of ``total``."""
    digest = hashlib.sha256()
    done = 0
    for path in paths:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    return digest.hexdigest()


def join_files(parts: list[Path], target: Path, *, progress: ProgressCallback | None = None) -> str:
    """Concatenate ``parts`` into ``target`` atomically (temp file + rename); returns the sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    total = sum(part.stat().st_size for part in parts)
    digest = hashlib.sha256()
    done = 0
    with tempfile.NamedTemporaryFile("wb", dir=target.parent, prefix=f".{target.name}.", delete=False) as out:
        try:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(_BLOCK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    os.replace(out.name, target)
    return digest.hexdigest()


def _stamp_key(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def read_stamp(path: Path, stamp: Path) -> str | None:
    """The sha256 recorded for ``path`` in ``stamp``, if the file is unchanged since (size, mtime)."""
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    if not path.exists() or {k: recorded.get(k) for k in ("path", "size", "mtime_ns")} != _stamp_key(path):
        return None
    return recorded.get("sha256")


def write_stamp(path: Path, stamp: Path, sha256: str) -> None:
    """Record that ``path`` (at its current size and mtime) has this sha256."""
    write_json_atomic(stamp, {**_stamp_key(path), "sha256": sha256})


def file_sha256(path: Path, stamp: Path, *, progress: ProgressCallback | None = None) -> str:
    """sha256 of ``path``, computed once and then read from ``stamp`` while the file is unchanged."""
    if (known := read_stamp(path, stamp)) is not None:
        return known
    sha = hash_files([path], total=path.stat().st_size, progress=progress)
    write_stamp(path, stamp, sha)
    return sha
