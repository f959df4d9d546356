"""The transformers backend writes a batch as it writes each request alone (greedy, left padding), in
fp32 and under bf16 autocast alike; a tiny random Llama with a Qwen2-like tokenizer, no download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from guidedcot.llm import chat
from guidedcot.llm.hf import TransformersLanguageModel

QUESTIONS = [
    "Where is Paris?",
    "Which river runs through the capital of France, and which sea does it reach?",
    "Who?",
    "Name two films by the director of Ed Wood and the year each came out.",
    "Is the Seine longer than the Loire?",
]


def tiny_llama(tokenizer: Any) -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize("autocast_bf16", [False, True])
def test_a_batch_writes_what_each_request_writes_alone(
    qwen_like_tokenizer_dir: Path, autocast_bf16: bool
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(qwen_like_tokenizer_dir)
    model = tiny_llama(tokenizer)
    requests = [chat(q, max_new_tokens=12) for q in QUESTIONS]

    def backend(batch_size: int) -> TransformersLanguageModel:
        return TransformersLanguageModel("", identity="tiny", model=model, tokenizer=tokenizer, device="cpu",
                                         batch_size=batch_size, autocast_bf16=autocast_bf16)  # fmt: skip

    alone = [backend(1).generate([r])[0] for r in requests]
    together = backend(8).generate(requests)
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.completion_tokens for g in together] == [g.completion_tokens for g in alone]
    assert all(g.completion_tokens > 0 for g in alone)
    # a bf16 student's generations are cached apart from fp32's
    assert backend(8).identity.endswith(":bf16-autocast") == autocast_bf16
