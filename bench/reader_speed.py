"""The reader's speed on this CPU: prompt tokens/s and generated tokens/s of the embedded default
reader (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) beside this CPU's bound, for the llama.cpp settings
that matter and for several builds of llama.cpp.

Parts (variants alternate within each repeat, so a noisy machine slows them alike):
- settings: through xllamacpp exactly as guidedcot runs the reader (``server_params``), a fresh
  in-process server per variant: threads, batch / micro-batch, flash attention, slots (concurrent
  requests), and other quantisation types made from the shipped GGUF (``--quantize PATH`` to a
  ``llama-quantize`` binary; a requantised model only tells the speed, not the accuracy).
  Prompts are real: the gold context (~300 tokens) and the distractor context (~1300 tokens) of
  HotpotQA dev questions, each distinct (no prefix reuse); generation writes 64 tokens.
- engines (``--engine NAME=SITE``, repeatable): the default setting through each xllamacpp install
  (``SITE``: a folder put first on ``PYTHONPATH``, ``-`` for the one installed), each in its own
  process, alternating: the prebuilt AVX2 wheel against the AVX-512 build the Makefile makes.
- builds (``--llama-bench NAME=PATH``, repeatable): llama.cpp's own ``llama-bench`` of builds of
  the same llama.cpp commit (say AVX2 as in the prebuilt wheel, and AVX-512 + VNNI) on the GGUF.
- bound: FLOPs per token (2 x the parameters a token passes through) x the peak of a matmul
  measured here with torch (fp32 and bf16), and for generation the weight bytes per token over
  the measured memory copy rate.

Run: ``.venv/bin/python bench/reader_speed.py [--repeats 2] [--quantize /path/llama-quantize]
[--engine prebuilt=/tmp/prebuilt-site --engine native=-] [--llama-bench avx2=/path/llama-bench ...]``;
prints Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guidedcot.data import build_context, load_examples
from guidedcot.data.context import ContextMode
from guidedcot.llm.llamacpp import server_params
from guidedcot.models import resolve_model

DATA = Path(os.environ.get("GUIDEDCOT_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
GENERATED = 64


@dataclass
class Variant:
    """One llama.cpp setting: changes to ``server_params`` and the GGUF it loads."""

    name: str
    gguf: Path
    threads: int = 2
    batch: int = 2048
    ubatch: int = 512
    flash: int = -1  # llama.cpp's flash_attn_type: -1 auto, 0 off, 1 on
    slots: int = 1
    prompt_tps: list[float] = field(default_factory=list)
    long_prompt_tps: list[float] = field(default_factory=list)
    generate_tps: list[float] = field(default_factory=list)


def prompts(mode: ContextMode, n: int, offset: int) -> list[str]:
    """``n`` distinct reader prompts (question + context) of HotpotQA dev questions."""
    examples = load_examples(DATA / "hotpotqa" / "hotpot_dev_distractor_103.json").examples
    chosen = examples[offset : offset + n]
    return [
        f"Context:\n{build_context(e, mode).text}\n\nQuestion: {e.question}\nAnswer briefly.\nAnswer:"
        for e in chosen
    ]


def start_server(variant: Variant) -> Any:
    import xllamacpp

    params = server_params(
        variant.gguf, n_ctx=4096, n_parallel=variant.slots, n_threads=variant.threads, prefix_reuse=False
    )
    params.n_batch, params.n_ubatch = variant.batch, variant.ubatch
    params.flash_attn_type = xllamacpp.llama_flash_attn_type(variant.flash)
    return xllamacpp.Server(params)


def prompt_rate(server: Any, texts: list[str]) -> float:
    """Prompt tokens per second over ``texts`` (one generated token each, no prefix reuse)."""
    tokens = seconds = 0.0
    for text in texts:
        timings = server.handle_completions({"prompt": text, "max_tokens": 1, "cache_prompt": False})[
            "timings"
        ]
        tokens += timings["prompt_n"]
        seconds += timings["prompt_ms"] / 1000
    return tokens / seconds


def generate_rate(server: Any, text: str, streams: int) -> float:
    """Generated tokens per second over ``streams`` concurrent requests of ``GENERATED`` tokens."""
    body = {"prompt": text, "max_tokens": GENERATED, "ignore_eos": True, "cache_prompt": False}

    def one(_: int) -> int:
        return int(server.handle_completions(dict(body))["timings"]["predicted_n"])

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        produced = sum(pool.map(one, range(streams)))
    return produced / (time.perf_counter() - began)


def measure(variant: Variant, short: list[str], long: list[str]) -> None:
    server = start_server(variant)  # released when this returns, before the next variant loads
    server.handle_completions({"prompt": "warm up", "max_tokens": 2})
    variant.prompt_tps.append(prompt_rate(server, short))
    variant.long_prompt_tps.append(prompt_rate(server, long))
    variant.generate_tps.append(generate_rate(server, short[0], variant.slots))


def requantize(quantize: Path, source: Path, kind: str, folder: Path) -> Path:
    """``source`` requantised to ``kind`` (Q4_0, Q8_0...) by llama.cpp's ``llama-quantize``."""
    target = folder / f"{source.stem}.{kind}.gguf"
    if not target.exists():
        command = [str(quantize), "--allow-requantize", str(source), str(target), kind, "2"]
        subprocess.run(command, check=True, capture_output=True)
    return target


def model_flops(gguf: Path) -> tuple[float, float, float]:
    """(prompt FLOPs per token, generated FLOPs per token, weight bytes) of a GGUF.

    A prompt token passes every weight but the LM head (llama.cpp projects only the last prompt
    position); a generated token passes the LM head as well."""
    from gguf import GGUFReader

    tensors = {t.name: t for t in GGUFReader(str(gguf)).tensors}
    body = sum(
        int(t.n_elements) for name, t in tensors.items() if name not in ("token_embd.weight", "output.weight")
    )
    head = int(tensors.get("output.weight", tensors["token_embd.weight"]).n_elements)
    weight_bytes = sum(int(t.n_bytes) for t in tensors.values())
    return 2.0 * body, 2.0 * (body + head), float(weight_bytes)


def matmul_peak(dtype_name: str, threads: int) -> float:
    """FLOP/s of a (512 x 1536) @ (1536 x 8960) matmul (the reader's MLP shape), best of 5."""
    import torch

    torch.set_num_threads(threads)
    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(512, 1536, dtype=dtype), torch.randn(1536, 8960, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - began)
    return 2 * 512 * 1536 * 8960 / best


def copy_rate(threads: int) -> float:
    """Bytes/s of copying a 1 GB tensor (read + write counted), best of 3."""
    import torch

    torch.set_num_threads(threads)
    source = torch.empty(2**28, dtype=torch.float32).fill_(1.0)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - began)
    return 2 * source.numel() * 4 / best


def llama_bench(binary: Path, gguf: Path, threads: int) -> tuple[float, float]:
    """(prompt tokens/s at 512, generated tokens/s at 64) from ``llama-bench``."""
    command = [str(binary), "-m", str(gguf), "-t", str(threads), "-p", "512", "-n", "64", "-r", "2", "-o", "json"]  # fmt: skip
    rows = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    prompt = next(r["avg_ts"] for r in rows if r["n_prompt"] > 0)
    generate = next(r["avg_ts"] for r in rows if r["n_gen"] > 0)
    return prompt, generate


def engine_rates(site: str, threads: int, n_prompts: int) -> tuple[float, float, float]:
    """The default variant's three rates measured in a new process on the xllamacpp in ``site``."""
    env = dict(os.environ)
    if site != "-":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        __file__,
        "--one-default",
        "--threads",
        str(threads),
        "--prompts",
        str(n_prompts),
    ]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    rates = json.loads(done.stdout.strip().splitlines()[-1])
    return rates["prompt"], rates["long_prompt"], rates["generate"]


def alternated_medians(
    names: list[str], run: Callable[[str], tuple[float, ...]], repeats: int
) -> dict[str, list[float]]:
    """``run(name)`` for every name in turn, ``repeats`` rounds; the median of each rate per name."""
    rounds: dict[str, list[tuple[float, ...]]] = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            rounds[name].append(run(name))
    return {
        name: [median(list(column)) for column in zip(*rows, strict=True)] for name, rows in rounds.items()
    }


def ratio_rows(rates: dict[str, list[float]]) -> list[str]:
    """One Markdown row per name: each rate with its ratio to the first name's."""
    base = next(iter(rates.values()))
    return [
        f"| {name} | " + " | ".join(ratio_text(v, b) for v, b in zip(values, base, strict=True)) + " |"
        for name, values in rates.items()
    ]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio_text(value: float, base: float) -> str:
    return f"{value:.1f} ({value / base:.2f}x)"


def settings_table(variants: list[Variant], bound: Callable[[float, str], str]) -> list[str]:
    base = variants[0]
    lines = [
        "| variant | prompt tok/s, gold (~300) | prompt tok/s, distractor (~1300) | generated tok/s (all slots) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for v in variants:
        lines.append(
            f"| {v.name} | {ratio_text(median(v.prompt_tps), median(base.prompt_tps))} "
            f"| {ratio_text(median(v.long_prompt_tps), median(base.long_prompt_tps))} "
            f"| {ratio_text(median(v.generate_tps), median(base.generate_tps))} |"
        )
    lines.append(
        f"| bound of {base.name} | {bound(median(base.prompt_tps), 'prompt')} "
        f"| {bound(median(base.long_prompt_tps), 'prompt')} | {bound(median(base.generate_tps), 'generate')} |"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2, help="rounds over all variants (median)")
    parser.add_argument("--prompts", type=int, default=3, help="distinct prompts per context setting")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--quantize", type=Path, help="llama-quantize binary: also try Q4_0 and Q8_0")
    parser.add_argument("--llama-bench", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--engine", action="append", default=[], metavar="NAME=SITE")
    parser.add_argument("--skip-settings", action="store_true", help="only the engines, builds and the bound")
    parser.add_argument("--one-default", action="store_true", help=argparse.SUPPRESS)  # a child of --engine
    args = parser.parse_args(argv)

    gguf = resolve_model("qwen2.5-coder-1.5b-instruct", hf=False).gguf_path
    short = prompts(ContextMode.GOLD, args.prompts, 0)
    long = prompts(ContextMode.DISTRACTOR, max(1, args.prompts - 1), args.prompts)
    if args.one_default:
        variant = Variant("default", gguf, threads=args.threads)
        measure(variant, short, long)
        rates = {"prompt": variant.prompt_tps[0], "long_prompt": variant.long_prompt_tps[0]}
        print(json.dumps({**rates, "generate": variant.generate_tps[0]}))
        return 0
    prompt_flops, generate_flops, weight_bytes = model_flops(gguf)
    peaks = {name: matmul_peak(name, args.threads) for name in ("float32", "bfloat16")}
    bandwidth = copy_rate(args.threads)

    def bound(rate: float, kind: str) -> str:
        if kind == "generate":
            ceiling = bandwidth / weight_bytes
            return f"{rate / ceiling:.0%} of {ceiling:.1f} tok/s (weights / copy rate)"
        shares = [f"{rate * prompt_flops / peak:.0%} of {name}" for name, peak in peaks.items()]
        return f"{rate * prompt_flops / 1e9:.0f} GFLOP/s = {', '.join(shares)}"

    print(
        f"Reader {gguf.name}: {prompt_flops / 1e9:.2f} GFLOP per prompt token, {generate_flops / 1e9:.2f} per "
        f"generated token, {weight_bytes / 1e9:.2f} GB of weights. Matmul peak here ({args.threads} threads): "
        + ", ".join(f"{name} {peak / 1e9:.0f} GFLOP/s" for name, peak in peaks.items())
        + f"; memory copy {bandwidth / 1e9:.1f} GB/s.\n"
    )
    if not args.skip_settings:
        t = args.threads
        variants = [
            Variant(f"default: {t} threads, batch 2048 / ubatch 512, flash auto, 1 slot", gguf, threads=t),
            Variant("1 thread", gguf, threads=1),
            Variant("batch 4096 / ubatch 2048", gguf, threads=t, batch=4096, ubatch=2048),
            Variant("flash attention on", gguf, threads=t, flash=1),
            Variant("flash attention off", gguf, threads=t, flash=0),
            Variant("2 slots (2 concurrent requests)", gguf, threads=t, slots=2),
            Variant("4 slots (4 concurrent requests)", gguf, threads=t, slots=4),
        ]
        with tempfile.TemporaryDirectory() as folder:
            if args.quantize:
                for kind in ("Q4_0", "Q8_0"):
                    requantized = requantize(args.quantize, gguf, kind, Path(folder))
                    variants.append(Variant(f"{kind} (requantised from Q4_K_M)", requantized, threads=t))
            for _ in range(args.repeats):
                for variant in variants:
                    measure(variant, short, long)
        print("\n".join(settings_table(variants, bound)) + "\n")
    if args.engine:
        sites = dict(item.split("=", 1) for item in args.engine)
        rates = alternated_medians(
            list(sites), lambda name: engine_rates(sites[name], args.threads, args.prompts), args.repeats
        )
        print(
            "| xllamacpp install (default setting) | prompt tok/s, gold | prompt tok/s, distractor | generated tok/s |"
        )
        print("| --- | ---: | ---: | ---: |")
        print("\n".join(ratio_rows(rates)) + "\n")
    if args.llama_bench:
        binaries = {name: Path(path) for name, path in (item.split("=", 1) for item in args.llama_bench)}
        rates = alternated_medians(
            list(binaries), lambda name: llama_bench(binaries[name], gguf, args.threads), args.repeats
        )
        print(
            f"| llama-bench build ({args.threads} threads) | prompt tok/s (pp512) | generated tok/s (tg64) |"
        )
        print("| --- | ---: | ---: |")
        print("\n".join(ratio_rows(rates)))
        first, (base_pp, base_tg) = next(iter(rates.items()))
        print(f"| bound of {first} | {bound(base_pp, 'prompt')} | {bound(base_tg, 'generate')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
