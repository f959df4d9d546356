"""The command line: summaries, exit codes and one-paragraph errors (no tracebacks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidedcot.cli.app import main
from guidedcot.data.discovery import find_dataset_files


def test_data_lists_and_validates_shared_files(
    shared_data: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["data", "--data-dir", str(shared_data)]) == 0
    out, err = capsys.readouterr()
    assert "hotpot_train_100.json" in out and "2wiki_dev_250.json" in out
    n_files = len(find_dataset_files(shared_data))
    assert n_files >= 5
    assert f"{n_files} of {n_files} file(s) valid" in err


def test_data_reports_invalid_files_and_skips_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {
        "_id": "a",
        "question": "Q?",
        "answer": "x",
        "type": "bridge",
        "supporting_facts": [],
        "context": [["T", ["text"]]],
    }
    path = tmp_path / "d.json"
    path.write_text(json.dumps([record, {**record, "_id": "b", "question": ""}]))
    assert main(["data", str(path)]) == 2
    _, err = capsys.readouterr()
    assert "record 1 (id 'b'), field 'question': empty" in err.replace("\n", " ")
    assert main(["data", str(path), "--skip-invalid"]) == 0
    _, err = capsys.readouterr()
    assert "1 record(s) skipped" in err and "skipped" in err
    empty = tmp_path / "empty[b].jsonl"
    empty.write_text("")
    assert main(["data", str(empty)]) == 2
    _, err = capsys.readouterr()
    assert "empty[b].jsonl: holds no questions" in err.replace("\n", "")


def test_user_errors_are_one_paragraph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("GUIDEDCOT_DATA", raising=False)
    assert main(["data"]) == 2
    _, err = capsys.readouterr()
    assert "error:" in err and "GUIDEDCOT_DATA" in err and "Traceback" not in err
    assert main(["data", "--set", "bogus=1"]) == 2
    assert "unknown config key 'bogus'" in capsys.readouterr().err
    assert main(["models", "prepare", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_models_lists_every_named_model(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in (
        "smollm2-135m-instruct",
        "gemma-3-270m",
        "qwen2.5-coder-0.5b-instruct",
        "qwen2.5-coder-1.5b-instruct",
    ):
        assert name in out
