"""Where the GPU time of one RL decode step and one SFT step goes: torch.profiler kernel tables.

- ``rollout``: `StaticRollouts` as `gpu_rollout.py` runs it (64 rows = 16 prompts x 4, 400-token prompts,
  128 new tokens, T 1, bf16 sampling copy, compiled forward + CUDA graph of the step), profiled over
  whole rollouts; the kernels grouped by kind (matmul, attention, sampling, elementwise, copies), with the
  step's GPU time against its memory-bandwidth bound; variants side by side in the process: transformers'
  SDPA attention (under compile: every KV head repeated per query head, as before), our packed decode
  attention (`guidedcot.rl.decode_attention`, now the default), and that with sampling by an exponential
  race (``argmax(p / E)``, E ~ Exp(1): the distribution of ``multinomial`` in one pass, no cumulative sum).
- ``sft``: one `gpu_sft.measure` variant with the profiler over steps after warm-up.

Run: ``python bench/gpu_profile.py rollout --out profile.jsonl`` (PYTHONPATH=src:bench)
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_generate import copy_bandwidth
from gpu_models import build, configs, report
from gpu_rollout import NEW, PROMPT, TOKENIZERS, bf16_bound, prompts_for

KINDS = (
    ("attention", re.compile(r"flash|fmha|attention|sdpa|efficient_attention|cutlassF", re.I)),
    ("matmul", re.compile(r"gemm|gemv|nvjet|sm90_xmma|cutlass|cublas|splitK|matmul|dot", re.I)),
    (
        "sampling",
        re.compile(r"multinomial|cumsum|scan|sort|topk|softmax|exponential|distribution|argmax|max", re.I),
    ),
    ("copy", re.compile(r"memcpy|memset|copy|cat|index|scatter|gather", re.I)),
    ("fused elementwise (triton)", re.compile(r"^triton_", re.I)),
)


def kind_of(name: str) -> str:
    for kind, pattern in KINDS:
        if pattern.search(name):
            return kind
    return "other elementwise"


def kernel_times(profiler: Any) -> dict[str, tuple[float, int]]:
    """Microseconds and launches of every GPU kernel (and copy) the profiler saw, by name."""
    from torch.autograd import DeviceType

    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for event in profiler.events():
        if event.device_type == DeviceType.CUDA:
            totals[event.name][0] += event.time_range.elapsed_us()
            totals[event.name][1] += 1
    return {name: (us, int(n)) for name, (us, n) in totals.items()}


def summarise(kernels: dict[str, tuple[float, int]], steps: int, top: int = 12) -> dict[str, Any]:
    """Per decode (or training) step: GPU microseconds by kind and the top kernels."""
    total = sum(us for us, _ in kernels.values()) or 1.0
    by_kind: dict[str, float] = defaultdict(float)
    for name, (us, _) in kernels.items():
        by_kind[kind_of(name)] += us
    ranked = sorted(kernels.items(), key=lambda item: -item[1][0])[:top]
    return {
        "gpu_us_per_step": round(total / steps, 1),
        "kernels_per_step": round(sum(n for _, n in kernels.values()) / steps, 1),
        "by_kind_us_per_step": {
            k: round(v / steps, 1) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])
        },
        "top_kernels": [
            {
                "name": name[:90],
                "us_per_step": round(us / steps, 1),
                "launches_per_step": round(n / steps, 1),
                "share": round(us / total, 3),
            }
            for name, (us, n) in ranked
        ],
    }


def exponential_choice(sampler: Any) -> Any:
    """A `StaticRollouts._choose` that samples by an exponential race instead of ``multinomial``."""
    import torch

    def choose(logits: Any) -> Any:
        for warp in sampler.warpers:
            logits = warp(sampler.response, logits)
        probs = torch.softmax(logits, dim=-1)
        return probs.div_(torch.empty_like(probs).exponential_()).argmax(dim=-1)

    return choose


def profile_steps(sampler: Any, prompts: list[list[int]], *, replay: bool) -> dict[str, Any]:
    """The kernels of NEW decode steps (the graph replayed, or the compiled step launched eagerly), the
    prefill left out: the state is set up before the profiler starts."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from guidedcot.rl.rollout import _padded_prompts

    ids, mask = _padded_prompts(prompts, sampler.tokenizer.pad_token_id, seq2seq=False, device="cuda")
    with torch.no_grad(), torch.autocast("cuda", enabled=False):
        sampler._start(ids, mask)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
            for _ in range(NEW):
                sampler.graph.replay() if replay else sampler._step()
            torch.cuda.synchronize()
    kernels = kernel_times(profiler)
    return summarise(kernels, NEW) if kernels else {"error": "the profiler saw no GPU kernels"}


VARIANTS = ("graph, SDPA + repeat_kv (before)", "graph, packed GQA decode attention",
            "graph, packed + exponential sampling", "graph, packed as matmul + softmax",
            "graph, packed + fused projections", "graph, packed as matmul + softmax + fused projections (now)")  # fmt: skip


def rollout(name: str, bandwidth: float, repeats: int, variants: list[str]) -> list[dict[str, Any]]:
    import torch
    from transformers import AutoTokenizer

    from guidedcot.rl import decode_attention
    from guidedcot.rl.rollout import StaticRollouts

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZERS[name])
    model = build(name, configs(vocab=len(tokenizer))[name]).to("cuda").eval()
    prompts = prompts_for(model.config.vocab_size, 0)
    rows = len(prompts)
    limit = bf16_bound(model, rows, bandwidth)

    def sampler_for(variant: str) -> Any:
        sampler = StaticRollouts(model, tokenizer, rows=rows, max_prompt_tokens=PROMPT, max_new_tokens=NEW,
                                 temperature=1.0, top_p=1.0, dtype=torch.bfloat16, compile=True,
                                 fuse="fused" in variant)  # fmt: skip
        if "repeat_kv" in variant:  # transformers' SDPA attention, as StaticRollouts had it before
            sampler.model.set_attn_implementation("sdpa")
        default = decode_attention.KERNEL
        decode_attention.KERNEL = "matmul" if "matmul" in variant else "sdpa"  # read at trace time: kept
        if "exponential" in variant:
            sampler._choose = exponential_choice(sampler)
        sampler.sample(prompts, generator_seed=1)  # compile and capture
        decode_attention.KERNEL = default
        return sampler

    results = []
    samplers = {}
    for variant in variants:
        try:
            started = time.perf_counter()
            samplers[variant] = (sampler_for(variant), time.perf_counter() - started)
        except Exception as error:  # one variant failing must not lose the others
            results.append(
                {"model": name, "variant": variant, "error": f"{type(error).__name__}: {error}"[:400]}
            )
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):  # alternating, so drift hits every variant alike
        for variant, (sampler, _) in samplers.items():
            torch.cuda.synchronize()
            started = time.perf_counter()
            sampler.sample(prompts, generator_seed=2)
            torch.cuda.synchronize()
            times[variant].append(time.perf_counter() - started)
    before = "graph, SDPA + repeat_kv (before)"
    base = min(times[before if before in times else variants[0]]) if times else None
    for variant, (sampler, setup) in samplers.items():
        seconds = min(times[variant])
        summary = {f"graph: {k}": v for k, v in profile_steps(sampler, prompts, replay=True).items()}
        if variant == before:  # the same kernels launched one by one (if CUPTI misses graph kernels)
            summary |= {f"no graph: {k}": v for k, v in profile_steps(sampler, prompts, replay=False).items()}
        results.append({
            "model": name, "variant": variant, "rows": rows, "new_tokens": NEW, "seconds": round(seconds, 4),
            "tokens_per_s": round(rows * NEW / seconds), "bound_tokens_per_s": round(limit),
            "share_of_bound": round(rows * NEW / seconds / limit, 4),
            "bound_us_per_step": round(rows / limit * 1e6, 1),
            "wall_us_per_step": round(seconds / NEW * 1e6, 1),
            "speedup": round(base / seconds, 3) if base else None, "setup_s": round(setup, 1), **summary,
        })  # fmt: skip
    return results


def sft(name: str, variant: str, steps: int) -> dict[str, Any]:
    """`gpu_sft.measure` of one variant, with its last ``steps`` steps profiled."""
    import gpu_sft
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import TrainerCallback

    state: dict[str, Any] = {}
    warmup = 6

    class Profiled(TrainerCallback):
        def on_step_begin(self, args: Any, train_state: Any, control: Any, **kwargs: Any) -> None:
            if train_state.global_step == warmup:
                torch.cuda.synchronize()
                state["profiler"] = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
                state["profiler"].__enter__()

        def on_step_end(self, args: Any, train_state: Any, control: Any, **kwargs: Any) -> None:
            if train_state.global_step == warmup + steps:
                torch.cuda.synchronize()
                state["profiler"].__exit__(None, None, None)
                state["kernels"] = kernel_times(state["profiler"])

    lengths = json.loads(Path(".gpu/lengths.json").read_text())
    random.Random(1).shuffle(lengths)  # as gpu_sft.py's main
    peak = gpu_sft.peak_bf16_tflops()
    result = gpu_sft.measure(name, variant, peak, steps, warmup, lengths, callbacks=[Profiled()])
    return {**result, "profiled_steps": steps, **summarise(state["kernels"], steps, top=15)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["rollout", "sft"])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-0.5b"])
    parser.add_argument("--variant", default="pack+compile+chunk@128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", type=int, default=[0, 1, 2, 3], help="indices into VARIANTS")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import torch

    bandwidth = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()}: copy bandwidth {bandwidth / 1e12:.2f} TB/s", flush=True)
    for model in args.models:
        try:
            results = rollout(model, bandwidth, args.repeats, [VARIANTS[i] for i in args.variants]) if args.part == "rollout" else [
                sft(model, args.variant, args.steps)]  # fmt: skip
        except Exception as error:
            import traceback

            traceback.print_exc()
            results = [{"model": model, "part": args.part, "error": f"{type(error).__name__}: {error}"[:600]}]
        for result in results:
            report({**result, "bandwidth_tb_s": round(bandwidth / 1e12, 2)}, args.out)


if __name__ == "__main__":
    main()
