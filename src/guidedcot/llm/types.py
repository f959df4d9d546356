"""Requests, results and the `LanguageModel` protocol every backend implements."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: str
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: a raw prompt or chat messages, decoding parameters and a sample index.

    k samples of the same prompt are k requests with sample_index 0..k-1: they get different seeds
    and different cache entries, so self-consistency and RL groups never collapse to one answer.
    """

    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    sample_index: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a GenerationRequest needs exactly one of prompt or messages")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")

    @property
    def greedy(self) -> bool:
        """True for temperature 0 (the sample index then changes nothing but the cache key)."""
        return self.temperature == 0

    @property
    def effective_seed(self) -> int:
        """The sampling seed: derived from seed and sample index, stable across runs and machines."""
        return stable_seed(self.seed, self.sample_index)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready view (used in cache keys)."""
        return asdict(self)


def stable_seed(*parts: int) -> int:
    """A 31-bit seed from integers (sha256 of ``a:b:...``), the same on every run and machine."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def chat(user: str, *, system: str | None = None, **params: object) -> GenerationRequest:
    """A request with one user message (and an optional system message)."""
    messages = ((("system", system),) if system else ()) + (("user", user),)
    return chat_request(messages, **params)


def chat_request(messages: Sequence[tuple[str, str]], **params: object) -> GenerationRequest:
    """A request from (role, content) pairs, such as `PromptTemplate.messages` gives."""
    return GenerationRequest(messages=tuple(Message(r, c) for r, c in messages), **params)  # type: ignore[arg-type]


def request_text(request: GenerationRequest) -> str:
    """The prompt, or the chat messages joined as ``role: content`` lines."""
    if request.prompt is not None:
        return request.prompt
    return "\n".join(f"{m.role}: {m.content}" for m in request.messages or ())


@dataclass(frozen=True)
class Generation:
    """One result: the text, why it stopped (``stop`` or ``length``) and token counts."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool = field(default=False, compare=False)


@runtime_checkable
class LanguageModel(Protocol):
    """What every layer above sees of a language model; it never knows which backend is behind."""

    @property
    def identity(self) -> str:
        """Model identity for cache keys: name plus weights sha256 or revision, and the backend."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """Generate one result per request, in order."""
        ...


@runtime_checkable
class ChoiceScorer(Protocol):
    """Backends that can score fixed options (used to judge yes/no aspects)."""

    def choice_logprobs(
        self, requests: Sequence[GenerationRequest], options: Sequence[str]
    ) -> list[dict[str, float]]:
        """Per request, the log-probability of each option as the first token of the answer
        (summed over case and leading-space variants; -inf where no variant is among the top)."""
        ...


def can_score_choices(model: object) -> bool:
    """True when ``model`` returns option log-probabilities (else a judge parses generated text)."""
    flag = getattr(model, "can_score_choices", None)
    return bool(flag) if flag is not None else isinstance(model, ChoiceScorer)
