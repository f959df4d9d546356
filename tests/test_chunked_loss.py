"""The chunked causal-LM loss (`guidedcot.distill.chunked_loss`): the model's own loss and gradients,
without the batch's logits."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from guidedcot.distill.chunked_loss import chunked_causal_lm_loss, use_chunked_loss
from guidedcot.distill.packing import PackingCollator
from guidedcot.student import IGNORE_INDEX


def packed_batch(vocab: int) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    features = []
    for length, prompt in [(30, 10), (17, 5), (45, 20), (8, 2), (26, 13)]:
        ids = torch.randint(5, vocab, (length,), generator=generator).tolist()
        features.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return PackingCollator(pad_token_id=0, row_tokens=64)(features)


def loss_and_gradients(
    model: Any, batch: dict[str, Any], **extra: Any
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    loss = model(**batch, **extra).loss
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("num_items", [None, 77])
def test_the_chunked_loss_has_the_models_loss_and_gradients(tiny_llama: Path, num_items: int | None) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="sdpa").train()
    chunked = copy.deepcopy(model)
    use_chunked_loss(chunked, chunk_tokens=7)  # 2 rows of 64 positions: 19 chunks, one of them partial
    batch = packed_batch(model.config.vocab_size)
    extra = {"num_items_in_batch": torch.tensor(num_items)} if num_items else {}
    expected_loss, expected_grads = loss_and_gradients(model, batch, **extra)
    got_loss, got_grads = loss_and_gradients(chunked, batch, **extra)
    torch.testing.assert_close(got_loss, expected_loss, rtol=1e-6, atol=1e-6)
    for got, expected in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # evaluation and label-free calls keep the model's own forward (logits included)
    chunked.eval()
    assert chunked(**batch).logits.shape[-1] == model.config.vocab_size


def test_under_bf16_autocast_the_chunked_loss_matches_to_bf16_rounding(tiny_llama: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="sdpa").train()
    chunked = copy.deepcopy(model)
    use_chunked_loss(chunked, chunk_tokens=16)
    batch = packed_batch(model.config.vocab_size)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected_loss, expected_grads = loss_and_gradients(model, batch)
        got_loss, got_grads = loss_and_gradients(chunked, batch)
    torch.testing.assert_close(got_loss, expected_loss, rtol=1e-2, atol=1e-2)
    for got, expected in zip(got_grads, expected_grads, strict=True):
        assert got.dtype == torch.float32
        assert ((got - expected).norm() / expected.norm()).item() < 2e-2


def test_a_chunk_of_ignored_labels_adds_nothing_and_every_token_can_be_ignored() -> None:
    hidden = torch.randn(1, 6, 4, requires_grad=True)
    weight = torch.randn(9, 4, requires_grad=True)
    labels = torch.tensor([[IGNORE_INDEX, 3, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    loss = chunked_causal_lm_loss(hidden, weight, labels, chunk_tokens=2)
    expected = torch.nn.functional.cross_entropy(hidden[0, 0:1] @ weight.T, torch.tensor([3]))
    torch.testing.assert_close(loss, expected)
    nothing = chunked_causal_lm_loss(hidden, weight, torch.full_like(labels, IGNORE_INDEX), chunk_tokens=4)
    assert nothing.item() == 0.0
    nothing.backward()
    assert hidden.grad is not None and hidden.grad.abs().sum().item() == 0.0
