"""Attention for compiled one-token decode steps of grouped-query models (Llama, Qwen2, SmolLM2).

transformers' SDPA attention reads a decode step's query heads that share a key/value head as rows of
one query (``pack_gqa``), but not under torch.compile: there it repeats every key and value head
(``repeat_kv``) and runs SDPA over the copies. In `StaticRollouts`' compiled step that copy and the
SDPA kernel over ``groups`` times the cache were 61% of the GPU time of a step (bench/RESULTS.md,
2026-12-02). This implementation packs the query under compile as well, so attention reads each
cache slot once; it is the same computation (`tests/test_training_correctness.py` pins the samples
to ``generate``'s), and any other call (prefill, a mask per head) goes to SDPA unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

NAME = "guidedcot_decode_sdpa"
KERNEL = "matmul"
"""How the packed query meets the cache: "matmul" (scores, mask and softmax as plain ops that inductor
fuses; with fused projections 10.5% / 16.0% of the bandwidth bound for SmolLM2 / Qwen2.5-0.5B on an H200,
bench/RESULTS.md 2026-12-02 session 14) or "sdpa" (cuDNN's flash kernel: 9.2% / 15.9%)."""


def decode_sdpa_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: query [batch, heads, q, dim], key and value [batch,
    kv heads, keys, dim], the mask [batch, 1, q, keys]; returns [batch, q, heads, dim]."""
    groups = getattr(module, "num_key_value_groups", 1)
    batch, heads, length, _ = query.shape
    shared_mask = attention_mask is None or attention_mask.shape[1] == 1
    if length != 1 or groups == 1 or not shared_mask or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    packed = query.reshape(batch, heads // groups, groups, query.shape[-1])  # a KV head's queries as rows
    if KERNEL == "matmul":
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        scores = torch.matmul(packed, key.transpose(-1, -2)).float() * scale
        if attention_mask is not None:
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        out = torch.matmul(torch.softmax(scores, dim=-1).to(value.dtype), value)
    else:
        out = torch.nn.functional.scaled_dot_product_attention(
            packed, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling, is_causal=False
        )
    return out.reshape(batch, heads, 1, value.shape[-1]).transpose(1, 2).contiguous(), None


def use_decode_attention(model: Any) -> None:
    """Switch ``model`` (a transformers causal LM using SDPA) to `decode_sdpa_attention`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, decode_sdpa_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the very masks SDPA gets
    model.set_attn_implementation(NAME)
