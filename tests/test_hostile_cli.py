"""User errors of the classes issue 23 found, through the real command line: each a one-paragraph
message with exit status 2, no traceback, the user's text shown as typed (brackets are not markup)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def guidedcot(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUIDEDCOT_DATA": str(data), "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "guidedcot.cli.app", *args], capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip


def refused(run: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    for text in expected:
        assert text in run.stderr, run.stderr[-2000:]


def test_brackets_in_user_text_are_shown_as_typed(tmp_path: Path, shared_data: Path) -> None:
    refused(guidedcot("evaluate", "--methods", "standard", "--dataset", "hotpotqa:dev[a:b]", "--out",
                      str(tmp_path / "o"), data=shared_data), "hotpotqa:dev[a:b]")  # fmt: skip
    refused(guidedcot("evaluate", "--methods", "standard", "--dataset", str(tmp_path / "x[/b]y.json"), "--out",
                      str(tmp_path / "o"), data=shared_data), "x[/b]y.json")  # fmt: skip


@pytest.mark.parametrize("below", [False, True])
def test_an_out_that_is_a_file_is_refused_before_any_model_loads(
    tmp_path: Path, shared_data: Path, below: bool
) -> None:
    existing = tmp_path / "notes.txt"
    existing.write_text("mine\n")
    out = existing / "run" if below else existing
    run = guidedcot("evaluate", "--methods", "standard", "--dataset", "hotpotqa:dev[0:1]", "--out", str(out),
                    data=shared_data)  # fmt: skip
    refused(run, f"--out {out}", "not a folder")
    assert "loading the reader" not in run.stderr
    assert existing.read_text() == "mine\n"


def test_a_huge_number_and_a_utf16_config_get_messages(tmp_path: Path, shared_data: Path) -> None:
    run = guidedcot("rl", "--set", "seed=" + "9" * 5000, "--out", str(tmp_path / "o"), data=shared_data)
    refused(run, "not a value a config can hold")
    assert len(run.stderr) < 1000  # the value is not echoed in full
    config = tmp_path / "rl.yaml"
    config.write_text("steps: 3\n", encoding="utf-16")
    refused(guidedcot("rl", "--config", str(config), "--out", str(tmp_path / "o"), data=shared_data),
            "is not UTF-8 text")  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"dataset": "hotpotqa"', "line 1: not a JSON line"),
        ("[1, 2]", "line 1: expected a JSON object, got list"),
        ('{"dataset": "hotpotqa", "bogus": 1}', "line 1, field 'bogus': not a field of a prediction record"),
        ('{"dataset": "hotpotqa"}', "line 1, field "),
    ],
)
def test_compare_on_a_malformed_predictions_file_names_file_and_line(
    tmp_path: Path, shared_data: Path, line: str, expected: str
) -> None:
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "predictions.jsonl").write_text(line + "\n")
        runs.append(str(folder))
    refused(guidedcot("compare", *runs, data=shared_data), "predictions.jsonl", expected)


def test_serve_on_a_port_out_of_range_is_refused_before_loading(shared_data: Path) -> None:
    run = guidedcot("serve", "--port", "99999", data=shared_data)
    refused(run, "'port' must be <= 65535, got 99999")


def _broken_inputs(tmp_path: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """Each case: arguments, extra environment, the words its message must have."""
    empty_config = tmp_path / "empty-config"
    empty_config.mkdir()
    (empty_config / "config.json").write_text("")
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_text("hello\n")
    cut_gguf = tmp_path / "cut.gguf"
    cut_gguf.write_bytes(b"GGUF\x03\x00\x00\x00cut off here")
    text_cache = tmp_path / "cache.txt"
    text_cache.write_text("not a cache\n")
    store_file = tmp_path / "store.txt"
    store_file.write_text("hi\n")
    guided = ["evaluate", "--methods", "guided", "--dataset", "hotpotqa:dev[0:1]", "--reader", "smollm2",
              "--out", str(tmp_path / "o")]  # fmt: skip
    standard = ["evaluate", "--methods", "standard", "--dataset", "hotpotqa:dev[0:1]", "--reader", "smollm2",
                "--out", str(tmp_path / "o")]  # fmt: skip
    return {
        "student folder, empty config.json": (
            [*guided, "--student", str(empty_config)], {}, f"cannot load the model {empty_config}"),
        "student .gguf that is not GGUF": ([*guided, "--student", str(not_gguf)], {}, "is not a GGUF file"),
        "student GGUF cut off": ([*guided, "--student", str(cut_gguf)], {}, f"llama.cpp could not load {cut_gguf}"),
        "cache a text file": ([*standard, "--set", f"cache={text_cache}"], {}, "is not an SQLite file"),
        "cache bound inf": (standard, {"GUIDEDCOT_CACHE_MAX_MB": "inf"}, "$GUIDEDCOT_CACHE_MAX_MB='inf'"),
        "teacher store a file": (
            ["distill", "train", "--teacher-store", str(store_file), "--out", str(tmp_path / "d")], {},
            "a file, not a teacher store"),
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    ["student folder, empty config.json", "student .gguf that is not GGUF", "student GGUF cut off",
     "cache a text file", "cache bound inf", "teacher store a file"],
)  # fmt: skip
def test_broken_models_caches_and_stores_get_their_own_messages(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    args, env, expected = _broken_inputs(tmp_path)[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = guidedcot(*args, data=shared_data)
    refused(run, expected)
    assert "internal error" not in run.stderr


@pytest.mark.slow
def test_evaluate_and_predict_refuse_an_earlier_run_in_out_unless_asked(
    tmp_path: Path, shared_data: Path
) -> None:
    out = tmp_path / "run"
    base = ["--methods", "standard", "--dataset", "hotpotqa:dev[0:1]", "--reader", "smollm2", "--out", str(out),
            "--set", f"cache={tmp_path / 'cache.sqlite'}"]  # fmt: skip
    first = guidedcot("evaluate", *base, data=shared_data)
    assert first.returncode == 0, first.stderr[-2000:]
    (out / "mine.txt").write_text("an earlier file\n")
    refused(
        guidedcot("evaluate", *base, data=shared_data), f"--out {out} holds a finished run", "--overwrite"
    )
    refused(guidedcot("predict", *base, data=shared_data), f"--out {out} holds a finished run (metrics.json)")
    refused(guidedcot("evaluate", *base, "--limit", "2", data=shared_data), "holds a finished run")
    (out / "metrics.json").unlink()  # killed before the end: the same settings go on, others do not
    refused(
        guidedcot("evaluate", *base, "--limit", "2", data=shared_data), "an unfinished run of other settings"
    )
    again = guidedcot("evaluate", *base, data=shared_data)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out / "mine.txt").exists()
    replaced = guidedcot("predict", *base, "--overwrite", data=shared_data)
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert (
        not (out / "mine.txt").exists()
        and not (out / "metrics.json").exists()
        and (out / "run.json").exists()
    )


def test_jsonl_is_written_as_utf8_and_read_back_whatever_its_strings_hold(tmp_path: Path) -> None:
    from guidedcot import jsonl

    path = tmp_path / "records.jsonl"
    records = [{"text": "Zürich\u2028line\u0085two"}, {"text": "lone \ud800 half"}, {"n": 1}]
    jsonl.append(path, records[:2])
    jsonl.append(path, records[2:])
    jsonl.append(path, [])
    assert "Zürich" in path.read_text(encoding="utf-8")  # UTF-8, not escapes
    assert [value for _, value in jsonl.read_objects(path)] == records
