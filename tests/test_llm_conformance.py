"""One conformance suite run against every backend: fake, transformers, llama.cpp and HTTP.

The HTTP backend talks to a real llama.cpp OpenAI-compatible server process started on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from guidedcot.llm import (
    CachedLanguageModel,
    FakeLanguageModel,
    GenerationCache,
    GenerationRequest,
    LanguageModel,
    chat,
)
from guidedcot.llm.fake import request_text


def _fake_answer(request: GenerationRequest) -> str:
    text = request_text(request)
    if "yes or no" in text:
        return "no" if "cold" in text else "yes"
    if "count" in text.lower():
        return " ".join(str(n) for n in range(1, 60))
    if request.greedy:
        return "The capital of France is Paris."
    return f"Paris, sample {request.sample_index}, the capital."


@pytest.fixture(scope="module")
def llama_server(llama_server_process: Callable[..., Any]) -> Iterator[str]:
    """A real llama.cpp OpenAI-compatible server process with SmolLM2 on 127.0.0.1."""
    with llama_server_process("smollm2", n_ctx=2048) as (_, url):
        yield url


BACKENDS = [
    "fake",
    pytest.param("transformers", marks=pytest.mark.slow),
    pytest.param("llamacpp", marks=pytest.mark.slow),
    pytest.param("http", marks=pytest.mark.slow),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> LanguageModel:
    name = request.param
    if name == "fake":
        return FakeLanguageModel(_fake_answer)
    if name == "transformers":
        from guidedcot.llm.factory import load_backend

        return load_backend("smollm2", "transformers", batch_size=4)
    if name == "llamacpp":
        from guidedcot.llm.factory import load_backend

        return load_backend("smollm2", "llamacpp", n_ctx=2048, n_parallel=2)
    from guidedcot.llm.http import HttpLanguageModel

    url = request.getfixturevalue("llama_server")
    return HttpLanguageModel(url, "smollm2", api_key_env=None, max_concurrency=2)


QUESTION = "What is the capital of France? Answer in one sentence."


def test_batched_generation_mixed_chat_and_prompt(backend: LanguageModel) -> None:
    requests = [
        chat(QUESTION, max_new_tokens=24),
        GenerationRequest(prompt="The capital of France is", max_new_tokens=8),
        chat("Name the capital of France.", system="You answer briefly.", max_new_tokens=24),
    ]
    results = backend.generate(requests)
    assert len(results) == 3
    for result in results:
        assert result.text.strip()
        assert result.finish_reason in {"stop", "length"}
        assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= 24
    assert "paris" in results[0].text.lower()


def test_max_new_tokens_and_length_finish(backend: LanguageModel) -> None:
    (result,) = backend.generate([chat("Count from 1 to 100, separated by spaces.", max_new_tokens=5)])
    assert result.completion_tokens <= 5
    assert result.finish_reason == "length"


def test_stop_strings_cut_the_text(backend: LanguageModel) -> None:
    (full,) = backend.generate([chat("Count from 1 to 100, separated by spaces.", max_new_tokens=30)])
    text = full.text.strip()
    assert len(text) >= 6, text
    stop = text[len(text) // 2]
    (cut,) = backend.generate(
        [chat("Count from 1 to 100, separated by spaces.", max_new_tokens=30, stop=(stop,))]
    )
    assert stop not in cut.text
    assert cut.finish_reason == "stop"
    assert full.text.startswith(cut.text.rstrip())


def test_greedy_is_deterministic(backend: LanguageModel) -> None:
    request = chat(QUESTION, max_new_tokens=16)
    first, second = backend.generate([request, request])
    assert first.text == second.text


def test_sample_indices_give_different_samples(backend: LanguageModel) -> None:
    requests = [
        chat("Write a short sentence about a cat.", max_new_tokens=16, temperature=1.0, sample_index=i)
        for i in range(4)
    ]
    texts = [r.text for r in backend.generate(requests)]
    assert len(set(texts)) >= 2, texts
    again = [r.text for r in backend.generate(requests[:1])]
    assert again == texts[:1]  # the same sample index draws the same sample, whatever its batch
    reordered = [r.text for r in backend.generate([requests[2], requests[0]])]
    assert reordered == [texts[2], texts[0]]


def test_cache_in_front_of_the_backend(backend: LanguageModel, tmp_path: Path) -> None:
    model = CachedLanguageModel(backend, GenerationCache(tmp_path / "cache.sqlite"))
    requests = [
        chat(QUESTION, max_new_tokens=12),
        chat(QUESTION, max_new_tokens=12, temperature=1.0, sample_index=1),
    ]
    cold = model.generate(requests)
    assert (model.usage.cache_hits, model.usage.cache_misses) == (0, 2)
    warm = model.generate(requests)
    assert [w.text for w in warm] == [c.text for c in cold]
    assert all(w.cached for w in warm)
    assert (model.usage.cache_hits, model.usage.cache_misses) == (2, 2)
    assert model.usage.prompt_tokens == sum(c.prompt_tokens for c in cold)


YES_NO = [
    chat("Is Paris the capital of France? Answer yes or no.", max_new_tokens=1),
    chat("Is the sun cold? Answer yes or no.", system="You answer briefly.", max_new_tokens=1),
    chat("Is water wet? Answer yes or no.", max_new_tokens=1),
]


def test_choice_logprobs_are_batched_and_agree_with_greedy_decoding(backend: LanguageModel) -> None:
    scores = backend.choice_logprobs(YES_NO, ["yes", "no"])  # type: ignore[attr-defined]
    assert len(scores) == len(YES_NO)
    for request, score in zip(YES_NO, scores, strict=True):
        assert set(score) == {"yes", "no"}
        assert all(value <= 1e-6 for value in score.values())
        assert max(score.values()) > -20
        # the option the greedy decoder picks is the one with the higher log-probability
        (first_token,) = backend.generate([request])
        picked = first_token.text.strip().lower().strip(".!")
        if picked in {"yes", "no"}:
            assert score[picked] == max(score.values()), (picked, score)
    # alone or in a batch, the same scores (up to the float noise of padding in transformers)
    (alone,) = backend.choice_logprobs(YES_NO[:1], ["yes", "no"])  # type: ignore[attr-defined]
    assert alone == pytest.approx(scores[0], abs=1e-3)


def test_choice_logprobs_through_the_cache(backend: LanguageModel, tmp_path: Path) -> None:
    model = CachedLanguageModel(backend, GenerationCache(tmp_path / "cache.sqlite"))
    assert model.can_score_choices
    cold = model.choice_logprobs(YES_NO, ["yes", "no"])
    reopened = CachedLanguageModel(backend, GenerationCache(tmp_path / "cache.sqlite"))
    warm = reopened.choice_logprobs(YES_NO, ["yes", "no"])
    assert warm == cold
    assert (reopened.usage.cache_hits, reopened.usage.cache_misses, reopened.usage.calls) == (3, 0, 0)
    # other options are another question: not served from the entries of yes/no
    reopened.choice_logprobs(YES_NO[:1], ["no", "yes"])
    assert reopened.usage.cache_misses == 1


def test_api_key_is_never_part_of_identity_or_request(monkeypatch: pytest.MonkeyPatch) -> None:
    from guidedcot.llm.cache import cache_key
    from guidedcot.llm.http import HttpLanguageModel

    monkeypatch.setenv("SECRET_KEY_ENV", "sk-very-secret")
    model = HttpLanguageModel("http://127.0.0.1:9/v1", "m", api_key_env="SECRET_KEY_ENV")
    assert "sk-very-secret" not in model.identity
    assert model._headers() == {"Authorization": "Bearer sk-very-secret"}
    assert "sk-very-secret" not in cache_key(model.identity, chat("q"))


def test_http_gives_a_clear_error_after_retries() -> None:
    from guidedcot.llm.http import EndpointError, HttpLanguageModel

    model = HttpLanguageModel(
        "http://127.0.0.1:9/v1", "m", api_key_env=None, max_retries=2, backoff_base_s=0.01, timeout_s=2
    )
    with pytest.raises(
        EndpointError, match=r"http://127\.0\.0\.1:9/v1/chat/completions failed after 3 attempts"
    ):
        model.generate([chat("q")])
