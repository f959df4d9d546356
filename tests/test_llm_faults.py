"""Faults: a real llama.cpp server killed in the middle of a cached batch."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from guidedcot.llm import CachedLanguageModel, GenerationCache, chat
from guidedcot.llm.cache import cache_key
from guidedcot.llm.http import EndpointError, HttpLanguageModel


@pytest.mark.slow
def test_server_killed_mid_batch_retries_then_fails_clearly_and_keeps_only_finished_chunks(
    llama_server_process: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests = [
        chat(f"Write two sentences about the number {n}.", max_new_tokens=48, temperature=0.7, sample_index=n)
        for n in range(8)
    ]
    cache = GenerationCache(tmp_path / "cache.sqlite")
    with llama_server_process("smollm2", n_ctx=1024, n_parallel=2) as (process, url):
        backend = HttpLanguageModel(
            url,
            "smollm2",
            api_key_env=None,
            max_concurrency=2,
            max_retries=3,
            backoff_base_s=0.05,
            timeout_s=120,  # a busy 2-core machine can take long over the first chunk
        )
        model = CachedLanguageModel(backend, cache, chunk_size=2)
        killed_after = []

        def kill_once_the_first_chunk_is_stored() -> None:
            reader = GenerationCache(cache.path)
            deadline = time.monotonic() + 300
            while len(reader) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            killed_after.append(len(reader))
            process.send_signal(signal.SIGKILL)

        killer = threading.Thread(target=kill_once_the_first_chunk_is_stored)
        killer.start()
        with (
            caplog.at_level(logging.WARNING, logger="guidedcot.llm.http"),
            pytest.raises(EndpointError) as failure,
        ):
            model.generate(requests)
        killer.join()

    message = str(failure.value)
    assert url in message and "failed after 4 attempts" in message
    assert sum("retry" in record.getMessage() for record in caplog.records) >= 3
    # Only whole chunks were stored, each entry a finished generation of its own request.
    stored = cache.get_many([cache_key(backend.identity, request) for request in requests])
    assert killed_after[0] >= 2
    assert len(stored) % 2 == 0 and 2 <= len(stored) < len(requests)
    assert len(stored) == len(cache)
    for result in stored.values():
        assert result.text and result.finish_reason in {"stop", "length"} and result.completion_tokens > 0

    # Restarted, the same batch recomputes only what was missing.
    with llama_server_process("smollm2", n_ctx=1024, n_parallel=2) as (_, url2):
        restarted = CachedLanguageModel(
            HttpLanguageModel(url2, "smollm2", api_key_env=None, max_concurrency=2), cache, chunk_size=2
        )
        results = restarted.generate(requests)
    assert len(results) == len(requests)
    assert restarted.usage.cache_hits == len(stored)
    assert restarted.usage.cache_misses == len(requests) - len(stored)
