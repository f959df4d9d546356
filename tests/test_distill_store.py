"""Teacher store and rationale filtering, with a scripted teacher on the real training files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guidedcot.config import load_config
from guidedcot.distill import (
    GenerateConfig,
    TeacherStore,
    build_training_set,
    generate_rationales,
    load_records,
)
from guidedcot.distill.trainset import split_by_question
from guidedcot.errors import DataError, GuidedCotError
from guidedcot.llm import CachedLanguageModel


def settings(tmp_path: Path, **changes: object) -> GenerateConfig:
    config = load_config(
        GenerateConfig, overrides=["datasets=hotpotqa:train", "limit=6", "questions_per_step=2"]
    )
    config.out = str(tmp_path / "store")
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def test_generate_fills_the_store_with_a_manifest_and_is_resumable(
    shared_data: Path, tmp_path: Path, make_teacher: Callable[..., Any]
) -> None:
    teacher = make_teacher()
    store = generate_rationales(settings(tmp_path, samples=2), teacher=teacher, data_dir=shared_data)
    assert len(store.records) == 12 and len(teacher.requests) == 12
    assert {r.sample_index for r in store.records} == {0, 1}
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert manifest["counts"] == {
        "questions": 6,
        "records": 12,
        "records_em": 6,
        "questions_with_an_em_record": 3,
    }
    assert manifest["samples"] == 2 and manifest["decoding"]["temperature"] == 0.7
    assert manifest["prompt_version"].startswith("cot-v1-") and manifest["teacher"] == "fake:teacher"
    before = (tmp_path / "store" / "rationales.jsonl").read_bytes()

    again = make_teacher()
    generate_rationales(settings(tmp_path, samples=2, limit=8), teacher=again, data_dir=shared_data)
    assert len(again.requests) == 4  # only the 2 new questions x 2 samples
    after = (tmp_path / "store" / "rationales.jsonl").read_bytes()
    assert after.startswith(before)  # finished records are never rewritten


def test_a_partial_last_line_is_cut_off_and_a_mismatched_identity_refused(
    shared_data: Path, tmp_path: Path, make_teacher: Callable[..., Any]
) -> None:
    generate_rationales(settings(tmp_path), teacher=make_teacher(), data_dir=shared_data)
    path = tmp_path / "store" / "rationales.jsonl"
    with path.open("a") as handle:
        handle.write('{"dataset": "hotpotqa", "id": "half a rec')
    with pytest.raises(DataError, match="last line is incomplete"):
        load_records(path)
    teacher = CachedLanguageModel(make_teacher())
    store = generate_rationales(settings(tmp_path), teacher=teacher, data_dir=shared_data)
    assert len(store.records) == 6 and teacher.usage.calls == 0
    assert path.read_text().endswith("\n")
    with pytest.raises(GuidedCotError, match="was made with teacher='fake:teacher'"):
        generate_rationales(settings(tmp_path), teacher=make_teacher("other"), data_dir=shared_data)
    with pytest.raises(GuidedCotError, match="samples"):
        TeacherStore.open(tmp_path / "store", {**store.identity, "samples": 3})


def test_a_broken_line_in_the_middle_is_named(tmp_path: Path) -> None:
    path = tmp_path / "rationales.jsonl"
    path.write_text('{"not": "a record"}\n{}\n')
    with pytest.raises(DataError, match=r"rationales.jsonl, line 1"):
        load_records(path)


def test_training_set_keeps_correct_rationales_and_reports(
    shared_data: Path, tmp_path: Path, make_teacher: Callable[..., Any]
) -> None:
    store = generate_rationales(settings(tmp_path, samples=2), teacher=make_teacher(), data_dir=shared_data)
    kept, stats = build_training_set(store.records)
    assert stats.questions == 6 and stats.records == 12
    assert stats.kept_records == 6 and stats.questions_kept == 3 and stats.kept_stating_answer == 6
    assert all(e.rationale.startswith("step ") for e in kept)
    _, loose_stats = build_training_set(store.records, criterion="f1", f1_threshold=0.0)
    assert loose_stats.kept_records == 12
    with pytest.raises(GuidedCotError, match="criterion"):
        build_training_set(store.records, criterion="bleu")
    train, held = split_by_question(kept, 0.34, seed=0)
    assert {e.id for e in train}.isdisjoint({e.id for e in held}) and len(held) == 2


def test_resume_skips_a_half_written_checkpoint(tmp_path: Path) -> None:
    from guidedcot.distill.train import last_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:  # the Trainer writes trainer_state.json last
            (folder / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    assert last_checkpoint(tmp_path / "none") is None


def test_liger_without_its_package_is_refused_before_anything_loads(tmp_path: Path) -> None:
    import importlib.util

    from guidedcot.distill import TrainConfig
    from guidedcot.distill.train import train_student
    from guidedcot.errors import ConfigError

    if importlib.util.find_spec("liger_kernel") is not None:
        pytest.skip("liger-kernel is installed here (the GPU extra)")
    config = load_config(TrainConfig, overrides=["liger=true"])
    config.teacher_store, config.out = str(tmp_path / "no-store"), str(tmp_path / "out")
    with pytest.raises(ConfigError, match=r"liger-kernel package: pip install 'guidedcot\[gpu\]'"):
        train_student(config)


def test_a_stripped_store_fills_back_byte_for_byte_and_is_refused_for_training_until_then(
    shared_data: Path, tmp_path: Path, make_teacher: Callable[..., Any]
) -> None:
    """Committed stores keep no dataset text: strip empties every context, fill rebuilds each from the
    data with the manifest's mode and budget (cut contexts included), and training refuses the gap."""
    from guidedcot.distill import TrainConfig
    from guidedcot.distill.shareable import fill_contexts, strip_contexts
    from guidedcot.distill.train import training_examples

    def words(text: str) -> int:
        return len(text.split())

    config = settings(tmp_path, samples=2, max_context_tokens=60)
    generate_rationales(config, teacher=make_teacher(), data_dir=shared_data, count_tokens=words)
    store = Path(config.out)
    original = {name: (store / name).read_bytes() for name in ("rationales.jsonl", "manifest.json")}
    assert all(
        words(r.context) <= 60 for r in load_records(store / "rationales.jsonl")
    )  # the budget cut them

    assert strip_contexts(store) == 12
    assert all(r.context == "" for r in load_records(store / "rationales.jsonl"))
    assert (store / "rationales.jsonl").stat().st_size < len(original["rationales.jsonl"])
    train = load_config(TrainConfig)
    train.teacher_store = str(store)
    with pytest.raises(GuidedCotError, match=r"stripped of its contexts.*shareable fill"):
        training_examples(train)

    assert fill_contexts(store, shared_data, words) == 12
    assert {name: (store / name).read_bytes() for name in original} == original
    with pytest.raises(GuidedCotError, match="has its contexts"):
        fill_contexts(store, shared_data, words)

    strip_contexts(store)
    lines = (store / "rationales.jsonl").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(json.loads(lines[3])["id"], "no-such-question")
    (store / "rationales.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="no-such-question") as raised:
        fill_contexts(store, shared_data, words)
    assert "line 4" in str(raised.value)


def test_fill_counts_with_the_llamacpp_teacher_or_the_reader_named_and_asks_for_it_otherwise(
    shared_data: Path, tmp_path: Path, make_teacher: Callable[..., Any]
) -> None:
    """The fill command's tokenizer: parsed only from a llama.cpp identity; a served teacher's name (not
    necessarily a tokenizer one can load) needs --reader, asked for before anything loads."""
    from guidedcot.distill.shareable import counting_model, main, strip_contexts

    sha = "llamacpp:qwen2.5-coder-1.5b-instruct@sha256:cc32"
    assert counting_model(sha, None) == "qwen2.5-coder-1.5b-instruct"
    assert (
        counting_model("openai-compatible:served@rev", "Qwen/Qwen2.5-7B-Instruct")
        == "Qwen/Qwen2.5-7B-Instruct"
    )
    config = settings(tmp_path, samples=1)
    generate_rationales(config, teacher=make_teacher(), data_dir=shared_data, count_tokens=len)
    store = Path(config.out)
    strip_contexts(store)
    manifest = json.loads((store / "manifest.json").read_text())
    for teacher in ("openai-compatible:served@rev", "transformers:/models/student:bf16-autocast"):
        (store / "manifest.json").write_text(json.dumps({**manifest, "teacher": teacher}))
        with pytest.raises(GuidedCotError, match=r"not a llama.cpp model: pass --reader"):
            main(["fill", str(store), "--data", str(shared_data)])
