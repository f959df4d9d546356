"""The RL loop end to end: every algorithm on a tiny random Llama (and a random T5) with a scripted
reader, checkpoints and resume, a 2-process run, and SIGKILL + resume through the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from guidedcot.config import load_config
from guidedcot.errors import ConfigError, GuidedCotError
from guidedcot.llm import CachedLanguageModel, FakeLanguageModel, GenerationRequest
from guidedcot.llm.fake import request_text
from guidedcot.rl import RLConfig, check_config, train_rl

pytestmark = pytest.mark.slow


def scripted_reader() -> CachedLanguageModel:
    """Reads a rationale as right when it is long (> 8 words): a reward the policy can move."""

    def answer(request: GenerationRequest) -> str:
        text = request_text(request)
        rationale = text.split("Rationale: ", 1)[1].split("\n", 1)[0] if "Rationale: " in text else ""
        return "yes" if len(rationale.split()) > 8 else "unknown"

    def judge(request: GenerationRequest) -> dict[str, float]:
        return {"yes": 0.7, "no": 0.3}

    return CachedLanguageModel(FakeLanguageModel(answer, name="scripted", choices=judge))


def rl_config(tmp_path: Path, student: Path, *overrides: str) -> RLConfig:
    config = load_config(
        RLConfig,
        overrides=[
            "datasets=hotpotqa:train", "limit=6", "questions_per_step=2", "group_size=2", "steps=3",
            "rationale_tokens=12", "max_prompt_tokens=256", "minibatch_size=2", "learning_rate=1e-4",
            "save_every=2", "eval_limit=2", "eval_datasets=hotpotqa:dev", "cache=none", *overrides,
        ],
    )  # fmt: skip
    config.student, config.out = str(student), str(tmp_path / "rl")
    return config


@pytest.mark.parametrize(("algo", "reward"), [("ppo", "task"), ("grpo", "task+aspect"), ("rloo", "gated")])
def test_every_algorithm_runs_logs_and_saves(
    algo: str, reward: str, tmp_path: Path, tiny_llama: Path, shared_data: Path
) -> None:
    config = rl_config(tmp_path, tiny_llama, f"algo={algo}", f"reward={reward}", "eval_every=2")
    result = train_rl(config, reader=scripted_reader(), data_dir=shared_data)
    assert result.steps == 3 and len(result.metrics) == 3
    record = result.metrics[-1]
    for key in ("reward_mean", "kl", "entropy", "clip_fraction", "approx_kl", "rationale_tokens",
                "rationale_contains_gold", "seconds_rollout", "seconds_reward", "seconds_update"):  # fmt: skip
        assert key in record and math.isfinite(record[key]), key
    if algo == "ppo":
        assert "explained_variance" in record and "value_loss" in record
    if reward != "task":
        assert any(k.startswith("reward_aspect") for k in record)
    assert "eval_em" in result.metrics[1]  # eval_every=2
    out = tmp_path / "rl"
    assert (out / "final" / "config.json").exists() and (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "final" / "value_head.pt").exists() == (algo == "ppo")
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["step-2", "step-3"]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    assert list((out / "logs").glob("events.out.tfevents.*"))


def test_resume_continues_the_same_run(tmp_path: Path, tiny_llama: Path, shared_data: Path) -> None:
    whole = train_rl(
        rl_config(tmp_path / "a", tiny_llama, "steps=4"), reader=scripted_reader(), data_dir=shared_data
    )
    first = train_rl(
        rl_config(tmp_path / "b", tiny_llama, "steps=2"), reader=scripted_reader(), data_dir=shared_data
    )
    with pytest.raises(GuidedCotError, match="--resume"):
        train_rl(
            rl_config(tmp_path / "b", tiny_llama, "steps=4"), reader=scripted_reader(), data_dir=shared_data
        )
    resumed = train_rl(
        rl_config(tmp_path / "b", tiny_llama, "steps=4"),
        reader=scripted_reader(),
        data_dir=shared_data,
        resume=True,
    )
    assert first.steps == 2 and resumed.resumed_from == 2
    assert [r["step"] for r in resumed.metrics] == [1, 2, 3, 4]
    for a, b in zip(whole.metrics, resumed.metrics, strict=True):
        assert a["question_ids"] == b["question_ids"]  # the same data order, nothing replayed or skipped
        assert a["example"] == b["example"]  # the same samples from the same weights
        assert a["reward_mean"] == pytest.approx(b["reward_mean"])


def test_seq2seq_student_runs(tmp_path: Path, shared_data: Path, smollm2_tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    model = T5ForConditionalGeneration(
        T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=8, num_layers=1, num_heads=2,
                 decoder_start_token_id=tokenizer.pad_token_id or 0, pad_token_id=tokenizer.pad_token_id or 0,
                 eos_token_id=tokenizer.eos_token_id)
    )  # fmt: skip
    folder = tmp_path / "t5"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    for algo in ("grpo", "ppo"):
        config = rl_config(tmp_path / algo, folder, f"algo={algo}", "steps=2")
        result = train_rl(config, reader=scripted_reader(), data_dir=shared_data)
        assert result.steps == 2 and math.isfinite(result.metrics[-1]["reward_mean"])


def test_bad_settings_are_refused_before_loading() -> None:
    with pytest.raises(ConfigError, match="unknown algo"):
        check_config(load_config(RLConfig, overrides=["algo=a2c"]))
    with pytest.raises(ConfigError, match="group_size >= 2"):
        check_config(load_config(RLConfig, overrides=["algo=grpo", "group_size=1"]))
