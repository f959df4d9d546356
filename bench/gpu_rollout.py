"""RL rollouts on one GPU: `sample_responses` (transformers' generate, dynamic cache) against
`StaticRollouts` (static cache, one compiled decode step with CUDA graphs, a bf16 sampling copy), as
`guidedcot rl` calls them, against the card's memory-bandwidth bound; and the checks that decide adoption.

Setting: the policy in fp32 master weights under bf16 autocast (what RL holds on a GPU), 64 rows = 16
prompts x 4 rationales (a GRPO batch), prompts of 400 tokens, 128 sampled tokens at temperature 1.
Bound: each decoding step reads every bf16 weight once plus the batch's KV cache so far at the copy
bandwidth measured in the same call (as `gpu_generate.py`).

Checks (on the same random model with its tied embedding scaled x8, so greedy margins exceed bf16 rounding):
- greedy text: static (compiled, bf16 copy) vs generate under autocast (fp32 weights) and vs generate on
  the bf16 copy itself; rows identical of 64 and the mean length of the agreeing prefix;
- after an in-place change of every fp32 weight (an optimizer step) and `sync`: greedy again, no NaN;
- sampled: per-token log-probs of the static samples under the training forward (`PolicyModel`, fp32
  weights, autocast) vs under the bf16 sampling copy: the gap the sampler's distribution has.

Run: ``python bench/gpu_rollout.py --out rollout.jsonl`` (PYTHONPATH=src:bench)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_generate import copy_bandwidth
from gpu_models import build, configs, report

PROMPT, NEW, DISTINCT, GROUP = 400, 128, 16, 4
TOKENIZERS = {
    "smollm2-135m": ".gpu/smollm2-tokenizer",
    "qwen2.5-0.5b": ".gpu/qwen-tokenizer",
    "tiny-reader": ".gpu/smollm2-tokenizer",
}
MEASURED = ("smollm2-135m", "qwen2.5-0.5b")
DEVICE = os.environ.get("BENCH_DEVICE", "cuda")  # "cpu": a smoke run of the script itself (no compile)


def bf16_bound(model: Any, rows: int, bandwidth: float) -> float:
    """Tokens/s if a decode step only moved the bf16 weights and the KV cache (mean context PROMPT + NEW/2)."""
    config = model.config
    weights = sum(p.numel() for p in model.parameters()) * 2
    head_dim = config.hidden_size // config.num_attention_heads
    kv = 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * 2 * (PROMPT + NEW / 2) * rows
    return rows / ((weights + kv) / bandwidth)


def prompts_for(vocab: int, seed: int) -> list[list[int]]:
    import torch

    g = torch.Generator().manual_seed(seed)
    distinct = [torch.randint(3, vocab, (PROMPT,), generator=g).tolist() for _ in range(DISTINCT)]
    return [p for p in distinct for _ in range(GROUP)]


def sync() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        result = fn()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def speed(name: str, bandwidth: float, repeats: int) -> list[dict[str, Any]]:
    import torch
    from transformers import AutoTokenizer

    from guidedcot.rl.rollout import StaticRollouts, sample_responses

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZERS[name])
    model = build(name, configs(vocab=len(tokenizer))[name]).to(DEVICE).eval()  # fp32 master weights
    prompts = prompts_for(model.config.vocab_size, 0)
    rows = len(prompts)

    def dynamic() -> Any:
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            return sample_responses(model, tokenizer, prompts, seq2seq=False, max_new_tokens=NEW, temperature=1.0,
                                    top_p=1.0, generator_seed=1, device=DEVICE)  # fmt: skip

    def static(compile: bool, capture: bool) -> tuple[Any, float]:
        started = time.perf_counter()
        sampler = StaticRollouts(model, tokenizer, rows=rows, max_prompt_tokens=PROMPT, max_new_tokens=NEW,
                                 temperature=1.0, top_p=1.0, dtype=torch.bfloat16, compile=compile)  # fmt: skip
        sampler.capture = capture and sampler.capture
        sampler.sample(prompts, generator_seed=1)  # compile and capture
        return (lambda: sampler.sample(prompts, generator_seed=1)), time.perf_counter() - started

    dynamic()  # warm-up
    limit = bf16_bound(model, rows, bandwidth)
    modes: list[tuple[str, Any, float | None]] = [("generate, dynamic cache (today)", dynamic, None)]
    for label, compile, capture in (("static, eager step", False, False), ("static, compiled forward", True, False),
                                    ("static, compiled + CUDA graph of the step", True, True)):  # fmt: skip
        fn, setup = static(compile, capture)
        modes.append((label, fn, setup))
    results = []
    for mode, fn, setup in modes:
        seconds, rollout = timed(fn, repeats)
        tokens = rollout.response_ids.shape[0] * rollout.response_ids.shape[1]
        results.append({
            "model": name, "mode": mode, "rows": rows, "new_tokens": rollout.response_ids.shape[1],
            "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds),
            "bound_tokens_per_s": round(limit), "share_of_bound": round(tokens / seconds / limit, 4),
            "bandwidth_tb_s": round(bandwidth / 1e12, 2), "speedup": round(results[0]["seconds"] / seconds, 2)
            if results else 1.0, "setup_s": round(setup, 1) if setup is not None else None,
        })  # fmt: skip
    return results


def agreement(a: Any, b: Any) -> dict[str, float]:
    """Rows with identical greedy text, and the mean length of the prefix two rollouts share."""
    width = min(a.shape[1], b.shape[1])
    same = (a[:, :width] == b[:, :width]).int()
    prefix = same.cumprod(dim=1).sum(dim=1).float()
    identical = ((prefix == width) & (a.shape[1] == b.shape[1])).sum().item()
    return {
        "identical_rows": int(identical),
        "mean_shared_prefix": round(prefix.mean().item(), 1),
        "width": width,
    }


def checks(name: str) -> dict[str, Any]:
    import torch
    from transformers import AutoTokenizer

    from guidedcot.rl.policy import PolicyModel
    from guidedcot.rl.rollout import StaticRollouts, sample_responses

    tokenizer = AutoTokenizer.from_pretrained(TOKENIZERS[name])
    model = build(name, configs(vocab=len(tokenizer))[name]).to(DEVICE).eval()
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(
            8
        )  # sharper distributions: greedy margins over bf16 rounding
    prompts = prompts_for(model.config.vocab_size, 1)
    settings = {"max_new_tokens": NEW, "top_p": 1.0, "generator_seed": 2, "device": DEVICE, "seq2seq": False}
    made = {
        kind: StaticRollouts(model, tokenizer, rows=len(prompts), max_prompt_tokens=PROMPT, max_new_tokens=NEW,
                             temperature=0.0, top_p=1.0, dtype=torch.bfloat16, compile=kind == "graph")
        for kind in ("eager", "graph")
    }  # fmt: skip
    result: dict[str, Any] = {"model": name, "check": "static vs generate, greedy and sampled"}

    def compare(tag: str) -> None:
        graph = made["graph"].sample(prompts, generator_seed=2).response_ids
        eager = made["eager"].sample(prompts, generator_seed=2).response_ids
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            autocast = sample_responses(model, tokenizer, prompts, temperature=0.0, **settings).response_ids
        same_copy = sample_responses(made["eager"].model, tokenizer, prompts, temperature=0.0, **settings)
        result[f"{tag}: static eager vs generate on the same bf16 copy"] = agreement(
            eager, same_copy.response_ids
        )
        result[f"{tag}: static graph vs static eager (compiler rounding)"] = agreement(graph, eager)
        result[f"{tag}: static graph vs generate under autocast (today)"] = agreement(graph, autocast)

    compare("greedy")
    with torch.no_grad():  # an optimizer step: every fp32 weight changes in place
        for parameter in model.parameters():
            parameter.mul_(1 + 0.01 * torch.randn_like(parameter))
    for sampler in made.values():
        sampler.sync()
    compare("greedy after an update and sync")
    with torch.no_grad():  # back to the unsharpened scale for the sampled check
        model.get_input_embeddings().weight.div_(8)
    sampler = StaticRollouts(model, tokenizer, rows=len(prompts), max_prompt_tokens=PROMPT, max_new_tokens=NEW,
                             temperature=1.0, top_p=1.0, dtype=torch.bfloat16, compile=DEVICE == "cuda")  # fmt: skip
    rollout = sampler.sample(prompts, generator_seed=3)
    again = sampler.sample(prompts, generator_seed=3)
    result["sampled: same seed, same samples"] = bool(torch.equal(rollout.response_ids, again.response_ids))
    mask = rollout.response_mask.bool()
    with torch.no_grad():
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            train, _, _ = PolicyModel(model, seq2seq=False, with_value_head=False)(**rollout.as_kwargs())
        copy_logp, _, _ = PolicyModel(sampler.model, seq2seq=False, with_value_head=False)(
            **rollout.as_kwargs()
        )
    gap = (train - copy_logp)[mask]
    result["sampled_logp_train_forward_mean"] = round(train[mask].mean().item(), 4)
    result["sampled_logp_gap_mean_abs"] = round(gap.abs().mean().item(), 5)
    result["sampled_logp_gap_max_abs"] = round(gap.abs().max().item(), 4)
    result["sampled_logp_ratio_mean"] = round(gap.exp().mean().item(), 5)
    result["sampled_any_nan"] = bool(torch.isnan(train).any() or torch.isnan(copy_logp).any())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MEASURED))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--parts", nargs="+", choices=["checks", "speed"], default=["checks", "speed"])
    args = parser.parse_args()
    import torch

    bandwidth = copy_bandwidth() if DEVICE == "cuda" else 1e11
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE
    print(f"{name}: copy bandwidth {bandwidth / 1e12:.2f} TB/s", flush=True)
    for model in args.models:
        parts = {"checks": checks, "speed": lambda m: speed(m, bandwidth, args.repeats)}
        for part in (parts[name] for name in args.parts):
            try:
                results = part(model)
            except Exception as error:  # one part failing must not lose the others' figures
                import traceback

                traceback.print_exc()
                results = {"model": model, "error": f"{type(error).__name__}: {error}"[:600]}
            for result in results if isinstance(results, list) else [results]:
                report(result, args.out)


if __name__ == "__main__":
    main()
