"""`guidedcot demo --quick` end to end with SmolLM2 in both roles (the 1.5B reader belongs to `make demo`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quick_demo_runs_teacher_distillation_and_evaluation(shared_data: Path, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "guidedcot.cli.app", "demo", "--quick", "--out", str(tmp_path / "demo"),
        "--set", "reader=smollm2", "--set", f"cache={tmp_path / 'cache.sqlite'}",
    ]  # fmt: skip
    env = {**os.environ, "GUIDEDCOT_DATA": str(shared_data), "COLUMNS": "200"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    root = tmp_path / "demo" / "quick"
    manifest = json.loads((root / "teacher" / "manifest.json").read_text())
    assert manifest["counts"]["questions"] == 16 and manifest["teacher"].startswith("llamacpp:smollm2")
    (final,) = root.glob("student-*/final")  # one student per teacher-store size
    assert (final / "config.json").exists() and (final.parent / "training.json").exists()
    summary = (root / "summary.md").read_text()
    for method in ("standard", "cot", "guided", "guided (distilled)"):
        assert f"| {method} |" in summary
    assert "guided (distilled)" in done.stdout
    for run in ("eval-baselines", "eval-distilled"):
        assert (root / run / "report.html").exists()
