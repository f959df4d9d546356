"""`guidedcot rl compare` and `guidedcot rl trend` on the files RL runs write (probe.jsonl,
metrics.jsonl), through the command line; `rl probe`'s own sampling is tested in test_rl_probe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidedcot.cli.app import main
from guidedcot.rl.analysis import append_probe_record, slope
from guidedcot.rl.probe import ProbeRecord

IDS = ["q1", "q2", "q3", "q4"]


def error_of(capsys: pytest.CaptureFixture[str]) -> str:
    """The error paragraph on standard error, its line breaks undone."""
    return " ".join(capsys.readouterr().err.split())


def record(step: int, label: str, totals: list[list[float]], ids: list[str] = IDS) -> ProbeRecord:
    em = [list(row) for row in totals]
    return ProbeRecord(step, label, ids, totals, {"task_em": em})  # type: ignore[arg-type]


def test_compare_pairs_each_record_with_the_first_by_question(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "probe.jsonl"
    append_probe_record(path, record(0, "distilled", [[0, 0], [1, 0], [0, 0], [1, 1]]))
    append_probe_record(path, record(20, "step 20", [[1, 1], [1, 1], [0, 0], [1, 0]]))
    assert main(["rl", "compare", str(path)]) == 0
    out = capsys.readouterr().out
    # per question: 0 -> 1, 0.5 -> 1, 0 -> 0, 1 -> 0.5: mean 0.375 -> 0.625, +0.25; 2 rose, 1 fell
    assert "total: 0.375 -> 0.625, difference +0.250" in out
    assert "rose 2 / fell 1 (n = 4)" in out and "task_em: 0.375 -> 0.625" in out


def test_compare_refuses_records_of_other_questions_and_a_file_of_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "probe.jsonl"
    append_probe_record(path, record(0, "a", [[0], [1], [0], [1]]))
    assert main(["rl", "compare", str(path)]) == 2
    assert "holds 1 probe record(s); comparing needs two" in error_of(capsys)
    append_probe_record(path, record(5, "b", [[0], [1], [0], [1]], ids=["q1", "q2", "q3", "q9"]))
    assert main(["rl", "compare", str(path)]) == 2
    assert "step 5 probed other questions than step 0" in error_of(capsys)
    path.write_text('{"step": 1, "totals": ', encoding="utf-8")
    assert main(["rl", "compare", str(path)]) == 2
    assert "probe.jsonl, line 1: not a JSON line" in error_of(capsys)
    path.write_text('{"step": 1}\n', encoding="utf-8")
    assert main(["rl", "compare", str(path)]) == 2
    assert "probe.jsonl, line 1: not a probe record" in error_of(capsys)


def write_metrics(run: Path, rewards: list[float], em: list[float], ids: list[list[str]]) -> None:
    run.mkdir()
    lines = [
        json.dumps({"step": s + 1, "reward_mean": r, "reward_task_em": e, "question_ids": q})
        for s, (r, e, q) in enumerate(zip(rewards, em, ids, strict=True))
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_trend_gives_halves_and_slope_and_the_paired_difference_against_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [["a"], ["b"], ["c"], ["d"]]
    write_metrics(tmp_path / "run", [0.1, 0.2, 0.3, 0.4], [0.0, 0.25, 0.5, 0.5], ids)
    write_metrics(tmp_path / "other", [0.1, 0.1, 0.1, 0.1], [0.0, 0.0, 0.25, 0.25], ids)
    assert slope([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.1)
    assert main(["rl", "trend", str(tmp_path / "run"), "--against", str(tmp_path / "other")]) == 0
    out = capsys.readouterr().out
    assert "n = 4 steps; first half 0.150, second half 0.350; slope +0.1000 per step" in out
    assert "task EM minus" in out and "first half 0.125, second half 0.250" in out
    write_metrics(tmp_path / "drawn-elsewhere", [0.1] * 4, [0.0] * 4, [["a"], ["b"], ["x"], ["d"]])
    assert main(["rl", "trend", str(tmp_path / "run"), "--against", str(tmp_path / "drawn-elsewhere")]) == 2
    assert "drew different questions" in error_of(capsys)
    assert main(["rl", "trend", str(tmp_path / "run"), "--key", "nope"]) == 2
    assert "step 1 has no 'nope'" in error_of(capsys)


def test_probe_needs_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rl", "probe", str(tmp_path), "--student", "smollm2"]) == 2
    assert "has no config.json: not an RL run folder" in error_of(capsys)
