"""Token ids of the student's prompt and (for training) its target rationale, with label masking.

Causal students see the prompt through their chat template, exactly as the transformers backend
renders it at inference, and learn only the rationale tokens + EOS (labels -100 over the prompt).
Seq2seq students get the prompt as encoder input and the rationale as labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from guidedcot.models.hf import render_chat
from guidedcot.prompts import PromptTemplate

IGNORE_INDEX = -100


def encode_prompt(
    tokenizer: Any, template: PromptTemplate, slots: Mapping[str, str], *, seq2seq: bool, max_length: int
) -> list[int]:
    """The prompt's token ids; a causal prompt over ``max_length`` keeps its end (where the question
    meets the generation prompt)."""
    if seq2seq:
        return tokenizer(template.format(slots), truncation=True, max_length=max_length)["input_ids"]
    text, add_special = render_chat(tokenizer, template.messages(slots))
    ids = tokenizer(text, add_special_tokens=add_special)["input_ids"]
    return ids[-max_length:]


def encode_rationale_example(
    tokenizer: Any,
    template: PromptTemplate,
    slots: Mapping[str, str],
    rationale: str,
    *,
    seq2seq: bool,
    max_length: int,
) -> dict[str, list[int]]:
    """Input ids, attention mask and labels of one (prompt -> rationale) training pair."""
    if seq2seq:
        inputs = encode_prompt(tokenizer, template, slots, seq2seq=True, max_length=max_length)
        labels = tokenizer(text_target=rationale, truncation=True, max_length=max_length)["input_ids"]
        return {"input_ids": inputs, "attention_mask": [1] * len(inputs), "labels": labels}
    target = tokenizer(rationale, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    prompt = encode_prompt(
        tokenizer, template, slots, seq2seq=False, max_length=max(1, max_length - len(target))
    )
    ids = (prompt + target)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt) + target)[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}
