"""The OpenAI-compatible request and response shapes, shared by llama.cpp in-process and HTTP backends."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from guidedcot.errors import GuidedCotError
from guidedcot.llm.types import Generation, GenerationRequest


class BackendResponseError(GuidedCotError):
    """A backend answered with an error object or a response of the wrong shape (the command line
    shows it as a one-paragraph message, not a traceback)."""


def request_body(request: GenerationRequest, model: str | None = None) -> tuple[str, dict[str, Any]]:
    """The endpoint (``chat/completions`` or ``completions``) and JSON body for one request."""
    body: dict[str, Any] = {
        "max_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.effective_seed,
    }
    if model:
        body["model"] = model
    if request.stop:
        body["stop"] = list(request.stop)
    if request.messages is not None:
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        return "chat/completions", body
    body["prompt"] = request.prompt
    return "completions", body


def parse_response(response: dict[str, Any], endpoint: str) -> Generation:
    """A `Generation` from an OpenAI-shaped response; an error object raises `BackendResponseError`."""
    if "error" in response:
        raise BackendResponseError(f"backend error: {_error_message(response['error'])}")
    try:
        choice = response["choices"][0]
        text = choice["message"]["content"] if endpoint == "chat/completions" else choice["text"]
        usage = response.get("usage") or {}
        return Generation(
            text=text or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )
    except (KeyError, IndexError, TypeError) as error:
        raise BackendResponseError(f"unexpected response shape: {str(response)[:300]}") from error


def stream_body(request: GenerationRequest, model: str | None = None) -> tuple[str, dict[str, Any]]:
    """`request_body` asking for server-sent events, with the token usage in the last event."""
    endpoint, body = request_body(request, model)
    body.update(stream=True, stream_options={"include_usage": True})
    return endpoint, body


def parse_stream_event(event: dict[str, Any], endpoint: str) -> tuple[str, str | None, dict[str, Any] | None]:
    """(text delta, finish reason or None, usage or None) of one streamed event."""
    if "error" in event:
        raise BackendResponseError(f"backend error: {_error_message(event['error'])}")
    text, finish = "", None
    try:
        for choice in event.get("choices") or []:
            piece = (
                (choice.get("delta") or {}).get("content")
                if endpoint == "chat/completions"
                else choice.get("text")
            )
            text += piece or ""
            finish = choice.get("finish_reason") or finish
    except (AttributeError, TypeError) as error:
        raise BackendResponseError(f"unexpected stream event: {str(event)[:300]}") from error
    return text, finish, event.get("usage")


def choice_body(request: GenerationRequest, model: str | None, top: int = 20) -> tuple[str, dict[str, Any]]:
    """A one-token request asking for the top log-probabilities of the first answer token."""
    endpoint, body = request_body(request, model)
    body.update(max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=top)
    if endpoint == "completions":
        body.update(logprobs=top)
        body.pop("top_logprobs")
    body.pop("stop", None)
    return endpoint, body


def top_logprobs(response: dict[str, Any]) -> list[tuple[str, float]]:
    """(token, log-probability) of the first generated token's top alternatives, from a chat response
    (``logprobs.content[0].top_logprobs``) or a completions response (that shape, or the legacy
    ``logprobs.top_logprobs[0]`` mapping that vLLM and OpenAI return)."""
    if "error" in response:
        raise BackendResponseError(f"backend error: {_error_message(response['error'])}")
    try:
        logprobs = response["choices"][0]["logprobs"]
        if logprobs.get("content"):
            return [(e["token"], float(e["logprob"])) for e in logprobs["content"][0]["top_logprobs"]]
        return [(token, float(value)) for token, value in logprobs["top_logprobs"][0].items()]
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise BackendResponseError(f"no logprobs in response: {str(response)[:300]}") from error


def aggregate_options(entries: Sequence[tuple[str, float]], options: Sequence[str]) -> dict[str, float]:
    """Log of the summed probability of the first-token variants (case, leading space) of each option."""
    totals = dict.fromkeys(options, 0.0)
    for token, logprob in entries:
        text = token.strip().lower()
        for option in options:
            if text and option.lower().startswith(text):
                totals[option] += math.exp(logprob)
                break
    return {option: math.log(total) if total > 0 else -math.inf for option, total in totals.items()}


def option_logprobs(response: dict[str, Any], options: Sequence[str]) -> dict[str, float]:
    """The options' first-token log-probabilities in an OpenAI-shaped response."""
    return aggregate_options(top_logprobs(response), options)


def _error_message(error: Any) -> Any:
    return error.get("message", error) if isinstance(error, dict) else error
