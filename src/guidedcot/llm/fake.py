"""A scripted language model for unit tests: answers by list, by prompt, or by a function."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from guidedcot.llm.types import Generation, GenerationRequest


def request_text(request: GenerationRequest) -> str:
    """The prompt, or the chat messages joined as ``role: content`` lines."""
    if request.prompt is not None:
        return request.prompt
    return "\n".join(f"{m.role}: {m.content}" for m in request.messages or ())


class FakeLanguageModel:
    """Answers from a list (in call order), a prompt -> answer mapping (substring match) or a function.

    Stop strings and max_new_tokens (counted in whitespace tokens) are applied as a real backend
    would, so code that depends on them is exercised.
    """

    def __init__(
        self,
        answers: Iterable[str] | Mapping[str, str] | Callable[[GenerationRequest], str],
        *,
        name: str = "fake",
        default: str | None = None,
    ) -> None:
        self._by_prompt = dict(answers) if isinstance(answers, Mapping) else None
        self._function = answers if callable(answers) and not isinstance(answers, Mapping) else None
        self._queue = list(answers) if self._by_prompt is None and self._function is None else []
        self._default = default
        self._name = name
        self.requests: list[GenerationRequest] = []

    @property
    def identity(self) -> str:
        return f"fake:{self._name}"

    def _answer(self, request: GenerationRequest) -> str:
        if self._function is not None:
            return self._function(request)
        if self._by_prompt is not None:
            text = request_text(request)
            for key, answer in self._by_prompt.items():
                if key in text:
                    return answer
            if self._default is not None:
                return self._default
            raise KeyError(f"FakeLanguageModel has no answer for prompt: {text[:200]!r}")
        if not self._queue:
            if self._default is not None:
                return self._default
            raise IndexError("FakeLanguageModel ran out of scripted answers")
        return self._queue.pop(0)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        results = []
        for request in requests:
            self.requests.append(request)
            text = self._answer(request)
            finish = "stop"
            for stop in request.stop:
                if stop in text:
                    text = text[: text.index(stop)]
            words = text.split(" ")
            if len(words) > request.max_new_tokens:
                text = " ".join(words[: request.max_new_tokens])
                finish = "length"
            prompt_tokens = len(request_text(request).split())
            results.append(Generation(text, finish, prompt_tokens, len(text.split())))
        return results
