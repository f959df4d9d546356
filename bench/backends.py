"""Backend benchmark: ratios measured side by side in one process (machines here are noisy).

(a) a repeated batch through the persistent cache, warm vs cold;
(b) batched vs one-at-a-time throughput, llama.cpp and transformers, SmolLM2;
(c) requests sharing a long prefix (question + context, different rationales) with llama.cpp's
    prefix reuse on vs off.

Run: ``.venv/bin/python bench/backends.py [--requests 8] [--repeats 2]``; prints a Markdown table
to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from guidedcot.data import build_context, load_examples
from guidedcot.data.context import ContextMode
from guidedcot.llm import CachedLanguageModel, GenerationCache, GenerationRequest, LanguageModel, chat
from guidedcot.llm.factory import load_backend
from guidedcot.llm.llamacpp import LlamaCppLanguageModel
from guidedcot.models import resolve_model

DATA = Path(os.environ.get("GUIDEDCOT_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))


def timed(work: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` runs of ``work``."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def distinct_requests(n: int, max_new_tokens: int) -> list[GenerationRequest]:
    """``n`` different short questions, greedy."""
    return [chat(f"Name one fact about the number {i + 1}.", max_new_tokens=max_new_tokens) for i in range(n)]


def shared_prefix_requests(n: int) -> list[GenerationRequest]:
    """``n`` guided-answer prompts: one question and gold context, ``n`` different rationales."""
    example = load_examples(DATA / "hotpotqa" / "hotpot_dev_distractor_103.json").examples[0]
    context = build_context(example, ContextMode.DISTRACTOR).text
    return [
        chat(
            f"Question: {example.question}\nContext:\n{context}\n"
            f"Rationale: candidate reasoning number {i} about the question.\nAnswer briefly.",
            max_new_tokens=8,
        )
        for i in range(n)
    ]


def one_at_a_time(model: LanguageModel, requests: Sequence[GenerationRequest]) -> None:
    for request in requests:
        model.generate([request])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=8, help="requests per batch")
    parser.add_argument("--repeats", type=int, default=2, help="runs per measurement (median)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args(argv)
    rows: list[tuple[str, str, str, str]] = []
    requests = distinct_requests(args.requests, args.max_new_tokens)

    llama = load_backend("smollm2", "llamacpp", n_ctx=2048, n_parallel=4)
    # (a) cache: cold = every request computed and stored; warm = the same batch read back.
    with tempfile.TemporaryDirectory() as folder:
        cold_times, warm_times = [], []
        for run in range(args.repeats):
            cached = CachedLanguageModel(llama, GenerationCache(Path(folder) / f"cache{run}.sqlite"))
            cold_times.append(timed(lambda m=cached: m.generate(requests), 1))
            warm_times.append(timed(lambda m=cached: m.generate(requests), 1))
        cold, warm = statistics.median(cold_times), statistics.median(warm_times)
    rows.append(
        (
            "(a) cache, llama.cpp SmolLM2",
            f"{args.requests} requests",
            f"cold {cold:.2f} s / warm {warm * 1000:.1f} ms",
            f"{cold / warm:.0f}x",
        )
    )

    # (b) batched vs one at a time.
    llama.generate(requests[:1])  # warm-up
    batched = timed(lambda: llama.generate(requests), args.repeats)
    single = timed(lambda: one_at_a_time(llama, requests), args.repeats)
    rows.append(
        (
            "(b) llama.cpp, 4 slots",
            f"{args.requests} x {args.max_new_tokens} tokens",
            f"one-by-one {single:.2f} s / batched {batched:.2f} s",
            f"{single / batched:.2f}x",
        )
    )
    hf = load_backend("smollm2", "transformers", batch_size=args.requests)
    hf.generate(requests[:1])
    batched = timed(lambda: hf.generate(requests), args.repeats)
    single = timed(lambda: one_at_a_time(hf, requests), args.repeats)
    rows.append(
        (
            "(b) transformers fp32",
            f"{args.requests} x {args.max_new_tokens} tokens",
            f"one-by-one {single:.2f} s / batched {batched:.2f} s",
            f"{single / batched:.2f}x",
        )
    )

    # (c) prefix reuse on vs off, same prompts, one slot so every request can reuse the last one's prefix.
    prefixed = shared_prefix_requests(args.requests)
    gguf = resolve_model("smollm2", hf=False)
    results = {}
    for reuse in (True, False):
        model = LlamaCppLanguageModel(
            gguf.gguf_path, identity=gguf.identity, n_ctx=4096, n_parallel=1, prefix_reuse=reuse
        )
        model.generate(prefixed[:1])
        model.cached_prompt_tokens = 0
        seconds = timed(lambda m=model: one_at_a_time(m, prefixed), args.repeats)
        prompt_tokens = sum(g.prompt_tokens for g in model.generate(prefixed))
        results[reuse] = (seconds, model.cached_prompt_tokens / (args.repeats + 1), prompt_tokens)
    (on, reused, total), (off, _, _) = results[True], results[False]
    rows.append(
        (
            "(c) shared prefix, llama.cpp 1 slot",
            f"{args.requests} prompts of ~{total // args.requests} tokens",
            f"off {off:.2f} s / on {on:.2f} s; {reused / total:.0%} of prompt tokens reused",
            f"{off / on:.2f}x",
        )
    )

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, {platform.platform()}"
    )
    print(f"Date: {dt.date.today().isoformat()}; median of {args.repeats} runs\n")
    print("| measurement | workload | times | ratio |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
