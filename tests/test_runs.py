"""Run-folder policy: the default folder of a command without ``--out``."""

from __future__ import annotations

import re
from pathlib import Path

from guidedcot.runs import default_folder


def test_a_command_without_out_gets_a_timestamped_folder_under_runs() -> None:
    folder = default_folder("predict")
    assert folder.parent == Path("runs")
    assert re.fullmatch(r"predict-\d{8}-\d{6}", folder.name)


def test_numbered_folders_sort_by_number_and_skip_unfinished_or_foreign_ones(tmp_path: Path) -> None:
    from guidedcot.runs import numbered_folders

    for name in ("step-10", "step-9", "step-x", "steps-3", "checkpoint-2", "checkpoint-7"):
        (tmp_path / name).mkdir()
    (tmp_path / "step-11").write_text("a file, not a checkpoint")
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    assert [p.name for p in numbered_folders(tmp_path, "step")] == ["step-9", "step-10"]
    assert [p.name for p in numbered_folders(tmp_path, "checkpoint", complete="trainer_state.json")] == [
        "checkpoint-2"
    ]
    assert numbered_folders(tmp_path / "missing", "step") == []
