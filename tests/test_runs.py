"""Run-folder policy: the default folder of a command without ``--out``."""

from __future__ import annotations

import re
from pathlib import Path

from guidedcot.runs import default_folder


def test_a_command_without_out_gets_a_timestamped_folder_under_runs() -> None:
    folder = default_folder("predict")
    assert folder.parent == Path("runs")
    assert re.fullmatch(r"predict-\d{8}-\d{6}", folder.name)
