"""Student fine-tuning: real SmolLM2, a random T5 (seq2seq), DDP over gloo, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guidedcot.config import load_config
from guidedcot.distill import GenerateConfig, TrainConfig, generate_rationales
from guidedcot.distill.train import train_student
from guidedcot.errors import ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher_store(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, make_teacher: Callable[..., Any]
) -> Path:
    """A real-data teacher store: 24 training questions, half with correct rationales."""
    config = load_config(GenerateConfig, overrides=["datasets=hotpotqa:train", "limit=24"])
    config.out = str(tmp_path_factory.mktemp("teacher") / "store")
    generate_rationales(config, teacher=make_teacher(), data_dir=shared_data)
    return Path(config.out)


def train_config(store: Path, out: Path, student: str, *extra: str) -> TrainConfig:
    overrides = ["batch_size=2", "logging_steps=1", "max_length=512", "eval_fraction=0.25", *extra]
    config = load_config(TrainConfig, overrides=overrides)
    config.teacher_store, config.out, config.student = str(store), str(out), student
    return config


def test_smollm2_learns_the_teacher_rationales(teacher_store: Path, tmp_path: Path) -> None:
    config = train_config(teacher_store, tmp_path / "student", "smollm2", "max_steps=6", "learning_rate=1e-4")
    result = train_student(config)
    assert result.stats.kept_records == 12 and result.train_examples + result.eval_examples == 12
    assert result.eval_loss_before is not None and result.eval_loss_after is not None
    assert result.eval_loss_after < result.eval_loss_before
    assert (result.final_dir / "config.json").exists() and (result.final_dir / "tokenizer.json").exists()
    assert list((tmp_path / "student" / "logs").rglob("events.out.tfevents.*"))
    summary = json.loads((tmp_path / "student" / "training.json").read_text())
    assert summary["global_step"] == 6 and summary["teacher"]["teacher"] == "fake:teacher"

    # the saved student writes rationales through the transformers backend, as `evaluate --student` does
    from guidedcot.llm.factory import load_backend
    from guidedcot.llm.types import chat

    student = load_backend(str(result.final_dir))
    (draft,) = student.generate([chat("Question: Who? Context: Nobody.", max_new_tokens=8)])
    assert draft.completion_tokens > 0


def test_lora_on_a_random_t5_runs_the_seq2seq_path(
    teacher_store: Path, tmp_path: Path, smollm2_tokenizer_dir: Path
) -> None:
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(
        T5Config(
            vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    )  # fmt: skip
    folder = tmp_path / "t5"
    t5.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    config = train_config(teacher_store, tmp_path / "student", str(folder), "max_steps=4", "lora=true")
    result = train_student(config)
    assert result.global_step == 4
    merged = T5ForConditionalGeneration.from_pretrained(result.final_dir)
    assert not any("lora" in name for name, _ in merged.named_parameters())  # adapters merged
    from guidedcot.llm.factory import load_backend
    from guidedcot.llm.types import chat

    (draft,) = load_backend(str(result.final_dir)).generate([chat("Question: Who?", max_new_tokens=4)])
    assert draft.finish_reason in {"stop", "length"}
    with pytest.raises(ConfigError, match="packing is for causal students"):
        train_student(train_config(teacher_store, tmp_path / "packed", str(folder), "packing=true"))


def test_packing_trains_a_causal_student(
    teacher_store: Path, tmp_path: Path, tiny_llama: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = train_config(
        teacher_store, tmp_path / "packed", str(tiny_llama), "packing=true", "pack_tokens=1024",
        "batch_size=4", "max_steps=4", "learning_rate=3e-3",
    )  # fmt: skip
    reported: list[tuple[str, int, int]] = []
    result = train_student(config, progress=lambda label, done, total: reported.append((label, done, total)))
    assert result.global_step == 4
    assert reported == [(f"step {n}/4", n, 4) for n in range(5)]  # the start, every optimizer step, the total
    assert "'loss'" not in capsys.readouterr().out  # with a progress hook the Trainer prints no raw dicts
    assert result.eval_loss_before is not None and result.eval_loss_after is not None
    assert result.eval_loss_after < result.eval_loss_before


def test_the_chunked_loss_trains_as_the_models_own_loss(
    teacher_store: Path, tmp_path: Path, tiny_llama: Path
) -> None:
    settings = ("packing=true", "pack_tokens=1024", "batch_size=4", "max_steps=3", "learning_rate=3e-3")
    own, chunked = (
        train_student(train_config(teacher_store, tmp_path / name, str(tiny_llama), *settings, *extra))
        for name, extra in (("own", ()), ("chunked", ("chunked_loss=true",)))
    )
    assert chunked.eval_loss_before == pytest.approx(
        own.eval_loss_before, rel=1e-6
    )  # evaluation: own forward
    assert chunked.eval_loss_after == pytest.approx(own.eval_loss_after, rel=2e-2)  # trained the same way
    assert chunked.eval_loss_after < chunked.eval_loss_before
    with pytest.raises(ConfigError, match="choose one"):
        train_student(
            train_config(teacher_store, tmp_path / "both", str(tiny_llama), "chunked_loss=true", "liger=true")
        )


def cli_train(store: Path, out: Path, student: Path, *extra: str) -> list[str]:
    return [
        "-m", "guidedcot.cli.app", "distill", "train", "--teacher-store", str(store), "--out", str(out),
        "--student", str(student), "--set", "batch_size=2", "--set", "logging_steps=1",
        "--set", "max_length=256", *extra,
    ]  # fmt: skip


def test_accelerate_launch_two_cpu_processes_trains_with_ddp(
    teacher_store: Path, tmp_path: Path, tiny_llama: Path
) -> None:
    accelerate = Path(sys.executable).with_name("accelerate")
    command = [
        # accelerate 1.15 runs one process under --cpu; --multi_gpu on a machine without CUDA starts
        # torch.distributed processes that the Trainer joins over gloo
        str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        *cli_train(teacher_store, tmp_path / "ddp", tiny_llama, "--max-steps", "3"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((tmp_path / "ddp" / "training.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 3
    assert summary["ddp_backend"] == "gloo"
    assert (tmp_path / "ddp" / "final" / "model.safetensors").exists()


def test_a_run_resumed_in_its_second_epoch_ends_with_the_weights_of_the_uninterrupted_run(
    teacher_store: Path, tmp_path: Path, tiny_llama: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resuming replays each epoch's batch order: the length-grouped order is drawn from (seed, epoch), not
    from the global RNG, which the evaluation before training moves and a resumed run sets anew (before,
    a resume inside epoch 2 trained on epoch 1's order, and any resume after an evaluation on another)."""
    from safetensors.torch import load_file

    from guidedcot.distill.order import EpochSeededLengthGroupedSampler

    epochs: list[int] = []  # the epoch of every order drawn: each epoch its own
    draw = EpochSeededLengthGroupedSampler.__iter__
    monkeypatch.setattr(
        EpochSeededLengthGroupedSampler, "__iter__", lambda self: epochs.append(self.epoch) or draw(self)
    )

    def config(out: Path) -> TrainConfig:
        return train_config(
            teacher_store, out, str(tiny_llama), "max_steps=8", "save_steps=6", "learning_rate=3e-3"
        )

    whole = train_student(config(tmp_path / "whole"))
    steps_an_epoch = -(-whole.train_examples // 2)
    assert whole.eval_examples > 0 and steps_an_epoch < 6 <= 2 * steps_an_epoch  # checkpoint-6: 2nd epoch
    assert epochs == [0, 1]
    (tmp_path / "resumed" / "checkpoints").mkdir(parents=True)
    shutil.copytree(
        tmp_path / "whole" / "checkpoints" / "checkpoint-6",
        tmp_path / "resumed" / "checkpoints" / "checkpoint-6",
    )
    reported: list[int] = []
    resumed = train_student(
        config(tmp_path / "resumed"), resume=True, progress=lambda label, done, total: reported.append(done)
    )
    assert resumed.resumed_from == "checkpoint-6" and resumed.global_step == 8
    assert reported == [6, 7, 8]  # its checkpoint's step first: the time left is timed from there
    assert epochs == [0, 1, 1]
    expected = load_file(whole.final_dir / "model.safetensors")
    got = load_file(resumed.final_dir / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(bool((expected[k] == got[k]).all()) for k in expected)
    assert resumed.eval_loss_after == whole.eval_loss_after


def test_a_killed_training_resumes_from_its_last_checkpoint(
    teacher_store: Path, tmp_path: Path, tiny_llama: Path
) -> None:
    out = tmp_path / "killed"
    args = cli_train(teacher_store, out, tiny_llama, "--max-steps", "12", "--set", "save_steps=2")
    process = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while not (out / "checkpoints" / "checkpoint-4" / "trainer_state.json").exists():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint-4 within 300 s"
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "final").exists()

    refused = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr  # never silently restarts over a run

    done = subprocess.run([sys.executable, *args, "--resume"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((out / "training.json").read_text())
    assert summary["global_step"] == 12
    assert (
        summary["resumed_from"].startswith("checkpoint-") and int(summary["resumed_from"].split("-")[1]) >= 4
    )
