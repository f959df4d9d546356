"""The generation cache at RL scale: file size, store and lookup time as entries pile up, without a
bound (before) and with one (after), side by side in one process.

Entries are shaped like an RL run's reward calls (a ~2.3 KB prompt: question, gold context and
rationale; a short answer), as measured in the development cache after a 12-step GRPO run and its
evaluations (1,049 entries, 2.9 MB). Each round stores a step's worth (256 entries, 16 chunks of 16)
into both caches, then looks up 16 recent keys (hits) and 16 absent ones (misses).

Run: ``.venv/bin/python bench/cache_scale.py [--entries 40000 --bound-mb 32]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from guidedcot.llm import Generation, GenerationCache, cache_key, chat

CONTEXT = "Title: " + "a sentence of gold context that the reader reads before the rationale. " * 28


def entries(start: int, count: int) -> list[tuple[str, str, object, Generation]]:
    """``count`` reward-call entries numbered from ``start``."""
    rows = []
    for n in range(start, start + count):
        request = chat(f"Question {n}?\nContext:\n{CONTEXT}\nRationale: the context states it, {n}.")
        rows.append(
            (cache_key("reader", request), "reader", request, Generation(f"Answer: {n}", "stop", 560, 4))
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=40_000)
    parser.add_argument("--bound-mb", type=float, default=32)
    parser.add_argument("--per-round", type=int, default=256)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cache-scale-"))
    caches = {
        "unbounded": GenerationCache(folder / "unbounded.sqlite", max_bytes=None),
        f"bound {args.bound_mb:g} MB": GenerationCache(
            folder / "bounded.sqlite", max_bytes=int(args.bound_mb * 2**20)
        ),
    }
    store: dict[str, list[float]] = {name: [] for name in caches}
    hits: dict[str, list[float]] = {name: [] for name in caches}
    misses: dict[str, list[float]] = {name: [] for name in caches}
    checkpoints = {args.entries // 8, args.entries // 2, args.entries}
    print(
        f"{'entries':>8} | "
        + " | ".join(f"{name}: MB db+wal, store ms/entry, 16 hits ms, 16 misses ms" for name in caches)
    )
    for done in range(0, args.entries, args.per_round):
        batch = entries(done, args.per_round)
        recent = [key for key, *_ in batch[-16:]]
        absent = [key for key, *_ in entries(10**9 + done, 16)]
        for name, cache in caches.items():
            began = time.perf_counter()
            for start in range(0, len(batch), 16):
                cache.put_many(batch[start : start + 16])  # type: ignore[arg-type]
            store[name].append((time.perf_counter() - began) * 1e3 / len(batch))
            began = time.perf_counter()
            assert len(cache.get_many(recent)) == 16
            hits[name].append((time.perf_counter() - began) * 1e3)
            began = time.perf_counter()
            assert not cache.get_many(absent)
            misses[name].append((time.perf_counter() - began) * 1e3)
        if done + args.per_round in checkpoints or done + args.per_round >= args.entries:
            cells = []
            for name, cache in caches.items():
                wal = cache.path.with_name(cache.path.name + "-wal")
                size = f"{cache.path.stat().st_size / 2**20:.1f}+{(wal.stat().st_size if wal.exists() else 0) / 2**20:.1f}"
                cells.append(f"{size:>11}, {statistics.median(store[name][-8:]):.3f}, "
                             f"{statistics.median(hits[name][-8:]):.2f}, {statistics.median(misses[name][-8:]):.2f}")  # fmt: skip
            print(f"{done + args.per_round:>8} | " + " | ".join(cells), flush=True)
            if done + args.per_round >= args.entries:
                break
    bounded = list(caches.values())[1]
    print(
        f"evictions of the bounded cache: {bounded.evictions}; entries kept: {len(bounded)} of {args.entries}"
    )


if __name__ == "__main__":
    main()
