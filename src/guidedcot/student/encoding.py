"""Token ids of the student's prompt and (for training) its target rationale, with label masking.

Causal students see the prompt through their chat template, exactly as the transformers backend
renders it at inference, and learn only the rationale tokens + EOS (labels -100 over the prompt).
Seq2seq students get the prompt as encoder input and the rationale as labels.

A prompt over its token limit loses the end of its context, inside the context's slot, never the chat
header, the question or the instruction after the context. The context itself was built under the run's
``max_context_tokens`` budget by the same rule as at inference (`guidedcot.data.context`); with no
token limit (the default) training prompts are exactly the prompts the student meets in use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guidedcot.errors import ConfigError
from guidedcot.models.hf import render_chat
from guidedcot.prompts import PromptTemplate

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedPrompt:
    """A student prompt's token ids, and how many context tokens were cut to fit its limit."""

    ids: list[int]
    context_tokens_cut: int = 0


def _prompt_ids(
    tokenizer: Any, template: PromptTemplate, slots: Mapping[str, str], *, seq2seq: bool
) -> list[int]:
    if seq2seq:
        return list(tokenizer(template.format(slots))["input_ids"])
    text, add_special = render_chat(tokenizer, template.messages(slots))
    return list(tokenizer(text, add_special_tokens=add_special)["input_ids"])


def fit_prompt(
    tokenizer: Any,
    template: PromptTemplate,
    slots: Mapping[str, str],
    *,
    seq2seq: bool,
    max_length: int | None,
) -> EncodedPrompt:
    """The prompt's token ids, at most ``max_length`` (None: no limit): an over-long prompt keeps its
    head, question and instruction and loses whole tokens from the end of its context."""
    ids = _prompt_ids(tokenizer, template, slots, seq2seq=seq2seq)
    if max_length is None or len(ids) <= max_length:
        return EncodedPrompt(ids)
    context = tokenizer(slots["context"], add_special_tokens=False)["input_ids"]
    keep = len(context) - (len(ids) - max_length)
    while keep > 0:
        # a prefix of byte-level tokens may end inside a character: drop the partial character
        text = tokenizer.decode(context[:keep], skip_special_tokens=True).rstrip("\ufffd").rstrip()
        ids = _prompt_ids(tokenizer, template, {**slots, "context": text}, seq2seq=seq2seq)
        if len(ids) <= max_length:
            return EncodedPrompt(ids, len(context) - keep)
        keep -= max(1, len(ids) - max_length)
    bare = len(_prompt_ids(tokenizer, template, {**slots, "context": ""}, seq2seq=seq2seq))
    raise ConfigError(
        f"the student prompt of question {slots['question'][:80]!r} is {bare} tokens without any context, "
        f"over the limit of {max_length}: raise the limit (max_prompt_tokens / max_length)"
    )


def encode_prompt(
    tokenizer: Any,
    template: PromptTemplate,
    slots: Mapping[str, str],
    *,
    seq2seq: bool,
    max_length: int | None,
) -> list[int]:
    """The prompt's token ids (see `fit_prompt`)."""
    return fit_prompt(tokenizer, template, slots, seq2seq=seq2seq, max_length=max_length).ids


def encode_rationale_example(
    tokenizer: Any,
    template: PromptTemplate,
    slots: Mapping[str, str],
    rationale: str,
    *,
    seq2seq: bool,
    max_length: int | None,
) -> dict[str, list[int]]:
    """Input ids, attention mask and labels of one (prompt -> rationale) training pair; with
    ``max_length``, the prompt's context is cut so that prompt and rationale fit together."""
    if seq2seq:
        inputs = encode_prompt(tokenizer, template, slots, seq2seq=True, max_length=max_length)
        labels = tokenizer(text_target=rationale)["input_ids"]
        labels = labels if max_length is None else labels[:max_length]
        return {"input_ids": inputs, "attention_mask": [1] * len(inputs), "labels": labels}
    target = tokenizer(rationale, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    budget = None if max_length is None else max(1, max_length - len(target))
    prompt = encode_prompt(tokenizer, template, slots, seq2seq=False, max_length=budget)
    ids = prompt + target
    labels = [IGNORE_INDEX] * len(prompt) + target
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}
