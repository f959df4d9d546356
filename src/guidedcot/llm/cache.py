"""A persistent generation cache in SQLite (WAL mode), safe with several writer processes.

Key = sha256 of sorted-key JSON of (model identity, request: prompt or messages, decoding parameters,
sample index). A result is stored in the same transaction as the rest of its chunk, after the
backend returned it, so a killed run keeps every finished chunk and never a partial entry.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from guidedcot.llm.types import Generation, GenerationRequest, LanguageModel

SCHEMA_VERSION = 1


def cache_key(identity: str, request: GenerationRequest) -> str:
    """sha256 of the model identity and the request, as sorted-key JSON."""
    payload = json.dumps(
        {"v": SCHEMA_VERSION, "model": identity, "request": request.to_dict()},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class GenerationCache:
    """Key -> Generation, in one SQLite file; thread-safe, multi-process-safe."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            self.path, timeout=60, check_same_thread=False, isolation_level=None
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS generations ("
            "key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, result TEXT NOT NULL, "
            "created REAL NOT NULL)"
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The cached results among ``keys``."""
        found: dict[str, Generation] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._connection.execute(
                    f"SELECT key, result FROM generations WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, result in rows:
                    found[key] = Generation(**json.loads(result), cached=True)
        return found

    def put_many(self, entries: Sequence[tuple[str, str, GenerationRequest, Generation]]) -> None:
        """Store (key, model identity, request, result) entries in one transaction."""
        rows = [
            (
                key,
                identity,
                json.dumps(request.to_dict(), sort_keys=True, ensure_ascii=False),
                json.dumps({k: v for k, v in asdict(result).items() if k != "cached"}, ensure_ascii=False),
                time.time(),
            )
            for key, identity, request, result in entries
        ]
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.executemany("INSERT OR IGNORE INTO generations VALUES (?, ?, ?, ?, ?)", rows)
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._connection.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._connection.close()


@dataclass
class Usage:
    """Accounting of one model: backend calls, tokens, seconds, and cache hits and misses."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def hit_rate(self) -> float:
        """Share of requests answered from the cache."""
        total = self.cache_hits + self.cache_misses
        return self.cache_hits / total if total else 0.0

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready view for reports and run folders, hit rate included."""
        return {**asdict(self), "hit_rate": self.hit_rate}


class CachedLanguageModel:
    """Puts a `GenerationCache` (or none) and usage accounting in front of any backend.

    Misses go to the backend in chunks of ``chunk_size``; each chunk is stored as soon as it returns.
    """

    def __init__(
        self, backend: LanguageModel, cache: GenerationCache | None = None, *, chunk_size: int = 8
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.chunk_size = chunk_size
        self.usage = Usage()

    @property
    def identity(self) -> str:
        return self.backend.identity

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        identity = self.backend.identity
        keys = [cache_key(identity, request) for request in requests]
        results: dict[str, Generation] = self.cache.get_many(keys) if self.cache is not None else {}
        pending: dict[str, GenerationRequest] = {}
        for key, request in zip(keys, requests, strict=True):
            if key not in results:
                pending.setdefault(key, request)
        # A request repeated inside one batch is computed once; its copies count as hits.
        self.usage.cache_hits += len(keys) - len(pending)
        self.usage.cache_misses += len(pending)
        todo = list(pending.items())
        for start in range(0, len(todo), self.chunk_size):
            chunk = todo[start : start + self.chunk_size]
            began = time.perf_counter()
            generated = self.backend.generate([request for _, request in chunk])
            self.usage.seconds += time.perf_counter() - began
            self.usage.calls += len(chunk)
            for (key, _), result in zip(chunk, generated, strict=True):
                self.usage.prompt_tokens += result.prompt_tokens
                self.usage.completion_tokens += result.completion_tokens
                results[key] = result
            if self.cache is not None:
                self.cache.put_many([(key, identity, request, results[key]) for key, request in chunk])
        return [results[key] for key in keys]
