"""Progress bars for long work (on stderr, through rich): every stage of a long job shows one, with
done / total, elapsed time and an ETA. Library functions take a `ProgressHook`; `stage` makes one.
Where stderr is not a terminal (a job in the background, its output in a log file), rich draws no bar,
so the same hook logs a line instead: once every `LOG_EVERY_S` seconds and when a piece of work completes.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
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

logger = logging.getLogger(__name__)
LOG_EVERY_S = 60.0
"""Where no bar can be drawn, the seconds between two progress lines in the log."""

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


def progress_hook(
    bar: Progress, task: TaskID, prefix: str = "", *, clock: Callable[[], float] = time.monotonic
) -> ProgressHook:
    """A (label, done, total) callback that moves ``task`` of ``bar``; on a console that is not a
    terminal it also logs ``label: done/total, elapsed, ~left`` every `LOG_EVERY_S` seconds and once
    when a piece of work completes (``clock``: seconds, for tests).

    The time left is measured from the work's first call, so work resumed part-done (whose first call
    reports what earlier runs finished) is timed by what this run does, not by all it counts as done."""
    start = last_line = last_call = clock()
    work = (0, 0)  # (total, done) of the work under way: a new total or fewer done is the next one
    first: tuple[float, int] | None = None  # (time, done) of the work's first call
    finished = False  # its completion is logged once

    def update(label: str, done: int, total: int) -> None:
        nonlocal start, last_line, last_call, work, first, finished
        bar.update(task, description=f"{prefix}{label}", completed=done, total=total)
        if bar.console.is_terminal:
            return
        now = clock()
        if work != (0, 0) and (total != work[0] or done < work[1]):
            start, first, finished = last_call, None, False  # it began when the one before last moved
        work, last_call = (total, done), now
        first = first or (now, done)
        if total > 0 and done >= total:
            if finished:
                return
            finished = True
        elif now - last_line < LOG_EVERY_S:
            return
        last_line = now
        elapsed = now - start
        since, done_then = first
        per_item = (now - since) / (done - done_then) if done > done_then else elapsed / max(done, 1)
        left = f", ~{_duration(per_item * (total - done))} left" if 0 < done < total else ""
        logger.info("%s%s: %d/%d, %s elapsed%s", prefix, label, done, total, _duration(elapsed), left)

    return update


def _duration(seconds: float) -> str:
    """``H:MM:SS``, as the bar's own time columns write it."""
    return str(datetime.timedelta(seconds=round(seconds)))


@contextlib.contextmanager
def stage(label: str, prefix: str = "") -> Iterator[ProgressHook]:
    """A progress bar for one stage of work, open while the block runs: ``with stage("teacher") as hook``."""
    with progress_bar() as bar:
        yield progress_hook(bar, bar.add_task(label, total=None), prefix)
