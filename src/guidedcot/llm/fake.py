"""A scripted language model for unit tests: answers by list, by prompt, or by a function."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from guidedcot.llm.types import Generation, GenerationRequest, request_text

__all__ = ["FakeLanguageModel", "request_text"]


class FakeLanguageModel:
    """Answers from a list (in call order), a prompt -> answer mapping (substring match) or a function.

    Stop strings and max_new_tokens (counted in whitespace tokens) are applied as a real backend
    would, so code that depends on them is exercised. ``choice_logprobs`` gives each option the log of
    the probability ``choices(request)`` scripts for it; without ``choices``, log 1 to the option the
    scripted answer starts with and -inf to the others. ``logprobs=False`` makes it a backend
    without log-probabilities (judges must then parse its text).
    """

    def __init__(
        self,
        answers: Iterable[str] | Mapping[str, str] | Callable[[GenerationRequest], str],
        *,
        name: str = "fake",
        default: str | None = None,
        choices: Callable[[GenerationRequest], Mapping[str, float]] | None = None,
        logprobs: bool = True,
    ) -> None:
        self._by_prompt = dict(answers) if isinstance(answers, Mapping) else None
        self._function = answers if callable(answers) and not isinstance(answers, Mapping) else None
        self._queue = list(answers) if self._by_prompt is None and self._function is None else []
        self._default = default
        self._name = name
        self._choices = choices
        self.can_score_choices = logprobs
        self.requests: list[GenerationRequest] = []
        self.choice_requests: list[GenerationRequest] = []

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

    def choice_logprobs(
        self, requests: Sequence[GenerationRequest], options: Sequence[str]
    ) -> list[dict[str, float]]:
        if not self.can_score_choices:
            raise TypeError(f"{self.identity} was built with logprobs=False")
        scores = []
        for request in requests:
            self.choice_requests.append(request)
            if self._choices is not None:
                probabilities = self._choices(request)
                scores.append(
                    {o: math.log(p) if (p := probabilities.get(o, 0.0)) > 0 else -math.inf for o in options}
                )
                continue
            text = self._answer(request).strip().lower()
            scores.append({o: 0.0 if text.startswith(o.lower()) else -math.inf for o in options})
        return scores
