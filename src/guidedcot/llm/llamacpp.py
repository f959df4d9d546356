"""llama.cpp in process (xllamacpp) for GGUF files: the embedded default reader.

The embedded llama.cpp server applies the GGUF's chat template, batches concurrent requests over
``n_parallel`` slots, and reuses a slot's KV cache for a shared prompt prefix (``cache_prompt``).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from guidedcot import defaults
from guidedcot.errors import GuidedCotError
from guidedcot.llm.openai_format import choice_body, option_logprobs, parse_response, request_body
from guidedcot.llm.streaming import StreamChunk
from guidedcot.llm.types import Generation, GenerationRequest, request_text

logger = logging.getLogger(__name__)
T = TypeVar("T")


def server_params(
    gguf_path: Path | str,
    *,
    n_ctx: int,
    n_parallel: int,
    n_threads: int | None = None,
    prefix_reuse: bool = True,
    verbose: bool | None = None,
    api_key: str | None = None,
) -> Any:
    """xllamacpp parameters for ``n_parallel`` slots of ``n_ctx`` tokens each on the CPU threads.

    llama.cpp's own log lines (slot launches, timings) are off unless ``verbose`` (default: when
    guidedcot logs at DEBUG, as with ``guidedcot --verbose``)."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf_path)
    params.n_parallel = n_parallel
    params.n_ctx = n_ctx * n_parallel  # the context is shared by the slots
    threads = n_threads or os.cpu_count() or 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cache_prompt = prefix_reuse
    params.warmup = False
    if api_key:  # every HTTP request to this server then needs it (the in-process calls do not)
        params.api_keys = [api_key]
    if verbose is None:
        verbose = logging.getLogger("guidedcot").isEnabledFor(logging.DEBUG)
    params.verbosity = 3 if verbose else 0
    return params


def start_server(params: Any) -> Any:
    """An xllamacpp Server of ``params``; a file llama.cpp cannot load is a user error naming it."""
    import xllamacpp

    path = Path(params.model.path)
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise GuidedCotError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
    try:
        return xllamacpp.Server(params)
    except RuntimeError as error:
        raise GuidedCotError(
            f"llama.cpp could not load {path} ({error}): a GGUF file of a kind llama.cpp does not read, a "
            "cut-off download, or slots x n_ctx too large for this machine's memory"
        ) from None


def prefix_chains(requests: Sequence[GenerationRequest], share: float = 0.5) -> list[list[int]]:
    """Indices of ``requests`` cut into runs of consecutive requests whose prompt texts share at least
    ``share`` of the shorter one as a common prefix (the judge's aspects of one rationale, the k
    rationales of one question)."""
    texts = [request_text(r) for r in requests]
    chains: list[list[int]] = []
    for index, text in enumerate(texts):
        if chains:
            previous = texts[chains[-1][-1]]
            common = len(os.path.commonprefix([previous, text]))  # noqa: RUF071 - character-wise on purpose
            if common >= share * min(len(previous), len(text)):
                chains[-1].append(index)
                continue
        chains.append([index])
    return chains


class LlamaCppLanguageModel:
    """A GGUF model served in process by xllamacpp; thread-safe, continuous batching."""

    def __init__(
        self,
        gguf_path: Path | str,
        *,
        identity: str,
        n_ctx: int = defaults.N_CTX,
        n_parallel: int = defaults.N_PARALLEL,
        n_threads: int | None = None,
        prefix_reuse: bool = True,
    ) -> None:
        # llama.cpp in process also listens on a 127.0.0.1 port (streaming reads it): a key of this
        # process alone keeps every other local user off it
        self._api_key = secrets.token_urlsafe(32)
        params = server_params(
            gguf_path, n_ctx=n_ctx, n_parallel=n_parallel, n_threads=n_threads, prefix_reuse=prefix_reuse,
            api_key=self._api_key,
        )  # fmt: skip
        self._prefix_reuse = prefix_reuse
        self._n_parallel = n_parallel
        self._identity = f"llamacpp:{identity}"
        logger.debug("loading %s into llama.cpp (%d slots of %d tokens)", gguf_path, n_parallel, n_ctx)
        self._server = start_server(params)
        self.prompt_tokens = 0
        self.cached_prompt_tokens = 0

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def listening_address(self) -> str:
        """The address of the OpenAI-compatible HTTP server this model also answers on."""
        return self._server.listening_address

    def _handler(self, endpoint: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        if endpoint == "chat/completions":
            return self._server.handle_chat_completions
        return self._server.handle_completions

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """One request to the in-process server, counting prompt tokens and those reused from a slot."""
        body["cache_prompt"] = self._prefix_reuse
        response = self._handler(endpoint)(body)
        usage = response.get("usage") or {}
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.cached_prompt_tokens += int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        return response

    def _one(self, request: GenerationRequest) -> Generation:
        endpoint, body = request_body(request)
        return parse_response(self._post(endpoint, body), endpoint)

    def _map(
        self, function: Callable[[GenerationRequest], T], requests: Sequence[GenerationRequest]
    ) -> list[T]:
        """``function`` over the requests, ``n_parallel`` at a time (the server batches them).

        Consecutive requests that share most of their prompt form a chain that one worker sends in
        order, so each chain stays on one slot and reuses its prefix there; chains run in parallel.
        """
        if len(requests) <= 1 or self._n_parallel == 1:
            return [function(request) for request in requests]
        results: list[Any] = [None] * len(requests)

        def run(chain: list[int]) -> None:
            for index in chain:
                results[index] = function(requests[index])

        with ThreadPoolExecutor(max_workers=self._n_parallel) as pool:
            list(pool.map(run, prefix_chains(requests)))
        return results

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return self._map(self._one, requests)

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamChunk]:
        """The generation of ``request`` as it is written, through the server's own HTTP port."""
        from guidedcot.llm.streaming import stream_endpoint

        address = self.listening_address
        base = address if address.startswith("http") else f"http://{address}"
        return stream_endpoint(
            f"{base.rstrip('/')}/v1", request, headers={"Authorization": f"Bearer {self._api_key}"},
            extra={"cache_prompt": self._prefix_reuse},
        )  # fmt: skip

    def choice_logprobs(
        self, requests: Sequence[GenerationRequest], options: Sequence[str]
    ) -> list[dict[str, float]]:
        def one(request: GenerationRequest) -> dict[str, float]:
            return option_logprobs(self._post(*choice_body(request, None)), options)

        return self._map(one, requests)
