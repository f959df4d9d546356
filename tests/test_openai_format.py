"""The OpenAI-compatible response shapes: answers, errors, and first-token log-probabilities."""

from __future__ import annotations

import math

import pytest

from guidedcot.errors import GuidedCotError
from guidedcot.llm.openai_format import BackendResponseError, option_logprobs, parse_response

CHAT_LOGPROBS = {
    "choices": [
        {
            "logprobs": {
                "content": [
                    {
                        "token": "Yes",
                        "logprob": math.log(0.6),
                        "top_logprobs": [
                            {"token": "Yes", "logprob": math.log(0.6)},
                            {"token": " yes", "logprob": math.log(0.1)},
                            {"token": "No", "logprob": math.log(0.2)},
                            {"token": "Maybe", "logprob": math.log(0.1)},
                        ],
                    }
                ]
            }
        }
    ]
}
# The legacy completions shape (vLLM, OpenAI): one {token: logprob} mapping per generated token.
LEGACY_COMPLETIONS = {
    "choices": [
        {"text": "yes", "logprobs": {"top_logprobs": [{" yes": math.log(0.7), " no": math.log(0.3)}]}}
    ]
}


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (CHAT_LOGPROBS, {"yes": 0.7, "no": 0.2}),
        (LEGACY_COMPLETIONS, {"yes": 0.7, "no": 0.3}),
    ],
)
def test_option_logprobs_sum_variants_in_both_shapes(response: dict, expected: dict[str, float]) -> None:
    scores = option_logprobs(response, ["yes", "no"])
    assert {k: round(math.exp(v), 6) for k, v in scores.items()} == expected


def test_an_option_missing_from_the_top_gets_minus_infinity() -> None:
    assert option_logprobs(LEGACY_COMPLETIONS, ["yes", "maybe"])["maybe"] == -math.inf


@pytest.mark.parametrize(
    "response",
    [{"error": {"message": "context too long", "code": 400}}, {"error": "boom"}, {"choices": []}],
)
def test_error_objects_and_bad_shapes_are_user_errors(response: dict) -> None:
    with pytest.raises(BackendResponseError) as caught:
        parse_response(response, "chat/completions")
    assert isinstance(caught.value, GuidedCotError)  # the CLI prints one paragraph, no traceback
    with pytest.raises(BackendResponseError):
        option_logprobs(response, ["yes", "no"])


def test_prefix_chains_keep_requests_sharing_a_prefix_together() -> None:
    from guidedcot.llm import chat
    from guidedcot.llm.llamacpp import prefix_chains

    context = "Context: " + "a long shared paragraph " * 20
    requests = (
        [chat(f"{context} Rationale A. Aspect {i}?") for i in range(3)]
        + [chat(f"Another question entirely. Aspect {i}?") for i in range(2)]
        + [chat(f"{context} Rationale B.")]
    )
    assert prefix_chains(requests) == [[0, 1, 2], [3, 4], [5]]
