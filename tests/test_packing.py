"""Padding-free packing of a causal student's batch: the rows, and the same loss as padding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from guidedcot.distill.packing import PackingCollator
from guidedcot.student import IGNORE_INDEX


def example(length: int, prompt: int, start: int = 10) -> dict[str, list[int]]:
    ids = list(range(start, start + length))
    return {"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]}


def test_rows_hold_whole_examples_in_order_with_restarting_positions() -> None:
    collate = PackingCollator(pad_token_id=0, row_tokens=10, pad_to_multiple_of=4)
    batch = collate([example(4, 2), example(5, 1, 50), example(7, 3, 80), example(12, 4, 200)])
    assert collate.rows([example(4, 2), example(5, 1), example(7, 3), example(12, 4)]) == [[0, 1], [2], [3]]
    assert batch["input_ids"].shape == (3, 12)  # the longest row (12) is already a multiple of 4
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 0, 1, 2]  # padding: own span
    assert batch["labels"][0].tolist() == [-100, -100, 12, 13, -100, 51, 52, 53, 54, -100, -100, -100]
    assert batch["input_ids"][1].tolist() == [*range(80, 87), 0, 0, 0, 0, 0]
    assert "attention_mask" not in batch and batch["use_cache"] is False


@given(
    st.lists(st.tuples(st.integers(1, 40), st.integers(0, 5)), min_size=1, max_size=12), st.integers(8, 64)
)
def test_packing_keeps_every_token_and_every_label(shapes: list[tuple[int, int]], row_tokens: int) -> None:
    features = [example(n, min(p, n), 10 + 100 * i) for i, (n, p) in enumerate(shapes)]
    batch = PackingCollator(pad_token_id=0, row_tokens=row_tokens)(features)
    ids = [t for t in batch["input_ids"].flatten().tolist() if t != 0]  # ids of examples start at 10
    assert ids == [t for f in features for t in f["input_ids"]]
    learned = [t for t in batch["labels"].flatten().tolist() if t != IGNORE_INDEX]
    assert learned == [t for f in features for t in f["labels"][1:] if t != IGNORE_INDEX]
    assert batch["input_ids"].shape[1] % 8 == 0


@pytest.mark.slow
def test_a_packed_batch_has_the_loss_of_the_padded_batch(tiny_llama: Path) -> None:
    """The same 5 examples, padded per row or packed 2-3 to a row: the same mean loss (sdpa reads the
    example boundaries from the restarting position ids), and the same gradients."""
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, PreTrainedTokenizerFast

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="sdpa")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tiny_llama)
    generator = torch.Generator().manual_seed(0)
    features = []
    for length, prompt in [(30, 10), (17, 5), (45, 20), (8, 2), (26, 13)]:
        ids = torch.randint(5, 1000, (length,), generator=generator).tolist()
        features.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    padded = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX)(
        [{**f, "attention_mask": [1] * len(f["input_ids"])} for f in features]
    )
    packed = PackingCollator(pad_token_id=tokenizer.pad_token_id or 0, row_tokens=64)(features)
    assert packed["input_ids"].shape[0] < len(features)  # really packed
    losses, grads = [], []
    model.train()
    for batch in (padded, packed):
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        losses.append(loss.item())
        grads.append(model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_compiled_packing_pads_every_row_to_the_row_length() -> None:
    """torch.compile then sees one row width for every batch (only the row count varies): two graphs
    instead of one a batch (bench/RESULTS.md)."""
    from types import SimpleNamespace

    from guidedcot.distill.config import TrainConfig
    from guidedcot.distill.train import collator

    tokenizer, model = SimpleNamespace(pad_token_id=0), SimpleNamespace(config=SimpleNamespace())
    features = [example(4, 2), example(5, 1, 50)]
    for compiled, width in ((False, 16), (True, 64)):
        settings = TrainConfig(packing=True, pack_tokens=64, pad_to_multiple_of=8, torch_compile=compiled)
        assert collator(tokenizer, model, settings)(features)["input_ids"].shape == (1, width)
