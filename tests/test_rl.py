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
from guidedcot.rl.probe import ProbeRecord, probe_students

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
                "rationale_contains_gold", "seconds_rollout", "seconds_reward", "seconds_update",
                "memory_rss_gb"):  # fmt: skip
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


def test_the_heldout_curve_is_evaluate_of_the_saved_student(
    tmp_path: Path, tiny_llama: Path, shared_data: Path
) -> None:
    """The last held-out EM is `run_evaluation`'s guided EM with ``final/`` as the student, record for
    record; a dataset named without a split is held out from dev (it was read from train)."""
    from guidedcot.data.selection import select_examples
    from guidedcot.evaluate import run_evaluation
    from guidedcot.llm.hf import TransformersLanguageModel
    from guidedcot.rl.heldout import heldout_config

    config = rl_config(tmp_path, tiny_llama, "steps=2", "eval_datasets=hotpotqa", "eval_limit=3")
    result = train_rl(config, reader=scripted_reader(), data_dir=shared_data)
    logged = [
        json.loads(line) for line in (tmp_path / "rl" / "heldout" / "step-2.jsonl").read_text().splitlines()
    ]
    dev = select_examples("hotpotqa", shared_data, split="dev", limit=3).examples
    assert [r["id"] for r in logged] == [e.id for e in dev]
    student = TransformersLanguageModel(str(result.final_dir), identity="final")
    again = run_evaluation(
        heldout_config(config), reader=scripted_reader(), student=student, data_dir=shared_data
    )
    assert [r.rationale for r in again.records] == [r["rationale"] for r in logged]
    assert [r.em for r in again.records] == [r["em"] for r in logged]
    final = json.loads((result.final_dir / "guidedcot-rl.json").read_text())
    assert final["eval_em"] == sum(r["em"] for r in logged) / 3 and final["eval_n"] == 3


def test_resume_continues_the_same_run(tmp_path: Path, tiny_llama: Path, shared_data: Path) -> None:
    probing = ("probe_every=2", "probe_questions=3")
    whole = train_rl(
        rl_config(tmp_path / "a", tiny_llama, "steps=4", *probing),
        reader=scripted_reader(),
        data_dir=shared_data,
    )
    first = train_rl(
        rl_config(tmp_path / "b", tiny_llama, "steps=2", *probing),
        reader=scripted_reader(),
        data_dir=shared_data,
    )
    with pytest.raises(GuidedCotError, match="--resume"):
        train_rl(
            rl_config(tmp_path / "b", tiny_llama, "steps=4", *probing),
            reader=scripted_reader(),
            data_dir=shared_data,
        )
    reported: list[tuple[int, int]] = []
    resumed = train_rl(
        rl_config(tmp_path / "b", tiny_llama, "steps=4", *probing),
        reader=scripted_reader(),
        data_dir=shared_data,
        resume=True,
        progress=lambda label, done, total: reported.append((done, total)),
    )
    assert first.steps == 2 and resumed.resumed_from == 2
    assert reported == [(2, 4), (3, 4), (4, 4)]  # where it resumed first: the time left is timed from there
    assert [r["step"] for r in resumed.metrics] == [1, 2, 3, 4]
    for a, b in zip(whole.metrics, resumed.metrics, strict=True):
        assert a["question_ids"] == b["question_ids"]  # the same data order, nothing replayed or skipped
        assert a["example"] == b["example"]  # the same samples from the same weights
        assert a["reward_mean"] == pytest.approx(b["reward_mean"])
    # the fixed probe: before the first step, every 2 steps; the same questions each time, and a resumed
    # run's probes are the uninterrupted run's
    probes = [json.loads(line) for line in (tmp_path / "a" / "rl" / "probe.jsonl").read_text().splitlines()]
    assert [p["step"] for p in probes] == [0, 2, 4]
    assert all(p["question_ids"] == probes[0]["question_ids"] and len(p["question_ids"]) == 3 for p in probes)
    assert all(len(row) == 2 for p in probes for row in p["totals"])  # group_size rationales per question
    assert "probe_reward_mean" in whole.metrics[1] and "probe_reward_mean" not in whole.metrics[0]
    resumed_probes = (tmp_path / "b" / "rl" / "probe.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in resumed_probes] == probes
    assert list((tmp_path / "a" / "rl" / "logs" / "probe").glob("events.out.tfevents.*"))
    # a saved student probed afterwards with the run's settings pairs with the run's own probes
    config = rl_config(tmp_path / "a", tiny_llama, "steps=4", *probing)
    stored: list[ProbeRecord] = []
    before, after = probe_students(
        config, [str(tiny_llama), str(tmp_path / "a" / "rl" / "final")], reader=scripted_reader(),
        data_dir=shared_data, on_record=stored.append,
    )  # fmt: skip
    assert stored == [before, after]
    assert before.as_json() | {"label": ""} == probes[0] | {"label": ""}
    assert after.totals == probes[-1]["totals"] and after.question_ids == probes[-1]["question_ids"]


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
    with pytest.raises(ConfigError, match="'algo' must be one of ppo, grpo, rloo; got 'a2c'"):
        check_config(load_config(RLConfig, overrides=["algo=a2c"]))
    with pytest.raises(ConfigError, match="'reward' must be one of task, aspect"):
        check_config(load_config(RLConfig, overrides=["reward=accuracy"]))
    settings = load_config(RLConfig)
    settings.steps = 0  # set by hand after building, as the command line does: check_config sees it
    with pytest.raises(ConfigError, match="'steps' must be >= 1, got 0"):
        check_config(settings)
    with pytest.raises(ConfigError, match="group_size >= 2"):
        check_config(load_config(RLConfig, overrides=["algo=grpo", "group_size=1"]))


def cli_rl(out: Path, student: Path, reader: str, *extra: str) -> list[str]:
    return [
        "-m", "guidedcot.cli.app", "rl", "--algo", "grpo", "--reward", "task", "--student", str(student),
        "--reader", reader, "--out", str(out), "--set", "datasets=hotpotqa:train", "--set", "limit=8",
        "--set", "questions_per_step=2", "--set", "group_size=2", "--set", "rationale_tokens=8",
        "--set", "max_prompt_tokens=200", "--set", "minibatch_size=2", "--set", "eval_limit=1",
        "--set", "eval_datasets=hotpotqa:dev", "--set", "reader.n_ctx=1024", *extra,
    ]  # fmt: skip


def test_a_killed_rl_run_resumes_at_its_checkpoint_with_the_same_data_order(
    tmp_path: Path, tiny_llama: Path, shared_data: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from guidedcot.rl.data import step_indices

    out = tmp_path / "killed"
    args = [sys.executable, *cli_rl(out, tiny_llama, "smollm2", "--steps", "6", "--set", "save_every=2",
                                    "--set", f"cache={tmp_path / 'cache.sqlite'}")]  # fmt: skip
    env = {**os.environ, "GUIDEDCOT_DATA": str(shared_data)}
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 600
    while not (out / "checkpoints" / "step-2").exists():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint step-2 within 600 s"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "final").exists()
    refused = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    done = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from step" in done.stderr
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    from guidedcot.data.selection import select_examples

    ids = [e.id for e in select_examples("hotpotqa:train", shared_data, split="train", limit=8).examples]
    for record in records:
        assert record["question_ids"] == [ids[i] for i in step_indices(record["step"] - 1, 8, 2, 0)]
    assert (out / "final" / "config.json").exists()


def test_two_cpu_processes_share_one_reader_server(
    tmp_path: Path, tiny_llama: Path, shared_data: Path, llama_server_process
) -> None:
    import os
    import subprocess
    import sys

    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "GUIDEDCOT_DATA": str(shared_data)}
    with llama_server_process("smollm2", n_ctx=1024, n_parallel=2) as (_, url):
        command = [
            str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no",
            *cli_rl(tmp_path / "ddp", tiny_llama, url, "--steps", "2", "--set", "reader.http_model=smollm2",
                    "--set", "cache=none", "--set", "probe_every=2", "--set", "probe_questions=2"),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
        assert done.returncode == 0, done.stderr[-4000:]
        alone = [sys.executable, *cli_rl(tmp_path / "one", tiny_llama, url, "--steps", "2", "--set",
                                         "reader.http_model=smollm2", "--set", "cache=none")]  # fmt: skip
        single = subprocess.run(alone, capture_output=True, text=True, env=env, timeout=900, check=False)
        assert single.returncode == 0, single.stderr[-4000:]
    records = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in records] == [2, 2]
    # the learning rate follows one schedule whatever the process count (it once stepped once per process)
    one = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in one] == [1, 1]
    assert [r["learning_rate"] for r in records] == pytest.approx([r["learning_rate"] for r in one])
    assert records[0]["learning_rate"] == pytest.approx(1e-6)  # half of 2e-6 after half the updates
    assert len(records[0]["question_ids"]) == 2  # the step's 2 questions, one per process
    assert (tmp_path / "ddp" / "checkpoints" / "step-2" / "rng-1.pt").exists()  # every rank's RNG saved
    probes = [json.loads(line) for line in (tmp_path / "ddp" / "probe.jsonl").read_text().splitlines()]
    assert [p["step"] for p in probes] == [0, 2]  # probed by the main process while the other waited
    assert "probe_reward_mean" in records[1]


def test_eval_steps_checkpoints_are_kept_and_the_best_is_exported_as_a_student(
    tmp_path: Path, tiny_llama: Path, shared_data: Path
) -> None:
    import subprocess
    import sys

    import torch
    from transformers import AutoModelForCausalLM

    from guidedcot.rl.export import chosen_step, selection_curve

    config = rl_config(tmp_path, tiny_llama, "steps=5", "save_every=1", "eval_every=2")
    train_rl(config, reader=scripted_reader(), data_dir=shared_data)
    run = tmp_path / "rl"
    # the newest two and every held-out eval step (2, 4 and the end): the curve can choose any of them
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step-2", "step-4", "step-5"]
    curve = selection_curve(run)
    assert sorted(curve) == [2, 4, 5]
    best = chosen_step(curve)
    assert curve[best] == max(curve.values()) and all(curve[s] < curve[best] for s in curve if s > best)

    out = tmp_path / "step-2-student"
    done = subprocess.run(
        [sys.executable, "-m", "guidedcot.cli.app", "rl", "export", str(run), "--step", "2", "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "step 2: held-out EM" in done.stdout and "step 5: held-out EM" in done.stdout
    exported = AutoModelForCausalLM.from_pretrained(out)
    saved = torch.load(run / "checkpoints" / "step-2" / "trainable.pt", weights_only=True)
    weights = dict(exported.named_parameters())
    for name, tensor in saved.items():
        assert torch.equal(weights[name.removeprefix("model.")], tensor), name
    final = AutoModelForCausalLM.from_pretrained(run / "final")
    assert not all(torch.equal(p, q) for p, q in zip(exported.parameters(), final.parameters(), strict=True))
    assert json.loads((out / "guidedcot-rl.json").read_text())["step"] == 2

    again = subprocess.run(
        [sys.executable, "-m", "guidedcot.cli.app", "rl", "export", str(run), "--step", "3", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert again.returncode == 2 and "no checkpoint of step 3" in again.stderr
