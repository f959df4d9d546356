"""Template -> request: the one place a prompt template and decoding settings become a request."""

from __future__ import annotations

from collections.abc import Mapping

from guidedcot.llm.types import GenerationRequest, chat_request
from guidedcot.prompts import PromptTemplate


def template_request(
    template: PromptTemplate,
    slots: Mapping[str, str],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    sample_index: int = 0,
    seed: int = 0,
) -> GenerationRequest:
    """The chat request of ``template`` filled with ``slots``: greedy, or sampled at ``temperature``."""
    return chat_request(
        template.messages(slots),
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        sample_index=sample_index,
        seed=seed,
    )
