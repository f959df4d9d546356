"""Progress where no bar can be drawn: a background job's log gets a line a minute and one per completion."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console
from rich.progress import Progress

from guidedcot.progress import LOG_EVERY_S, progress_hook


class Clock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "guidedcot.progress"]


def test_a_log_file_gets_a_line_a_minute_and_one_per_completed_piece_of_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bar = Progress(console=Console(file=io.StringIO()))  # a file, not a terminal
    clock = Clock()
    hook = progress_hook(bar, bar.add_task("x", total=None), "study: ", clock=clock)
    caplog.set_level(logging.INFO, logger="guidedcot.progress")
    for done in range(1, 11):  # 10 items, 15 s each
        clock.now += 15
        hook("hotpotqa standard", done, 10)
    hook("hotpotqa standard", 10, 10)  # told again: still one completion line
    for done in range(1, 3):  # the next piece of work starts its own clock
        clock.now += 40
        hook("2wiki standard", done, 2)
    assert lines(caplog) == [
        "study: hotpotqa standard: 4/10, 0:01:00 elapsed, ~0:01:30 left",
        "study: hotpotqa standard: 8/10, 0:02:00 elapsed, ~0:00:30 left",
        "study: hotpotqa standard: 10/10, 0:02:30 elapsed",
        "study: 2wiki standard: 2/2, 0:01:20 elapsed",
    ]
    assert LOG_EVERY_S == 60.0


def test_a_terminal_gets_the_bar_and_no_lines(caplog: pytest.LogCaptureFixture) -> None:
    bar = Progress(console=Console(file=io.StringIO(), force_terminal=True))
    hook = progress_hook(bar, bar.add_task("x", total=None), clock=Clock())
    caplog.set_level(logging.INFO, logger="guidedcot.progress")
    hook("steps", 5, 5)
    assert lines(caplog) == []


def test_resumed_work_is_timed_by_what_this_run_does_not_by_all_it_counts_as_done(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bar = Progress(console=Console(file=io.StringIO()))
    clock = Clock()
    hook = progress_hook(bar, bar.add_task("x", total=None), clock=clock)
    caplog.set_level(logging.INFO, logger="guidedcot.progress")
    clock.now += 5
    hook("step 35", 35, 100)  # a resumed run reports what earlier runs finished before its first step
    for step in (36, 37):  # then 90 s a step
        clock.now += 90
        hook(f"step {step}", step, 100)
    assert lines(caplog) == [
        "step 36: 36/100, 0:01:35 elapsed, ~1:36:00 left",
        "step 37: 37/100, 0:03:05 elapsed, ~1:34:30 left",
    ]
