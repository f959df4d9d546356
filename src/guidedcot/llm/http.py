"""Any OpenAI-compatible HTTP endpoint (vLLM, llama.cpp server, TGI, hosted APIs).

Async with a concurrency limit, timeouts, and retries with exponential backoff and full jitter on
429, 5xx and connection errors. The API key is read from an environment variable and never logged,
cached or written to a run folder (it is not part of the identity or of any request record).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from guidedcot.errors import GuidedCotError
from guidedcot.llm.openai_format import choice_body, option_logprobs, parse_response, request_body
from guidedcot.llm.streaming import StreamChunk, stream_endpoint
from guidedcot.llm.types import Generation, GenerationRequest

logger = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class EndpointError(GuidedCotError):
    """The endpoint kept failing after the last retry, or refused the request outright."""


def auth_headers(api_key_env: str | None) -> dict[str, str]:
    """The Authorization header for the key in the variable ``api_key_env`` (none when it is unset)."""
    key = os.environ.get(api_key_env) if api_key_env else None
    return {"Authorization": f"Bearer {key}"} if key else {}


class HttpLanguageModel:
    """A model behind an OpenAI-compatible ``/v1`` endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        revision: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._identity = f"openai-compatible:{model}" + (f"@{revision}" if revision else "")

    @property
    def identity(self) -> str:
        return self._identity

    def _headers(self) -> dict[str, str]:
        return auth_headers(self._api_key_env)

    async def _post(self, client: httpx.AsyncClient, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/{endpoint}"
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            try:
                response = await client.post(url, json=body, headers=self._headers())
            except (httpx.TransportError, httpx.TimeoutException) as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUSES:
                    raise EndpointError(f"{url} refused the request ({last})")
            if attempt < self.max_retries:
                delay = random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
                logger.warning(
                    "%s failed (%s); retry %d/%d in %.1f s", url, last, attempt + 1, self.max_retries, delay
                )
                await asyncio.sleep(delay)
        raise EndpointError(f"{url} failed after {self.max_retries + 1} attempts; last error: {last}")

    async def _post_all(self, bodies: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """POST every (endpoint, body), at most ``max_concurrency`` at a time; responses in order."""
        semaphore = asyncio.Semaphore(self.max_concurrency)
        limits = httpx.Limits(max_connections=self.max_concurrency)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:

            async def one(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
                async with semaphore:
                    return await self._post(client, endpoint, body)

            return list(await asyncio.gather(*(one(e, b) for e, b in bodies)))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        bodies = [request_body(r, self.model) for r in requests]
        responses = asyncio.run(self._post_all(bodies))
        return [parse_response(r, endpoint) for (endpoint, _), r in zip(bodies, responses, strict=True)]

    async def ping(self) -> tuple[bool, str]:
        """Whether the endpoint answers ``GET /models`` now, and what it said (for health checks)."""
        url = f"{self.base_url}/models"
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(url, headers=self._headers())
        except httpx.HTTPError as error:
            return False, f"{url} does not answer ({type(error).__name__})"
        if response.status_code != 200:
            return False, f"{url} answered HTTP {response.status_code}"
        return True, f"{url} answers"

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
        """The generation of ``request`` as it is written (server-sent events; no retry once begun)."""
        return stream_endpoint(
            self.base_url, request, model=self.model, headers=self._headers(), timeout_s=self.timeout_s
        )

    def choice_logprobs(
        self, requests: Sequence[GenerationRequest], options: Sequence[str]
    ) -> list[dict[str, float]]:
        responses = asyncio.run(self._post_all([choice_body(r, self.model) for r in requests]))
        return [option_logprobs(r, options) for r in responses]
