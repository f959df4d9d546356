"""`guidedcot demo --quick` end to end with SmolLM2 in both roles (the 1.5B reader belongs to `make demo`):
teacher, distillation, RL and the evaluation of every method, then a second run from the caches.

Distillation keeps only the teacher's correct rationales, and SmolLM2-135M as the teacher gets almost
no training question right (2026-11-28: 1 of 16, 0 of 16, 0 of 48 on the demo's HotpotQA / 2Wiki
training questions; llama.cpp's batched decoding is not bit-reproducible, so which one varies by run).
The teacher here reads 24 one-sentence questions ("What is the capital of France?") written below, of
which it gets about a quarter right; the evaluation stages read the real dev questions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from guidedcot.demo import load_demo_settings

CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid", "Germany": "Berlin",
    "Egypt": "Cairo", "Canada": "Ottawa", "Kenya": "Nairobi", "Peru": "Lima", "Norway": "Oslo",
    "Greece": "Athens", "Russia": "Moscow", "Portugal": "Lisbon", "Austria": "Vienna", "Poland": "Warsaw",
    "Ireland": "Dublin", "Cuba": "Havana", "Chile": "Santiago", "Sweden": "Stockholm", "Finland": "Helsinki",
    "Denmark": "Copenhagen", "Hungary": "Budapest", "Thailand": "Bangkok", "Argentina": "Buenos Aires",
}  # fmt: skip


def write_capital_questions(path: Path) -> Path:
    """HotpotQA-format training questions a 135M teacher can answer: one context sentence each."""
    records = [
        {
            "_id": f"capital-{country.lower()}",
            "question": f"What is the capital of {country}?",
            "answer": capital,
            "supporting_facts": [[country, 0]],
            "context": [[country, [f"The capital of {country} is {capital}."]]],
            "type": "bridge",
            "level": "easy",
        }
        for country, capital in CAPITALS.items()
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_quick_sizes_yield_to_config_and_set(tmp_path: Path) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text("eval_limit: 6\nrl_steps: 3\n", encoding="utf-8")
    settings = load_demo_settings(config, ["teacher_limit=24", "rl_steps=5"], quick=True)
    assert (settings.teacher_limit, settings.eval_limit, settings.rl_steps) == (24, 6, 5)
    assert (settings.epochs, settings.rationale_tokens) == (1.0, 48)  # quick sizes nobody overrode
    assert load_demo_settings(quick=False).teacher_limit == 20


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two runs of every stage; minutes alone, more on a shared CPU
def test_quick_demo_runs_every_stage_and_a_second_run_replays(shared_data: Path, tmp_path: Path) -> None:
    questions = write_capital_questions(tmp_path / "hotpot_train_capitals.json")
    command = [
        sys.executable, "-m", "guidedcot.cli.app", "demo", "--quick", "--out", str(tmp_path / "demo"),
        "--set", "reader=smollm2", "--set", f"cache={tmp_path / 'cache.sqlite'}",
        "--set", f"teacher_datasets=[{questions}]", "--set", "teacher_limit=24",
    ]  # fmt: skip
    env = {**os.environ, "GUIDEDCOT_DATA": str(shared_data), "COLUMNS": "200"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    root = tmp_path / "demo" / "quick"
    manifest = json.loads((root / "teacher" / "manifest.json").read_text())
    assert manifest["counts"]["questions"] == 24 and manifest["teacher"].startswith("llamacpp:smollm2")
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
    assert rerun == []  # every stage is skipped, the teacher too: its store holds every question
