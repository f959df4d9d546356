"""A persistent generation cache in SQLite (WAL mode), safe with several writer processes.

Key = sha256 of sorted-key JSON of (model identity, request: prompt or messages, decoding parameters,
sample index). A result is stored in the same transaction as the rest of its chunk, after the
backend returned it, so a killed run keeps every finished chunk and never a partial entry.

The file is bounded: past ``max_bytes`` (default 4 GiB; ``$GUIDEDCOT_CACHE_MAX_MB``, 0 = no bound) the
oldest tenth of the entries are deleted in one transaction, and SQLite reuses their pages, so the
file stops growing near the bound. An evicted entry is simply computed again when asked for.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from guidedcot.errors import GuidedCotError
from guidedcot.llm.types import Generation, GenerationRequest, LanguageModel, can_score_choices

SCHEMA_VERSION = 1
R = TypeVar("R")
MAX_MB_ENV = "GUIDEDCOT_CACHE_MAX_MB"
DEFAULT_MAX_BYTES = 4 << 30
EVICTED_SHARE = 0.1


def max_bytes_from_env() -> int | None:
    """The cache bound in bytes from ``$GUIDEDCOT_CACHE_MAX_MB`` (0: none), else the default."""
    raw = os.environ.get(MAX_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = math.nan
    if not math.isfinite(megabytes) or megabytes < 0:
        raise GuidedCotError(f"${MAX_MB_ENV}={raw[:40]!r}: expected a number of megabytes >= 0 (0: no bound)")
    return int(megabytes * (1 << 20)) if megabytes > 0 else None


def cache_key(identity: str, request: GenerationRequest, options: Sequence[str] | None = None) -> str:
    """sha256 of the model identity and the request (and, for a choice scoring, the options), as
    sorted-key JSON."""
    fields: dict[str, object] = {"v": SCHEMA_VERSION, "model": identity, "request": request.to_dict()}
    if options is not None:
        fields["options"] = list(options)
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


_TABLES = ("generations", "choices")


class GenerationCache:
    """Key -> Generation (and key -> option log-probabilities), in one SQLite file; thread-safe,
    multi-process-safe."""

    def __init__(self, path: Path | str, *, max_bytes: int | None = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.evictions = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        if self.path.is_dir():
            raise GuidedCotError(f"generation cache {self.path} is a folder: the cache is one SQLite file")
        self._connection = sqlite3.connect(
            self.path, timeout=60, check_same_thread=False, isolation_level=None
        )
        try:
            self._connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.DatabaseError as error:
            self._connection.close()
            raise GuidedCotError(
                f"generation cache {self.path} is not an SQLite file ({error}): name another file with "
                "--set cache=PATH (or none), or remove this one"
            ) from None
        self._connection.execute("PRAGMA synchronous=NORMAL")
        for table in _TABLES:
            self._connection.execute(
                f"CREATE TABLE IF NOT EXISTS {table} ("
                "key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL, result TEXT NOT NULL, "
                "created REAL NOT NULL)"
            )
            self._connection.execute(f"CREATE INDEX IF NOT EXISTS {table}_created ON {table} (created)")

    def _get(self, table: str, keys: Sequence[str]) -> dict[str, object]:
        found: dict[str, object] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._connection.execute(
                    f"SELECT key, result FROM {table} WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, result in rows:
                    found[key] = json.loads(result)
        return found

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The cached results among ``keys``."""
        return {k: Generation(**v, cached=True) for k, v in self._get("generations", keys).items()}  # type: ignore[arg-type]

    def get_choices(self, keys: Sequence[str]) -> dict[str, dict[str, float]]:
        """The cached option log-probabilities among ``keys``."""
        return self._get("choices", keys)  # type: ignore[return-value]

    def put_many(self, entries: Sequence[tuple[str, str, GenerationRequest, Generation]]) -> None:
        """Store (key, model identity, request, result) entries in one transaction."""
        self._put(
            "generations",
            [
                (key, identity, request, {k: v for k, v in asdict(result).items() if k != "cached"})
                for key, identity, request, result in entries
            ],
        )

    def put_choices(self, entries: Sequence[tuple[str, str, GenerationRequest, dict[str, float]]]) -> None:
        """Store (key, model identity, request, option log-probabilities) entries in one transaction."""
        self._put("choices", entries)

    def _put(self, table: str, entries: Sequence[tuple[str, str, GenerationRequest, object]]) -> None:
        rows = [
            (
                key,
                identity,
                json.dumps(request.to_dict(), sort_keys=True, ensure_ascii=False),
                json.dumps(result, ensure_ascii=False),
                time.time(),
            )
            for key, identity, request, result in entries
        ]
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                self._connection.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?, ?, ?, ?, ?)", rows)
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            if self.max_bytes is not None and self.size_bytes() > self.max_bytes:
                self._evict_oldest()

    def size_bytes(self) -> int:
        """Bytes the entries occupy (the database's pages in use; free pages are reused)."""
        pages, free, size = (
            self._connection.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("page_count", "freelist_count", "page_size")
        )
        return int((pages - free) * size)

    def _evict_oldest(self) -> None:
        """Delete the oldest tenth of every table's entries in one transaction (caller holds the lock)."""
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            for table in _TABLES:
                count = self._connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                oldest = max(1, int(count * EVICTED_SHARE)) if count else 0
                self._connection.execute(
                    f"DELETE FROM {table} WHERE key IN (SELECT key FROM {table} ORDER BY created LIMIT ?)",
                    (oldest,),
                )
            self._connection.execute("COMMIT")
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self.evictions += 1

    def __len__(self) -> int:
        with self._lock:
            return sum(
                self._connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in _TABLES
            )

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

    @property
    def can_score_choices(self) -> bool:
        """True when the backend returns option log-probabilities."""
        return can_score_choices(self.backend)

    def choice_logprobs(
        self, requests: Sequence[GenerationRequest], options: Sequence[str]
    ) -> list[dict[str, float]]:
        """The backend's option log-probabilities, through the cache (same chunking as `generate`)."""
        if not self.can_score_choices:
            raise TypeError(f"{self.identity} gives no log-probabilities")
        keys = [cache_key(self.backend.identity, request, options) for request in requests]
        return self._through_cache(
            keys,
            requests,
            lookup=self.cache.get_choices if self.cache is not None else None,
            compute=lambda chunk: self.backend.choice_logprobs(chunk, options),  # type: ignore[attr-defined]
            store=self.cache.put_choices if self.cache is not None else None,
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        keys = [cache_key(self.backend.identity, request) for request in requests]
        return self._through_cache(
            keys,
            requests,
            lookup=self.cache.get_many if self.cache is not None else None,
            compute=self.backend.generate,
            store=self.cache.put_many if self.cache is not None else None,
        )

    def _through_cache(
        self,
        keys: list[str],
        requests: Sequence[GenerationRequest],
        *,
        lookup: Callable[[Sequence[str]], dict[str, R]] | None,
        compute: Callable[[list[GenerationRequest]], list[R]],
        store: Callable[[list[tuple[str, str, GenerationRequest, R]]], None] | None,
    ) -> list[R]:
        """Results for ``keys``: cached ones looked up, the rest computed in chunks, each chunk stored
        as soon as it returns."""
        identity = self.backend.identity
        results: dict[str, R] = lookup(keys) if lookup is not None else {}
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
            computed = compute([request for _, request in chunk])
            self.usage.seconds += time.perf_counter() - began
            self.usage.calls += len(chunk)
            for (key, _), result in zip(chunk, computed, strict=True):
                if isinstance(result, Generation):
                    self.usage.prompt_tokens += result.prompt_tokens
                    self.usage.completion_tokens += result.completion_tokens
                results[key] = result
            if store is not None:
                store([(key, identity, request, results[key]) for key, request in chunk])
        return [results[key] for key in keys]
