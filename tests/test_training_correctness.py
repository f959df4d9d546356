"""Training correctness (issue 22): each defect found in review, pinned by a test that fails on the code
before its fix, and fast tests of RL pieces that only slow runs covered before. Models are tiny and
random; the tokenizer is a small byte-level BPE laid out as Qwen2's (id 0 is the real token ``!``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from guidedcot.config import load_config
from guidedcot.data.selection import select_examples
from guidedcot.errors import ConfigError, GuidedCotError
from guidedcot.llm import FakeLanguageModel, GenerationRequest
from guidedcot.llm.fake import request_text
from guidedcot.llm.hf import TransformersLanguageModel
from guidedcot.models.hf import decoding_config, generate_with, stop_token_ids
from guidedcot.pipeline.requests import template_request
from guidedcot.prompts import build_templates
from guidedcot.rl import RLConfig, train_rl
from guidedcot.rl.algorithms import algorithm_for
from guidedcot.rl.core import explained_variance, ppo_advantages
from guidedcot.rl.policy import PolicyModel, RolloutTensors
from guidedcot.rl.rollout import (
    StaticRollouts,
    _until_stop,
    decode_responses,
    rollout_cache_kind,
    sample_responses,
)
from guidedcot.rl.update import StepBatch, update
from guidedcot.runs import MetricsLog
from guidedcot.student import encode_prompt, encode_rationale_example

STUDENT = build_templates()["student"]
RATIONALE = "Both films are American, so the answer is yes."


@pytest.fixture(scope="module")
def tokenizer(qwen_like_tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_like_tokenizer_dir)


def tiny_llama(tokenizer: Any, seed: int = 0, **config: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    settings = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
                "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id, **config}  # fmt: skip
    return LlamaForCausalLM(LlamaConfig(**settings)).eval()


def tiny_t5(tokenizer: Any, dropout: float) -> Any:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                      dropout_rate=dropout, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id)  # fmt: skip
    return T5ForConditionalGeneration(config).eval()


@pytest.fixture(scope="module")
def long_slots(shared_data: Path) -> dict[str, str]:
    """A real question with its full distractor context (ten paragraphs)."""
    from guidedcot.data.context import build_context

    example = select_examples("hotpotqa:dev", shared_data, split="dev", limit=1).examples[0]
    return {"question": example.question, "context": build_context(example, "distractor").text}


def prompt_ids(tokenizer: Any, questions: list[str]) -> list[list[int]]:
    return [
        encode_prompt(tokenizer, STUDENT, {"question": q, "context": "Paris is in France."}, seq2seq=False,
                      max_length=None)
        for q in questions
    ]  # fmt: skip


# --- defect 2: a long prompt lost its chat header and question -----------------------------------


def test_an_over_long_causal_prompt_keeps_its_head_question_and_instruction(
    tokenizer: Any, long_slots: dict[str, str]
) -> None:
    full = encode_prompt(tokenizer, STUDENT, long_slots, seq2seq=False, max_length=None)
    limit = len(full) // 3
    ids = encode_prompt(tokenizer, STUDENT, long_slots, seq2seq=False, max_length=limit)
    assert limit - 8 <= len(ids) <= limit
    text = tokenizer.decode(ids)
    assert text.startswith(f"<|im_start|>user\nQuestion: {long_slots['question']}\nContext:\n")
    assert text.endswith("how they connect.<|im_end|>\n<|im_start|>assistant\n")
    kept = text.split("Context:\n", 1)[1].split("\n\nExplain", 1)[0]
    assert 0 < len(kept) < len(long_slots["context"]) and long_slots["context"].startswith(kept)


def test_an_over_long_seq2seq_prompt_keeps_its_question_and_instruction(
    tokenizer: Any, long_slots: dict[str, str]
) -> None:
    full = encode_prompt(tokenizer, STUDENT, long_slots, seq2seq=True, max_length=None)
    ids = encode_prompt(tokenizer, STUDENT, long_slots, seq2seq=True, max_length=len(full) // 3)
    text = tokenizer.decode(ids)
    assert text.startswith(f"Question: {long_slots['question']}") and text.endswith("how they connect.")


def test_a_prompt_that_cannot_fit_without_its_context_is_refused(
    tokenizer: Any, long_slots: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match="without any context"):
        encode_prompt(tokenizer, STUDENT, long_slots, seq2seq=False, max_length=20)


def test_a_training_example_masks_its_prompt_and_keeps_question_and_rationale(
    tokenizer: Any, long_slots: dict[str, str]
) -> None:
    target = tokenizer(RATIONALE, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    full = encode_rationale_example(tokenizer, STUDENT, long_slots, RATIONALE, seq2seq=False, max_length=None)
    limit = len(full["input_ids"]) // 3
    example = encode_rationale_example(
        tokenizer, STUDENT, long_slots, RATIONALE, seq2seq=False, max_length=limit
    )
    ids, labels = example["input_ids"], example["labels"]
    assert len(ids) == len(labels) == len(example["attention_mask"]) <= limit
    prompt_length = labels.count(-100)
    assert labels[:prompt_length] == [-100] * prompt_length and labels[prompt_length:] == target
    assert ids[prompt_length:] == target
    assert tokenizer.decode(ids[:prompt_length]).startswith(
        f"<|im_start|>user\nQuestion: {long_slots['question']}"
    )
    # without a limit, the training prompt is exactly the prompt the student gets at inference
    model = TransformersLanguageModel("", identity="tiny", model=tiny_llama(tokenizer), tokenizer=tokenizer)
    rendered = model.render(template_request(STUDENT, long_slots, max_new_tokens=8))
    untouched = full["labels"].count(-100)
    assert full["input_ids"][:untouched] == tokenizer(rendered, add_special_tokens=False)["input_ids"]


def test_rl_prompts_over_the_limit_keep_their_questions(tokenizer: Any, shared_data: Path) -> None:
    from guidedcot.rl.data import load_questions
    from guidedcot.rl.inputs import student_prompts

    questions = load_questions(["2wiki:dev[100:110]"], shared_data, limit=None, context_mode="distractor",
                               max_context_tokens=1024, count_tokens=None)  # fmt: skip
    config = RLConfig(max_prompt_tokens=160)
    for question, ids in zip(
        questions, student_prompts(tokenizer, config, questions, seq2seq=False), strict=True
    ):
        assert len(ids) <= 160
        assert f"Question: {question.question}\n" in tokenizer.decode(ids)


# --- defect 3: dropout on in the update, off in the rollout --------------------------------------


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_the_policy_has_no_dropout_so_update_and_rollout_log_probs_agree(tokenizer: Any, kind: str) -> None:
    seq2seq = kind == "t5"
    model = tiny_t5(tokenizer, dropout=0.1) if seq2seq else tiny_llama(tokenizer, attention_dropout=0.1)
    policy = PolicyModel(model, seq2seq=seq2seq, with_value_head=False)
    rollout = sample_responses(model, tokenizer, prompt_ids(tokenizer, ["Where is Paris?"] * 2), seq2seq=seq2seq,
                               max_new_tokens=6, temperature=1.0, top_p=1.0, generator_seed=1, device="cpu")  # fmt: skip
    with torch.no_grad():
        rollout_logp = policy.eval()(**rollout.as_kwargs())[0]
        update_logp = policy.train()(**rollout.as_kwargs())[0]
    torch.testing.assert_close(update_logp, rollout_logp)


# --- defect 4: pads decoded as id 0 ("!") ---------------------------------------------------------


def test_rationales_are_decoded_without_their_pads_turning_into_bangs(tokenizer: Any) -> None:
    words = tokenizer("Paris is the capital", add_special_tokens=False)["input_ids"]
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    response = torch.tensor([[*words, eos, pad, pad, pad]])
    mask = torch.tensor([[1] * (len(words) + 1) + [0, 0, 0]])
    rollout = RolloutTensors(torch.tensor([[5, 6]]), torch.ones(1, 2, dtype=torch.long), response, mask)
    assert decode_responses(tokenizer, rollout) == ["Paris is the capital"]
    # the decoding before the fix: pad positions zeroed, and id 0 is "!"
    assert tokenizer.batch_decode(response * mask, skip_special_tokens=True)[0].endswith("!!!")


# --- defect 5: log-probs ignored the sampling temperature -----------------------------------------


def test_log_probs_are_those_of_the_distribution_rollouts_sample_from(tokenizer: Any) -> None:
    model = tiny_llama(tokenizer)
    prompts = prompt_ids(tokenizer, ["Where is Paris?", "Which river runs through the capital of France?"])
    width = max(map(len, prompts))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts])
    attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    config = decoding_config(model, tokenizer, max_new_tokens=6, temperature=0.7)
    config.output_scores, config.return_dict_in_generate = True, True
    torch.manual_seed(3)
    output = generate_with(model, config, input_ids=ids, attention_mask=attention)
    response = output.sequences[:, width:]
    mask = _until_stop(response, stop_token_ids(model, tokenizer))
    sampler = torch.stack([torch.log_softmax(s.float(), dim=-1) for s in output.scores], dim=1)
    expected = sampler.gather(-1, response[..., None])[..., 0] * mask
    policy = PolicyModel(model, seq2seq=False, with_value_head=False, temperature=0.7)
    rollout = RolloutTensors(ids, attention, torch.where(mask.bool(), response, tokenizer.pad_token_id), mask)
    with torch.no_grad():
        logp = policy(**rollout.as_kwargs())[0] * mask
    torch.testing.assert_close(logp, expected, atol=1e-4, rtol=1e-4)


# --- defect 6: rollouts inherited a hub model's generation settings -------------------------------


def test_rollouts_ignore_a_hub_models_own_generation_settings(tokenizer: Any) -> None:
    prompts = prompt_ids(tokenizer, ["Where is Paris?"] * 4)

    def sample(model: Any) -> torch.Tensor:
        return sample_responses(model, tokenizer, prompts, seq2seq=False, max_new_tokens=12, temperature=1.0,
                                top_p=1.0, generator_seed=5, device="cpu").response_ids  # fmt: skip

    plain = tiny_llama(tokenizer)
    hub = tiny_llama(tokenizer)  # the same weights, shipped with Qwen2.5-Instruct-like extras
    hub.generation_config.repetition_penalty, hub.generation_config.top_k = 5.0, 3
    hub.generation_config.no_repeat_ngram_size = 1
    assert torch.equal(sample(hub), sample(plain))
    assert hub.generation_config.repetition_penalty == 5.0  # put back after the call
    config = decoding_config(hub, tokenizer, max_new_tokens=4, temperature=1.0)
    assert (config.top_k, config.repetition_penalty, config.no_repeat_ngram_size) == (0, 1.0, 0)


def test_rollouts_and_evaluation_stop_at_the_same_tokens(tokenizer: Any) -> None:
    model = tiny_llama(tokenizer)
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    model.generation_config.eos_token_id = [eos, im_start]  # a model whose EOS list has two entries
    assert stop_token_ids(model, tokenizer) == [eos, im_start, pad]
    rows = torch.tensor([[5, im_start, 7, 8], [5, 6, pad, 9], [5, 6, 7, 8]])
    assert _until_stop(rows, stop_token_ids(model, tokenizer)).tolist() == [
        [1, 1, 0, 0],
        [1, 1, 1, 0],
        [1] * 4,
    ]


# --- RL pieces that only slow runs covered ----------------------------------------------------------


def test_ppo_advantages_by_hand() -> None:
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    kl = torch.tensor([[0.1, 0.2, 0.0], [0.0, 0.1, 0.3]]) * mask
    values = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.1, 0.0]])
    advantages, returns = ppo_advantages(
        torch.tensor([1.0, 0.0]), kl, values, mask, 0.1, gamma=1.0, lam=1.0, whiten_rewards=False
    )
    # token rewards -0.1 * KL, the score added at each row's last real token; returns = reward-to-go
    rewards = torch.tensor([[-0.01, 0.98, 0.0], [0.0, -0.01, -0.03]])
    expected_returns = torch.flip(torch.cumsum(torch.flip(rewards, [1]), 1), [1]) * mask
    torch.testing.assert_close(returns * mask, expected_returns)
    raw = (expected_returns - values) * mask
    mean = raw.sum() / mask.sum()
    std = (((raw - mean) ** 2 * mask).sum() / mask.sum()).sqrt()
    torch.testing.assert_close(advantages, (raw - mean) / std * mask, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("values", "returns", "expected"),
    [
        ([[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]], 1.0),  # a perfect critic
        ([[2.0, 2.0, 2.0]], [[1.0, 2.0, 3.0]], 0.0),  # the mean return: explains nothing
        ([[3.0, 2.0, 1.0]], [[1.0, 2.0, 3.0]], -3.0),  # worse than the mean
        ([[0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]], math.nan),  # returns with no variance
    ],
)
def test_explained_variance(values: list[list[float]], returns: list[list[float]], expected: float) -> None:
    got = explained_variance(torch.tensor(values), torch.tensor(returns), torch.ones(1, 3))
    assert math.isnan(got) if math.isnan(expected) else got == pytest.approx(expected)


@pytest.mark.parametrize(("target_kl", "epochs_run"), [(1e-9, 1), (None, 3)])
def test_update_stops_its_epochs_early_past_the_target_kl(
    tokenizer: Any, target_kl: float | None, epochs_run: int
) -> None:
    from accelerate import Accelerator

    model = tiny_llama(tokenizer)
    policy = PolicyModel(model, seq2seq=False, with_value_head=False)
    rollout = sample_responses(model, tokenizer, prompt_ids(tokenizer, ["Where is Paris?"] * 4), seq2seq=False,
                               max_new_tokens=6, temperature=1.0, top_p=1.0, generator_seed=2, device="cpu")  # fmt: skip
    with torch.no_grad():
        old_logp = policy(**rollout.as_kwargs())[0]
    mask = rollout.response_mask.float()
    config = RLConfig(epochs_per_step=3, minibatch_size=2, target_kl=target_kl, learning_rate=1e-2)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    advantages = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]]) * mask
    batch = StepBatch(rollout, old_logp, old_logp, None, advantages, None, mask)
    stats = update(policy.train(), optimizer, scheduler, Accelerator(cpu=True), batch, kl_coef=0.05, config=config,
                   step=0, algorithm=algorithm_for(config))  # fmt: skip
    assert stats["epochs_run"] == epochs_run
    assert stats["approx_kl"] > 0 and math.isfinite(stats["policy_loss"])


def test_metrics_log_keeps_only_the_steps_a_resumed_run_does_not_repeat(tmp_path: Path) -> None:
    lines = [json.dumps({"step": s, "reward_mean": s / 10}) for s in (1, 2, 3, 4)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 5, "rew', encoding="utf-8")
    log = MetricsLog(tmp_path, enabled=True, keep_through=2)
    assert [r["step"] for r in log.records] == [1, 2]
    log.write({"step": 3, "reward_mean": 0.5})
    log.close()
    written = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert written == [
        {"step": 1, "reward_mean": 0.1},
        {"step": 2, "reward_mean": 0.2},
        {"step": 3, "reward_mean": 0.5},
    ]


def test_a_corrupt_line_inside_metrics_jsonl_is_refused_not_cut_with_every_step_after_it(
    tmp_path: Path,
) -> None:
    from guidedcot.errors import DataError

    lines = [json.dumps({"step": s}) for s in (1, 2, 3)]
    lines.insert(1, '{"step": 2, "rew')  # a damaged line that is not the last one
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"metrics.jsonl, line 2"):
        MetricsLog(tmp_path, enabled=True, keep_through=3)
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 4  # the file as it was


# --- speed paths (issue 24) that must compute what the plain path computes ---------------------------


@pytest.mark.parametrize("kind", ["llama", "llama-value-head", "t5"])
def test_rows_that_share_a_prompt_read_it_once_with_the_same_log_probs_values_and_gradients(
    tokenizer: Any, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import guidedcot.rl.policy as policy_module

    seq2seq = kind == "t5"
    model = tiny_t5(tokenizer, dropout=0.0) if seq2seq else tiny_llama(tokenizer)
    policy = PolicyModel(model, seq2seq=seq2seq, with_value_head=kind == "llama-value-head")
    questions = ["Where is Paris?"] * 3 + ["Which river runs through the capital of France, and where?"] * 2
    rollout = sample_responses(model, tokenizer, prompt_ids(tokenizer, [*questions, "Who?"]), seq2seq=seq2seq,
                               max_new_tokens=7, temperature=1.0, top_p=1.0, generator_seed=4, device="cpu")  # fmt: skip
    rollout.response_mask[1, 4:] = 0  # a row that stopped early: pads after it
    rollout.response_ids[1, 4:] = tokenizer.pad_token_id
    if seq2seq:
        rollout.decoder_input_ids[1, 5:] = tokenizer.pad_token_id
        rollout.decoder_mask[1, 5:] = 0
    weights = torch.randn(rollout.response_ids.shape, generator=torch.Generator().manual_seed(0))

    def outputs_and_gradients() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        policy.zero_grad()
        logp, entropy, values = policy(**rollout.as_kwargs())
        outputs = [logp, entropy] + ([values] if values is not None else [])
        loss = (logp * weights * rollout.response_mask).sum() + (values.sum() if values is not None else 0)
        loss.backward()
        grads = [p.grad.clone() for p in policy.parameters() if p.grad is not None]
        return [o.detach() * rollout.response_mask for o in outputs], grads

    shared = outputs_and_gradients()
    calls: list[int] = []
    distinct = policy_module._distinct_prompts
    monkeypatch.setattr(
        policy_module,
        "_distinct_prompts",
        lambda ids, mask: calls.append(distinct(ids, mask)[0].shape[0]) or distinct(ids, mask),
    )
    outputs_and_gradients()
    assert calls == [3]  # 6 rows, 3 distinct prompts: the shared path ran above
    monkeypatch.setattr(  # every row its own prompt: one full pass per row, the plain path
        policy_module, "_distinct_prompts",
        lambda ids, mask: (torch.cat([ids, mask], dim=1), torch.arange(ids.shape[0])),
    )  # fmt: skip
    plain = outputs_and_gradients()
    for got, expected in zip(shared[0] + shared[1], plain[0] + plain[1], strict=True):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_rollouts_read_a_shared_prompt_once_and_sample_the_same_rationales(
    tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import guidedcot.rl.rollout as rollout_module

    model = tiny_llama(tokenizer)
    prompts = prompt_ids(
        tokenizer, ["Where is Paris?"] * 3 + ["Which river runs through Paris?"] * 2 + ["Who?"]
    )

    def sample() -> RolloutTensors:
        return sample_responses(model, tokenizer, prompts, seq2seq=False, max_new_tokens=12, temperature=1.0,
                                top_p=1.0, generator_seed=5, device="cpu")  # fmt: skip

    prefilled: list[int] = []
    original = rollout_module._shared_prefill
    monkeypatch.setattr(
        rollout_module, "_shared_prefill",
        lambda m, ids, mask: (cache := original(m, ids, mask)) and (prefilled.append(ids.shape[0]) or cache),
    )  # fmt: skip
    shared = sample()
    assert prefilled == [6]  # the prefilled cache (3 distinct prompts) was used
    monkeypatch.setattr(rollout_module, "_shared_prefill", lambda *_: None)
    plain = sample()
    torch.testing.assert_close(shared.response_ids, plain.response_ids)
    torch.testing.assert_close(shared.response_mask, plain.response_mask)
    # and the cache it continues from is the one a pass over every row's prompt leaves
    from transformers import DynamicCache

    ids, mask = plain.prompt_ids[:, :-1], plain.prompt_mask[:, :-1]
    expected = DynamicCache(config=model.config)
    with torch.no_grad():
        got = original(model, plain.prompt_ids, plain.prompt_mask)
        model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(dim=1) - 1).clamp(min=0),
              past_key_values=expected, use_cache=True)  # fmt: skip
    for mine, theirs in zip(got.layers, expected.layers, strict=True):
        torch.testing.assert_close(mine.keys, theirs.keys, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(mine.values, theirs.values, atol=1e-5, rtol=1e-4)


def stopping_llama(tokenizer: Any) -> Any:
    """A tiny Llama whose EOS logit is large either way, so some rows stop within a few tokens."""
    model = tiny_llama(tokenizer)
    with torch.no_grad():
        model.lm_head.weight[tokenizer.eos_token_id] *= 40
    return model


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 0.9), (0.0, 1.0)])
def test_static_rollouts_sample_what_generate_samples(
    tokenizer: Any, temperature: float, top_p: float
) -> None:
    model = stopping_llama(tokenizer)
    prompts = prompt_ids(
        tokenizer, ["Where is Paris?"] * 3 + ["Which river runs through Paris?"] * 2 + ["Who?"]
    )
    settings = {"max_new_tokens": 12, "temperature": temperature, "top_p": top_p}
    static = StaticRollouts(
        model, tokenizer, rows=6, max_prompt_tokens=max(map(len, prompts)) + 5, **settings
    )
    for seed in (5, 6):
        expected = sample_responses(model, tokenizer, prompts, seq2seq=False, generator_seed=seed, device="cpu",
                                    **settings)  # fmt: skip
        got = static.sample(prompts, generator_seed=seed)  # the same object twice: its cache is reset
        for name in ("prompt_ids", "prompt_mask", "response_ids", "response_mask"):
            torch.testing.assert_close(getattr(got, name), getattr(expected, name), rtol=0, atol=0)
    lengths = got.response_mask.sum(dim=1)
    if temperature == 1.0:  # rows stop at different steps, and the batch ends before max_new_tokens
        assert lengths.min() < lengths.max() < 12, lengths


def test_static_rollouts_sample_from_the_weights_of_the_last_sync(tokenizer: Any) -> None:
    model = stopping_llama(tokenizer)
    prompts = prompt_ids(tokenizer, ["Where is Paris?"] * 2 + ["Who?"] * 2)
    settings = {"max_new_tokens": 10, "temperature": 1.0, "top_p": 1.0}
    static = StaticRollouts(model, tokenizer, rows=4, max_prompt_tokens=max(map(len, prompts)), **settings)
    before = static.sample(prompts, generator_seed=3).response_ids
    with torch.no_grad():  # an optimizer step, in place
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
    torch.testing.assert_close(
        static.sample(prompts, generator_seed=3).response_ids, before
    )  # not synced yet
    static.sync()
    expected = sample_responses(
        model, tokenizer, prompts, seq2seq=False, generator_seed=3, device="cpu", **settings
    )
    assert not torch.equal(expected.response_ids, before)
    torch.testing.assert_close(static.sample(prompts, generator_seed=3).response_ids, expected.response_ids)
    with pytest.raises(ValueError, match="built for 4 rows"):
        static.sample(prompts[:3], generator_seed=3)
    with pytest.raises(ValueError, match="longer than max_prompt_tokens"):
        static.sample([[*p, *p] for p in prompts], generator_seed=3)


def test_update_minibatches_hold_whole_groups_so_their_prompts_are_shared(tokenizer: Any) -> None:
    from guidedcot.rl.update import minibatch_order

    order = minibatch_order(12, group_size=4, minibatch_size=8, generator=torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(12))
    groups = [sorted(order[i : i + 4].tolist()) for i in range(0, 12, 4)]
    assert all(g == list(range(g[0], g[0] + 4)) and g[0] % 4 == 0 for g in groups)
    assert sorted(
        minibatch_order(6, group_size=4, minibatch_size=3, generator=torch.Generator()).tolist()
    ) == list(range(6))  # no whole groups fit a minibatch: rows are shuffled one by one


# --- one GRPO step on a tiny random Llama, and resume checks ------------------------------------------


def scripted_reader() -> FakeLanguageModel:
    """Reads a rationale as right when it is long (> 4 words)."""

    def answer(request: GenerationRequest) -> str:
        text = request_text(request)
        rationale = text.split("Rationale: ", 1)[1].split("\n", 1)[0] if "Rationale: " in text else ""
        return "yes" if len(rationale.split()) > 4 else "unknown"

    return FakeLanguageModel(answer, name="scripted")


@pytest.fixture(scope="module")
def tiny_student(tokenizer: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-qwen-like-llama")
    tiny_llama(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def grpo_config(out: Path, student: Path, *overrides: str) -> RLConfig:
    config = load_config(
        RLConfig,
        overrides=["algo=grpo", "datasets=hotpotqa:train", "limit=4", "questions_per_step=2", "group_size=2",
                   "steps=1", "rationale_tokens=8", "minibatch_size=2", "epochs_per_step=1", "learning_rate=1e-3",
                   "eval_limit=0", "cache=none", "temperature=0.7", *overrides],
    )  # fmt: skip
    config.student, config.out = str(student), str(out)
    return config


def test_one_grpo_step_on_a_tiny_llama_logs_its_schedule_and_refuses_another_algo_on_resume(
    tmp_path: Path, tiny_student: Path, shared_data: Path
) -> None:
    out = tmp_path / "rl"
    result = train_rl(
        grpo_config(out, tiny_student, "steps=2"), reader=scripted_reader(), data_dir=shared_data
    )
    first, second = result.metrics
    for key in ("reward_mean", "kl", "entropy", "approx_kl", "learning_rate", "seconds_rollout"):
        assert math.isfinite(first[key]), key
    # one update a step, linear decay to 0 over the run's 2 updates
    assert (first["learning_rate"], second["learning_rate"]) == pytest.approx((5e-4, 0.0))
    assert json.loads((out / "checkpoints" / "step-2" / "state.json").read_text())["algo"] == "grpo"
    with pytest.raises(GuidedCotError, match="algo=grpo"):
        train_rl(grpo_config(out, tiny_student, "algo=ppo", "steps=3"), reader=scripted_reader(),
                 data_dir=shared_data, resume=True)  # fmt: skip


def test_rl_with_static_rollouts_trains_on_the_samples_generate_would_draw(
    tmp_path: Path, tiny_student: Path, shared_data: Path
) -> None:
    runs = {
        cache: train_rl(
            grpo_config(tmp_path / cache, tiny_student, "steps=2", "bf16=false", f"rollout_cache={cache}"),
            reader=scripted_reader(), data_dir=shared_data,
        ).metrics
        for cache in ("dynamic", "static")
    }  # fmt: skip
    for dynamic, static in zip(
        runs["dynamic"], runs["static"], strict=True
    ):  # step 2 samples after an update
        for key in ("reward_mean", "rationale_tokens", "rationale_words", "kl", "entropy", "approx_kl"):
            assert static[key] == pytest.approx(dynamic[key], rel=1e-5, abs=1e-7), key
    with pytest.raises(GuidedCotError, match="rollout_cache"):
        train_rl(grpo_config(tmp_path / "x", tiny_student, "rollout_cache=paged"), reader=scripted_reader(),
                 data_dir=shared_data)  # fmt: skip


@pytest.mark.parametrize(
    ("choice", "seq2seq", "cuda", "kind"),
    [
        ("auto", False, True, "static"),  # a causal student on a GPU: the 8x rollouts
        ("auto", False, False, "dynamic"),  # the CPU: static is not measured faster there
        ("auto", True, True, "dynamic"),  # a seq2seq student has no static path
        ("dynamic", False, True, "dynamic"),
        ("static", False, False, "static"),
    ],
)
def test_rollout_cache_auto_is_static_only_for_a_causal_student_on_a_gpu(
    choice: str, seq2seq: bool, cuda: bool, kind: str
) -> None:
    assert rollout_cache_kind(choice, seq2seq=seq2seq, cuda=cuda) == kind


def test_a_static_rollout_cache_for_a_seq2seq_student_is_refused() -> None:
    with pytest.raises(ConfigError, match="rollout_cache static needs a causal student"):
        rollout_cache_kind("static", seq2seq=True, cuda=True)


def test_a_checkpoint_without_the_value_head_this_run_trains_is_refused(
    tmp_path: Path, tiny_student: Path, shared_data: Path
) -> None:
    out = tmp_path / "rl"
    train_rl(grpo_config(out, tiny_student), reader=scripted_reader(), data_dir=shared_data)
    state_file = out / "checkpoints" / "step-1" / "state.json"
    state = json.loads(state_file.read_text())
    del state["algo"]  # as a checkpoint written before the algorithm was recorded
    state_file.write_text(json.dumps(state))
    with pytest.raises(GuidedCotError, match="lacks value_head"):
        train_rl(grpo_config(out, tiny_student, "algo=ppo", "steps=2"), reader=scripted_reader(),
                 data_dir=shared_data, resume=True)  # fmt: skip


def test_evaluation_decodes_greedily_without_the_hub_models_settings(tokenizer: Any) -> None:
    """The transformers backend (evaluation's student) decodes under the same rule as rollouts."""
    from guidedcot.llm.types import chat_request

    request = chat_request((("user", "Where is Paris?"),), max_new_tokens=10)

    def greedy(model: Any) -> str:
        backend = TransformersLanguageModel(
            "", identity="tiny", model=model, tokenizer=tokenizer, device="cpu"
        )
        return backend.generate([request])[0].text

    hub = tiny_llama(tokenizer)
    hub.generation_config.repetition_penalty, hub.generation_config.no_repeat_ngram_size = 5.0, 1
    assert greedy(hub) == greedy(tiny_llama(tokenizer))
    assert hub.generation_config.repetition_penalty == 5.0


def test_the_default_rl_folder_is_the_one_its_help_names(
    tmp_path: Path, tiny_student: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import fields

    monkeypatch.chdir(tmp_path)
    config = grpo_config(tmp_path, tiny_student)
    config.out = None
    result = train_rl(config, reader=scripted_reader(), data_dir=shared_data)
    assert result.final_dir.resolve() == (tmp_path / "runs" / "rl" / "final").resolve()
    help_text = next(f for f in fields(RLConfig) if f.name == "out").metadata["help"]
    assert "runs/rl." in help_text and "timestamp" not in help_text


@pytest.mark.parametrize("kernel", ["sdpa", "matmul"])
def test_the_decode_attention_is_sdpa_for_one_query_token_of_grouped_heads(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from guidedcot.rl import decode_attention
    from guidedcot.rl.decode_attention import decode_sdpa_attention

    monkeypatch.setattr(decode_attention, "KERNEL", kernel)
    generator = torch.Generator().manual_seed(0)
    module = SimpleNamespace(num_key_value_groups=3, is_causal=True)
    query = torch.randn(2, 6, 1, 8, generator=generator)
    key, value = torch.randn(2, 2, 10, 8, generator=generator), torch.randn(2, 2, 10, 8, generator=generator)
    mask = torch.ones(2, 1, 1, 10, dtype=torch.bool)
    mask[0, :, :, :4] = False  # a left-padded row
    for attention_mask in (mask, None):
        got, _ = decode_sdpa_attention(module, query, key, value, attention_mask, scaling=0.3)
        expected, _ = sdpa_attention_forward(module, query, key, value, attention_mask, scaling=0.3)
        assert got.shape == expected.shape == (2, 1, 6, 8)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    # a prompt (several query tokens) goes to SDPA as it is
    prompt = torch.randn(2, 6, 4, 8, generator=generator)
    causal = torch.ones(2, 1, 4, 10, dtype=torch.bool)
    torch.testing.assert_close(
        decode_sdpa_attention(module, prompt, key, value, causal)[0],
        sdpa_attention_forward(module, prompt, key, value, causal)[0],
    )


def test_each_algo_is_an_object_with_its_critic_advantages_and_loss_term() -> None:
    from guidedcot.rl.algorithms import PPO, GroupRelative
    from guidedcot.rl.core import group_advantages

    ppo, grpo, rloo = (algorithm_for(RLConfig(algo=a, group_size=2)) for a in ("ppo", "grpo", "rloo"))
    assert isinstance(ppo, PPO) and ppo.value_head and not grpo.value_head and not rloo.value_head
    assert isinstance(rloo, GroupRelative) and rloo.kind == "rloo" and rloo.group_size == 2
    scores, mask = torch.tensor([1.0, 0.0, 0.5, 0.5]), torch.tensor([[1.0, 1.0, 0.0]] * 4)
    kl = torch.zeros(4, 3)
    advantages, returns = grpo.advantages(scores, kl, None, mask, 0.05)
    torch.testing.assert_close(advantages, group_advantages(scores, 2, "grpo")[:, None] * mask)
    assert returns is None
    values = torch.zeros(4, 3)
    advantages, returns = ppo.advantages(scores, kl, values, mask, 0.05)
    assert returns is not None and returns.shape == (4, 3) and advantages.shape == (4, 3)
    term, logged = ppo.loss_term(values, values, values + 0.1, values, returns, mask, 0.05)
    assert set(logged) == {"value_loss", "value_clip_fraction"} and term.item() > 0
    logp = torch.tensor([[-1.0, -2.0, 0.0]] * 4)
    term, logged = grpo.loss_term(logp, logp - 0.5, None, None, None, mask, 0.05)
    assert logged == {} and term.item() > 0  # k3 KL > 0 where the policy and the reference differ


@pytest.mark.parametrize("bias", [False, True])  # Llama's projections, and Qwen2's q/k/v with biases
def test_fused_projections_give_the_models_logits_and_follow_its_weights(tokenizer: Any, bias: bool) -> None:
    import copy

    from guidedcot.rl.fused_projections import FusedProjection, fuse_projections, views_intact

    model = tiny_llama(tokenizer, attention_bias=bias)
    fused = copy.deepcopy(model)
    names = [name for name, _ in fused.named_parameters()]
    assert fuse_projections(fused) == 2 * 2  # attention and MLP of both layers
    assert [name for name, _ in fused.named_parameters()] == names  # what sync zips over is unchanged
    assert isinstance(fused.model.layers[0].self_attn.k_proj, FusedProjection) and views_intact(fused)
    ids = torch.tensor(prompt_ids(tokenizer, ["Where is Paris?", "Who?"])[0])[None]
    with torch.no_grad():
        torch.testing.assert_close(fused(ids).logits, model(ids).logits, atol=1e-5, rtol=1e-5)
        for mine, theirs in zip(fused.parameters(), model.parameters(), strict=True):  # an update, then sync
            theirs.add_(torch.randn_like(theirs) * 0.3)
            mine.copy_(theirs)
        assert views_intact(fused)
        torch.testing.assert_close(fused(ids).logits, model(ids).logits, atol=1e-5, rtol=1e-5)
        attention = fused.model.layers[0].self_attn
        other = torch.randn(1, 3, 32)  # an input the group's first projection did not see: its own product
        torch.testing.assert_close(attention.v_proj(other), model.model.layers[0].self_attn.v_proj(other))


def test_compiled_fused_projections_are_one_matmul_a_group() -> None:
    from torch import nn

    from guidedcot.rl.fused_projections import fuse_projections

    owner = nn.Module()
    owner.mlp = nn.Module()
    owner.mlp.gate_proj, owner.mlp.up_proj = nn.Linear(16, 24, bias=False), nn.Linear(16, 24, bias=False)
    weights = {name: layer.weight.clone() for name, layer in owner.mlp.named_children()}
    assert fuse_projections(owner) == 1
    calls: list[str] = []

    def count(graph: Any, example_inputs: Any) -> Any:
        calls.extend(str(node.target) for node in graph.graph.nodes if node.op == "call_function")
        return graph.forward

    def step(x: torch.Tensor) -> torch.Tensor:
        return owner.mlp.gate_proj(x) * owner.mlp.up_proj(x)

    x = torch.randn(4, 1, 16)
    with torch.no_grad():
        got = torch.compile(step, backend=count, fullgraph=True)(x)
    torch.testing.assert_close(got, (x @ weights["gate_proj"].T) * (x @ weights["up_proj"].T))
    assert sum("linear" in call for call in calls) == 1, calls


def test_static_rollouts_with_fused_projections_decode_what_generate_decodes(tokenizer: Any) -> None:
    model = stopping_llama(tokenizer)
    prompts = prompt_ids(tokenizer, ["Where is Paris?"] * 2 + ["Which river runs through Paris?", "Who?"])
    settings = {"max_new_tokens": 12, "temperature": 0.0, "top_p": 1.0}
    static = StaticRollouts(
        model, tokenizer, rows=4, max_prompt_tokens=max(map(len, prompts)), fuse=True, **settings
    )
    expected = sample_responses(
        model, tokenizer, prompts, seq2seq=False, generator_seed=0, device="cpu", **settings
    )
    torch.testing.assert_close(static.sample(prompts, generator_seed=0).response_ids, expected.response_ids)
