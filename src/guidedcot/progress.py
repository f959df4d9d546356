"""Progress bars for long work (on stderr, through rich): every stage of a long job shows one, with
done / total, elapsed time and an ETA. Library functions take a `ProgressHook`; `stage` makes one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ProgressHook = Callable[[str, int, int], None]
"""Called with (label, items done, items in all) as work advances."""

console = Console(stderr=True, soft_wrap=True)
"""The console that logs, progress bars and error paragraphs share (stderr)."""


def progress_bar() -> Progress:
    """The progress bar every long command shows (on stderr)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def progress_hook(bar: Progress, task: TaskID, prefix: str = "") -> ProgressHook:
    """A (label, done, total) callback that moves ``task`` of ``bar``."""

    def update(label: str, done: int, total: int) -> None:
        bar.update(task, description=f"{prefix}{label}", completed=done, total=total)

    return update


@contextlib.contextmanager
def stage(label: str, prefix: str = "") -> Iterator[ProgressHook]:
    """A progress bar for one stage of work, open while the block runs: ``with stage("teacher") as hook``."""
    with progress_bar() as bar:
        yield progress_hook(bar, bar.add_task(label, total=None), prefix)
