"""Streaming one generation: text deltas as the model writes them, then the whole `Generation`.

Backends with a ``stream(request)`` async iterator (an OpenAI-compatible endpoint, llama.cpp in
process through its own HTTP port) stream token by token; any other backend is generated whole in
a worker thread and arrives as one delta.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from guidedcot.llm.openai_format import parse_stream_event, stream_body
from guidedcot.llm.types import Generation, GenerationRequest, LanguageModel


@dataclass(frozen=True)
class StreamChunk:
    """A piece of text, or (last) the whole generation with its finish reason and token counts."""

    text: str = ""
    final: Generation | None = None


class StreamError(Exception):
    """An endpoint refused or broke a stream (the message names the URL)."""


async def stream_endpoint(
    base_url: str,
    request: GenerationRequest,
    *,
    model: str | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 120.0,
    extra: dict[str, Any] | None = None,
) -> AsyncIterator[StreamChunk]:
    """Stream ``request`` from an OpenAI-compatible ``/v1`` endpoint (server-sent events)."""
    endpoint, body = stream_body(request, model)
    body.update(extra or {})
    url = f"{base_url.rstrip('/')}/{endpoint}"
    text, finish, usage = "", None, None
    try:
        async with (
            httpx.AsyncClient(timeout=timeout_s) as client,
            client.stream("POST", url, json=body, headers=headers or {}) as response,
        ):
            if response.status_code != 200:
                detail = (await response.aread()).decode(errors="replace")[:300]
                raise StreamError(f"{url} refused the stream (HTTP {response.status_code}: {detail})")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    break
                piece, finished, counts = parse_stream_event(json.loads(data), endpoint)
                finish, usage = finished or finish, counts or usage
                if piece:
                    text += piece
                    yield StreamChunk(text=piece)
    except (httpx.TransportError, httpx.TimeoutException) as error:
        raise StreamError(f"{url} failed mid-stream ({type(error).__name__}: {error})") from error
    usage = usage or {}
    yield StreamChunk(
        final=Generation(
            text=text,
            finish_reason=finish or "stop",
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
    )


async def stream_generation(model: LanguageModel, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
    """Stream from ``model`` where it can, else generate whole in a thread and yield it as one delta."""
    stream = getattr(model, "stream", None)
    if stream is not None:
        async for chunk in stream(request):
            yield chunk
        return
    [generation] = await asyncio.to_thread(model.generate, [request])
    if generation.text:
        yield StreamChunk(text=generation.text)
    yield StreamChunk(final=generation)
