"""Run-folder policy shared by distillation, RL, studies and evaluation: the default folder name, refuse
a folder that holds checkpoints unless asked to resume, time a step's phases, and log one JSONL line per
step (fsynced, with its TensorBoard scalars) that a resumed run trims back to its checkpoint."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from guidedcot import jsonl
from guidedcot.errors import GuidedCotError


def default_folder(command: str) -> Path:
    """A new command's run folder when no ``--out`` is given: ``runs/<command>-<YYYYmmdd-HHMMSS>``."""
    return Path("runs") / f"{command}-{dt.datetime.now():%Y%m%d-%H%M%S}"


def numbered_folders(folder: Path, prefix: str, *, complete: str | None = None) -> list[Path]:
    """The ``<prefix>-N`` folders in ``folder`` (none where it does not exist), lowest N first; with
    ``complete``, only those holding that file (a writer that puts it last marks a finished folder)."""
    found = [
        path
        for path in folder.glob(f"{prefix}-*")
        if path.is_dir()
        and path.name[len(prefix) + 1 :].isdigit()
        and (complete is None or (path / complete).exists())
    ]
    return sorted(found, key=lambda path: int(path.name[len(prefix) + 1 :]))


def check_run_folder(out: Path | str) -> None:
    """Refuse an output path that exists and is not a folder (or lies under a file), before any work."""
    path = Path(out)
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            what = "is a file" if place == path else f"lies under {place}, which is a file"
            raise GuidedCotError(f"--out {path} {what}, not a folder: choose another --out")
        if place.exists():
            return


def refuse_unasked_resume(out: Path, last_checkpoint: Path | None, resume: bool) -> None:
    """A run folder that holds checkpoints continues only with ``resume``; nothing is ever deleted."""
    check_run_folder(out)
    if last_checkpoint is not None and not resume:
        raise GuidedCotError(
            f"{out} already holds checkpoints (last: {last_checkpoint.name}); pass --resume to continue, "
            "or choose another --out (nothing is deleted)"
        )


FINISHED_ANSWER_RUN = ("metrics.json", "run.json")  # what a finished evaluate / predict run leaves


def claim_answer_folder(out: Path, settings: str, *, overwrite: bool) -> None:
    """``evaluate`` / ``predict``: a folder with an earlier run's ``config.yaml`` is used again only for
    the same unfinished run (a killed run started again; the generation cache makes that cheap). A
    finished run of either command or one of other ``settings`` (config.yaml text) is refused unless
    ``overwrite``, which first removes that earlier run's files."""
    check_run_folder(out)
    written = out / "config.yaml"
    if not written.is_file():
        return
    finished = next((name for name in FINISHED_ANSWER_RUN if (out / name).exists()), None)
    same = written.read_text(encoding="utf-8", errors="replace") == settings
    if overwrite:
        for entry in out.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return
    if finished:
        raise GuidedCotError(
            f"--out {out} holds a finished run ({finished}): pass --overwrite to replace it, or choose another --out"
        )
    if not same:
        raise GuidedCotError(
            f"--out {out} holds an unfinished run of other settings (its config.yaml differs): pass --overwrite "
            "to replace it, or choose another --out"
        )


class PhaseTimer:
    """Seconds per named phase of a step: ``with timer("reward"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - began


class MetricsLog:
    """A JSONL log (metrics.jsonl: one line per step; probe.jsonl: one per probe), each line fsynced, and
    its TensorBoard scalars, from the main process.

    On resume, lines of steps after the checkpoint are dropped: those steps run again.
    """

    def __init__(
        self, out: Path, *, enabled: bool, keep_through: int, name: str = "metrics.jsonl", logs: str = "logs"
    ) -> None:
        self.path = out / name
        self.enabled = enabled
        self.records: list[dict[str, Any]] = []
        self.writer = None
        if not enabled:
            return
        out.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            records = jsonl.read_objects(self.path, tolerate_cut_end=True)  # a line cut by a kill: dropped
            kept = [record for _, record in records if record.get("step", 0) <= keep_through]
            self.records = kept
            self.path.write_text(jsonl.dumps(kept), encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / logs))

    def write(self, record: dict[str, Any]) -> None:
        """Append one step's record."""
        if not self.enabled:
            return
        self.records.append(record)
        jsonl.append(self.path, [record])
        for key, value in record.items():
            if isinstance(value, int | float) and key != "step":
                self.writer.add_scalar(key, value, record["step"])  # type: ignore[union-attr]

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.writer is not None:
            self.writer.close()
