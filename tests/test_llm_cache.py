"""The persistent cache: keys, sample indices, several writers, and a writer killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from guidedcot.errors import GuidedCotError
from guidedcot.llm import CachedLanguageModel, FakeLanguageModel, GenerationCache, cache_key, chat
from guidedcot.llm.cache import DEFAULT_MAX_BYTES, MAX_MB_ENV, max_bytes_from_env


def test_key_covers_identity_prompt_parameters_and_sample_index() -> None:
    base = chat("q", max_new_tokens=8)
    keys = {
        cache_key("m", base),
        cache_key("other-model", base),
        cache_key("m", chat("q2", max_new_tokens=8)),
        cache_key("m", chat("q", max_new_tokens=9)),
        cache_key("m", chat("q", max_new_tokens=8, temperature=0.7)),
        cache_key("m", chat("q", max_new_tokens=8, sample_index=1)),
        cache_key("m", chat("q", max_new_tokens=8, stop=("\n",))),
    }
    assert len(keys) == 7
    assert cache_key("m", base) == cache_key("m", chat("q", max_new_tokens=8))


def test_cache_off_still_accounts(tmp_path: Path) -> None:
    model = CachedLanguageModel(FakeLanguageModel(lambda r: "a b c"), None)
    model.generate([chat("q"), chat("q")])
    assert model.usage.calls == 1 and model.usage.cache_misses == 1 and model.usage.cache_hits == 1
    assert model.usage.completion_tokens == 3 and model.usage.hit_rate == 0.5


def test_two_connections_share_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first = CachedLanguageModel(FakeLanguageModel(lambda r: "one"), GenerationCache(path))
    second = CachedLanguageModel(FakeLanguageModel(lambda r: "two"), GenerationCache(path))
    first.generate([chat("q")])
    assert second.generate([chat("q")])[0].text == "one"
    assert second.usage.cache_hits == 1


WRITER = textwrap.dedent(
    """
    import sys, time
    from guidedcot.llm import CachedLanguageModel, FakeLanguageModel, GenerationCache, chat

    def slow(request):
        time.sleep(0.05)
        return "answer to " + request.messages[-1].content

    model = CachedLanguageModel(FakeLanguageModel(slow), GenerationCache(sys.argv[1]), chunk_size=4)
    for start in range(0, 10_000, 4):
        model.generate([chat(f"q{n}") for n in range(start, start + 4)])
        print(start + 4, flush=True)
    """
)


def test_sigkilled_writer_keeps_every_finished_entry(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    finished = 0
    while finished < 12:
        finished = int(process.stdout.readline())
    time.sleep(0.13)  # land somewhere inside a later chunk
    process.send_signal(signal.SIGKILL)
    process.wait()
    rows = sqlite3.connect(path).execute("SELECT request, result FROM generations").fetchall()
    stored = {
        json.loads(request)["messages"][-1]["content"]: json.loads(result)["text"] for request, result in rows
    }
    for n in range(finished):
        assert stored[f"q{n}"] == f"answer to q{n}"
    assert len(stored) % 4 == 0  # whole chunks only: never a partial one
    assert all(text == f"answer to {question}" for question, text in stored.items())
    # on restart, nothing finished is recomputed
    model = CachedLanguageModel(FakeLanguageModel([]), GenerationCache(path))
    assert [r.text for r in model.generate([chat(f"q{n}") for n in range(finished)])] == [
        f"answer to q{n}" for n in range(finished)
    ]


def test_the_cache_stays_near_its_bound_and_keeps_the_newest_entries(tmp_path: Path) -> None:
    """Past max_bytes the oldest tenth goes; the file stops growing and an evicted entry is computed
    again (the answer is the same: the cache only ever saves work)."""
    bound = 256 * 1024
    cache = GenerationCache(tmp_path / "c.sqlite", max_bytes=bound)
    answers = CachedLanguageModel(FakeLanguageModel(lambda r: "x" * 900), cache, chunk_size=4)
    prompts = [chat(f"question {n} " + "context " * 100) for n in range(600)]  # ~2 KB a row, ~1.2 MB in all
    for start in range(0, len(prompts), 4):
        answers.generate(prompts[start : start + 4])
    assert cache.evictions > 0
    assert cache.size_bytes() <= bound
    assert (tmp_path / "c.sqlite").stat().st_size < 2 * bound  # freed pages are reused
    newest, oldest = prompts[-4:], prompts[:4]
    calls = answers.usage.calls
    answers.generate(newest)
    assert answers.usage.calls == calls  # still cached
    again = answers.generate(oldest)
    assert answers.usage.calls == calls + 4 and all(g.text == "x" * 900 for g in again)


def test_the_bound_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_MB_ENV, raising=False)
    assert max_bytes_from_env() == DEFAULT_MAX_BYTES
    monkeypatch.setenv(MAX_MB_ENV, "0.5")
    assert max_bytes_from_env() == 512 * 1024
    monkeypatch.setenv(MAX_MB_ENV, "0")
    assert max_bytes_from_env() is None
    monkeypatch.setenv(MAX_MB_ENV, "lots")
    with pytest.raises(GuidedCotError, match="GUIDEDCOT_CACHE_MAX_MB='lots'"):
        max_bytes_from_env()
