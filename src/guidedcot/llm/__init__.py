"""Language-model backends behind one protocol, a persistent cache and usage accounting."""

from guidedcot.llm.cache import CachedLanguageModel, GenerationCache, Usage, cache_key
from guidedcot.llm.fake import FakeLanguageModel
from guidedcot.llm.types import (
    ChoiceScorer,
    Generation,
    GenerationRequest,
    LanguageModel,
    Message,
    chat,
    chat_request,
)

__all__ = [
    "CachedLanguageModel",
    "ChoiceScorer",
    "FakeLanguageModel",
    "Generation",
    "GenerationCache",
    "GenerationRequest",
    "LanguageModel",
    "Message",
    "Usage",
    "cache_key",
    "chat",
    "chat_request",
]
