"""Rollout generation throughput on one GPU against the card's memory-bandwidth bound.

For the SmolLM2-135M and Qwen2.5-0.5B configurations (random bf16 weights): a 400-token prompt and
128 sampled new tokens at batch 1 and 64, with
- ``stock``: ``model.generate`` as shipped (dynamic cache, sdpa) - what RL's `sample_responses` calls;
- ``static``: the same call with a static KV cache, which transformers compiles (CUDA graphs).
Bound: each decoding step reads every weight once plus the batch's KV cache so far, at the measured
device-to-device copy bandwidth; tokens/s bound = batch / (bytes per step / bandwidth).

Run: ``python bench/gpu_generate.py [--batches 1 64]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_models import build, configs, report

PROMPT, NEW = 400, 128


def copy_bandwidth() -> float:
    """Bytes/s of a large device-to-device copy, counting bytes read plus bytes written."""
    import torch

    source = torch.randn(1 << 30, device="cuda", dtype=torch.bfloat16)  # 2 GiB
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        target.copy_(source)
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / 10
    return 2 * source.numel() * 2 / seconds


def bound(model: Any, batch: int, bandwidth: float) -> float:
    """Tokens/s if decoding only moved the weights and the KV cache (mean context PROMPT + NEW/2)."""
    config = model.config
    weight_bytes = sum(p.numel() for p in model.parameters()) * 2
    if not config.tie_word_embeddings:  # a tied matrix is read once, as the LM head
        weight_bytes -= model.get_input_embeddings().weight.numel() * 2  # embedding rows: a gather
    head_dim = config.hidden_size // config.num_attention_heads
    kv = 2 * config.num_hidden_layers * config.num_key_value_heads * head_dim * 2 * (PROMPT + NEW / 2) * batch
    return batch / ((weight_bytes + kv) / bandwidth)


def run(name: str, batch: int, mode: str, bandwidth: float) -> dict[str, Any]:
    import torch

    config = configs()[name]
    model = build(name, config).to("cuda", dtype=torch.bfloat16).eval()
    prompt = torch.randint(3, config.vocab_size, (batch, PROMPT), device="cuda")
    options: dict[str, Any] = dict(
        do_sample=True, temperature=1.0, top_p=1.0, top_k=None, max_new_tokens=NEW, min_new_tokens=NEW,
        pad_token_id=0, eos_token_id=None,
    )  # fmt: skip
    if mode == "static":
        options["cache_implementation"] = "static"
    with torch.no_grad():
        for _ in range(2 if mode == "static" else 1):  # warm-up (static: compile and capture)
            model.generate(prompt, attention_mask=torch.ones_like(prompt), **options)
        torch.cuda.synchronize()
        started = time.perf_counter()
        output = model.generate(prompt, attention_mask=torch.ones_like(prompt), **options)
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    new_tokens = (output.shape[1] - PROMPT) * batch
    limit = bound(model, batch, bandwidth)
    del model
    torch.cuda.empty_cache()
    return {"model": name, "mode": mode, "batch": batch, "tokens_per_s": round(new_tokens / seconds),
            "bound_tokens_per_s": round(limit), "share_of_bound": round(new_tokens / seconds / limit, 4),
            "seconds": round(seconds, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "qwen2.5-0.5b"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--modes", nargs="+", default=["stock", "static"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import torch

    bandwidth = copy_bandwidth()
    print(f"{torch.cuda.get_device_name()}: copy bandwidth {bandwidth / 1e12:.2f} TB/s", flush=True)
    for name in args.models:
        for batch in args.batches:
            for mode in args.modes:
                try:
                    result = run(name, batch, mode, bandwidth)
                except Exception as error:
                    result = {
                        "model": name,
                        "mode": mode,
                        "batch": batch,
                        "error": f"{type(error).__name__}: {error}"[:400],
                    }
                result["bandwidth_tb_s"] = round(bandwidth / 1e12, 2)
                report(result, args.out)


if __name__ == "__main__":
    main()
