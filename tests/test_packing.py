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


def test_rows_hold_whole_examples_first_fit_decreasing_with_restarting_positions() -> None:
    collate = PackingCollator(pad_token_id=0, row_tokens=10, pad_to_multiple_of=4)
    batch = collate([example(4, 2), example(5, 1, 50), example(7, 3, 80), example(12, 4, 200)])
    # longest first: 12 alone (over the row), 7, then 5 finds no room beside 7, and 4 joins 5
    assert collate.rows([example(4, 2), example(5, 1), example(7, 3), example(12, 4)]) == [[3], [2], [1, 0]]
    assert batch["input_ids"].shape == (3, 12)  # the longest row (12) is already a multiple of 4
    assert batch["position_ids"][2].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2]  # padding: own span
    assert batch["labels"][2].tolist() == [-100, 51, 52, 53, 54, -100, -100, 12, 13, -100, -100, -100]
    assert batch["input_ids"][1].tolist() == [*range(80, 87), 0, 0, 0, 0, 0]
    assert "attention_mask" not in batch and batch["use_cache"] is False


def test_first_fit_decreasing_needs_fewer_rows_than_the_batchs_order() -> None:
    """6, 6, 5, 5 tokens in rows of 11: in the batch's order 3 rows (6 | 6+5 | 5), longest first 2."""
    collate = PackingCollator(pad_token_id=0, row_tokens=11)
    features = [example(6, 1), example(6, 1), example(5, 1), example(5, 1)]
    assert collate.rows(features) == [[0, 2], [1, 3]]


@given(
    st.lists(st.tuples(st.integers(1, 40), st.integers(0, 5)), min_size=1, max_size=12), st.integers(8, 64)
)
def test_packing_keeps_every_token_and_every_label(shapes: list[tuple[int, int]], row_tokens: int) -> None:
    features = [example(n, min(p, n), 10 + 100 * i) for i, (n, p) in enumerate(shapes)]
    collate = PackingCollator(pad_token_id=0, row_tokens=row_tokens)
    batch = collate(features)
    laid_out = [index for row in collate.rows(features) for index in row]
    assert sorted(laid_out) == list(range(len(features)))  # every example once
    ids = [t for t in batch["input_ids"].flatten().tolist() if t != 0]  # ids of examples start at 10
    assert ids == [t for i in laid_out for t in features[i]["input_ids"]]  # whole, in the rows' order
    learned = [t for t in batch["labels"].flatten().tolist() if t != IGNORE_INDEX]
    assert learned == [t for i in laid_out for t in features[i]["labels"][1:] if t != IGNORE_INDEX]
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


@pytest.mark.parametrize(
    ("attention", "packing", "compiled", "cuda", "seq2seq", "chosen"),
    [
        ("auto", True, True, True, False, "flex_attention"),  # where flex was measured faster
        ("auto", True, False, True, False, None),
        ("auto", False, True, True, False, None),
        ("auto", True, True, False, False, None),  # the CPU: no flex backward
        ("auto", True, True, True, True, None),
        ("sdpa", True, True, True, False, "sdpa"),
        ("eager", False, False, False, False, "eager"),
    ],
)
def test_auto_attention_is_flex_only_for_compiled_packed_rows_on_a_gpu(
    attention: str, packing: bool, compiled: bool, cuda: bool, seq2seq: bool, chosen: str | None
) -> None:
    from guidedcot.distill.config import TrainConfig
    from guidedcot.distill.train import training_attention

    settings = TrainConfig(attention=attention, packing=packing, torch_compile=compiled)
    assert training_attention(settings, cuda=cuda, seq2seq=seq2seq) == chosen


def test_flex_attention_on_the_cpu_is_refused_before_training() -> None:
    from guidedcot.distill.config import TrainConfig
    from guidedcot.distill.train import training_attention
    from guidedcot.errors import ConfigError

    with pytest.raises(ConfigError, match="flex_attention trains only on a GPU"):
        training_attention(TrainConfig(attention="flex_attention"), cuda=False, seq2seq=False)


@pytest.mark.slow
def test_flex_attention_over_packed_rows_has_the_loss_of_the_padded_batch(tiny_llama: Path) -> None:
    """The kernel `attention: auto` takes on a GPU: flex attention reads the packed examples' boundaries
    from the position ids (a block mask) and gives the padded batch's loss. Forward only: torch has no
    flex attention backward on the CPU (the GPU check of gradients is bench/gpu_sft.py --check-packing)."""
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, PreTrainedTokenizerFast

    from guidedcot.distill.train import set_attention

    model = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="sdpa").eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tiny_llama)
    generator = torch.Generator().manual_seed(1)
    features = []
    for length, prompt in [(70, 10), (33, 5), (90, 40), (12, 2), (51, 13), (64, 20)]:
        ids = torch.randint(5, 1000, (length,), generator=generator).tolist()
        features.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    padded = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX)(
        [{**f, "attention_mask": [1] * len(f["input_ids"])} for f in features]
    )
    packed = PackingCollator(
        pad_token_id=tokenizer.pad_token_id or 0, row_tokens=128, pad_to_multiple_of=128
    )(features)
    assert packed["input_ids"].shape == (3, 128)  # really packed, 2 examples a row
    with torch.no_grad():
        padded_loss = model(**padded).loss.item()
        set_attention(model, "flex_attention")
        flex_loss = model(**packed).loss.item()
    assert flex_loss == pytest.approx(padded_loss, rel=1e-5)
