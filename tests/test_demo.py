"""`guidedcot demo --quick` end to end with SmolLM2 in both roles (the 1.5B reader belongs to `make demo`):
teacher, distillation, RL and the evaluation of every method, then a second run from the caches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two runs of every stage; minutes alone, more on a shared CPU
def test_quick_demo_runs_every_stage_and_a_second_run_replays(shared_data: Path, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "guidedcot.cli.app", "demo", "--quick", "--out", str(tmp_path / "demo"),
        "--set", "reader=smollm2", "--set", f"cache={tmp_path / 'cache.sqlite'}",
    ]  # fmt: skip
    env = {**os.environ, "GUIDEDCOT_DATA": str(shared_data), "COLUMNS": "200"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    root = tmp_path / "demo" / "quick"
    manifest = json.loads((root / "teacher" / "manifest.json").read_text())
    assert manifest["counts"]["questions"] == 16 and manifest["teacher"].startswith("llamacpp:smollm2")
    for trained in ("distill-full", "rl-task"):
        assert (root / trained / "final" / "config.json").exists()
    assert len((root / "rl-task" / "metrics.jsonl").read_text().splitlines()) == 1
    summary = (root / "summary.md").read_text()
    for method in ("standard", "cot", "guided (untrained)", "guided (distill:full)", "guided (rl:task)"):
        assert f"| {method} |" in summary
    assert "| all | guided (rl:task) | standard | 8 |" in summary  # paired against standard prompting
    assert "| all | guided (rl:task) | guided (distill:full) | 8 |" in summary
    assert "guided (rl:task)" in done.stdout and "paired EM difference" in done.stdout
    for run in ("baselines", "untrained", "distill-full", "rl-task"):
        assert (root / f"eval-gold-{run}" / "report.html").exists()
    stages = [json.loads(line)["stage"] for line in (root / "timings.jsonl").read_text().splitlines()]
    assert stages == ["teacher", "distill full", "rl task", "evaluate gold baselines", "evaluate gold untrained",
                      "evaluate gold distill:full", "evaluate gold rl:task"]  # fmt: skip

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500, check=False)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "done already" in again.stderr
    assert (root / "summary.md").read_text().split("Wall time")[0] == summary.split("Wall time")[0]
    rerun = [json.loads(line)["stage"] for line in (root / "timings.jsonl").read_text().splitlines()][7:]
    assert rerun == [
        "teacher"
    ]  # the only stage that looks again (its store is complete); the rest are skipped
