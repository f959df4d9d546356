"""SFT throughput and model FLOPs utilisation of the student's training on one GPU (or several,
under ``accelerate launch``), side by side in one process, against the card's measured bf16 peak.

Variants (each on a fresh randomly initialised model of the real configuration):
- ``stock``: the HF Trainer as shipped (fp32 weights, bf16 autocast, fused AdamW, sdpa), sequences of
  1024 random tokens, no padding: the reference of the GPU issue;
- ``before``: what `guidedcot distill train` did until now: bf16 weights, AdamW, batch 4, real example
  lengths (``.gpu/lengths.json``) in random order, padded to the longest of the batch;
- ``after``: what it does by default (`guidedcot.distill.train.training_arguments` and `collator`):
  fp32 master weights with bf16 autocast, fused AdamW, length-grouped batches padded to a multiple
  of 8, a larger batch;
- ``pack``: the same with ``packing`` on (causal students): examples end to end in rows of
  ``--pack-tokens`` tokens, no padding inside a row (`guidedcot.distill.packing`);
- ``+compile`` after a variant adds torch.compile, ``+liger`` Liger's kernels (fused linear
  cross-entropy: the logits are never materialised), ``+chunk`` our chunked loss
  (`guidedcot.distill.chunked_loss`, ``--set chunked_loss=true``: no logits either, plain torch),
  ``+flex`` flex attention instead of sdpa; ``@N`` sets the batch (examples per step). Compiled packing
  pads every row to ``--pack-tokens`` (`guidedcot.distill.train.collator`; measured as ``+fixed`` on
  2026-12-02 before it became the default).
Each result counts the graphs torch.compile built (``compiled_graphs``: one a shape it recompiled for).
Tokens/s count real (non-pad) tokens; MFU = useful FLOPs/s over the measured bf16 matmul rate, with
FLOPs per token 6 N + 12 L d s (N: weights of every linear layer, the LM head included; s: the
example's length; T5: encoder and decoder counted apart, cross-attention included).

Run: ``python bench/gpu_sft.py --models smollm2-135m qwen2.5-0.5b t5-large --variants stock before after``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_models import build, configs, report

BATCH = {"smollm2-135m": 32, "qwen2.5-0.5b": 16, "t5-large": 16}
RATIONALE_TOKENS = (
    40  # a seq2seq example: the prompt goes to the encoder, ~40 rationale tokens to the decoder
)


def peak_bf16_tflops() -> float:
    """The card's bf16 matmul rate: 8192^3 products on random data, median of 20 after warm-up."""
    import torch

    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    times = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    return 2 * 8192**3 / sorted(times)[len(times) // 2] / 1e12


def linear_weights(module: Any) -> int:
    import torch

    return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))


def flops(model: Any, encoder_len: int, decoder_len: int = 0) -> float:
    """Training FLOPs of one example (6 N + 12 L d s per token, see the module docstring)."""
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        d, n_enc = config.d_model, linear_weights(model.encoder)
        n_dec = linear_weights(model) - n_enc
        encoder = encoder_len * (6 * n_enc + 12 * config.num_layers * d * encoder_len)
        decoder = decoder_len * (6 * n_dec + 12 * config.num_decoder_layers * d * (decoder_len + encoder_len))
        return encoder + decoder
    d, layers = config.hidden_size, config.num_hidden_layers
    return encoder_len * (6 * linear_weights(model) + 12 * layers * d * encoder_len)


class Examples:
    """Random token ids of given lengths (seq2seq: the last ``RATIONALE_TOKENS`` become labels)."""

    def __init__(self, lengths: list[int], vocab: int, seq2seq: bool) -> None:
        rng = random.Random(0)
        self.rows = []
        for length in lengths:
            ids = [rng.randrange(3, vocab) for _ in range(length)]
            if seq2seq:
                self.rows.append({"input_ids": ids[:-RATIONALE_TOKENS], "labels": ids[-RATIONALE_TOKENS:]})
            else:
                self.rows.append({"input_ids": ids, "labels": list(ids)})

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


class CountingCollator:
    """Wraps a collator; adds up the useful FLOPs and real tokens of every batch it makes."""

    def __init__(self, inner: Any, model: Any) -> None:
        self.inner, self.model, self.tokens, self.flops, self.batches, self.rows = inner, model, 0, 0.0, 0, 0

    def __call__(self, rows: list[dict[str, list[int]]]) -> Any:
        self.batches += 1
        for row in rows:
            seq2seq = getattr(self.model.config, "is_encoder_decoder", False)
            enc, dec = len(row["input_ids"]), len(row["labels"]) if seq2seq else 0
            self.tokens += enc + dec
            self.flops += flops(self.model, enc, dec)
        batch = self.inner(rows)
        self.rows += len(batch["input_ids"])
        return batch


def measure(
    name: str, variant: str, peak: float, steps: int, warmup: int, lengths: list[int], batch_scale: int = 1,
    pack_tokens: int = 2048, callbacks: list[Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    import torch
    from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerFast, Trainer, TrainerCallback

    from guidedcot.distill.config import TrainConfig
    from guidedcot.distill.train import collator, set_attention, training_arguments, training_attention

    config = configs()[name]
    seq2seq = bool(getattr(config, "is_encoder_decoder", False))
    base, _, batch_text = variant.partition("@")
    kind, *flags = base.split("+")
    model = build(name, config)
    weights_bf16 = kind == "before"
    model = model.to("cuda", dtype=torch.bfloat16 if weights_bf16 else torch.float32)
    if "chunk" in flags:
        from guidedcot.distill.chunked_loss import use_chunked_loss

        use_chunked_loss(model)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_tokenizer(config.vocab_size), pad_token="<pad>")
    out = Path(tempfile.mkdtemp(prefix=f"sft-{name}-"))
    batch = 4 if kind == "before" else BATCH[name] * (1 if kind == "stock" else batch_scale)
    batch = int(batch_text) if batch_text else batch
    settings = TrainConfig(
        out=str(out), max_steps=warmup + steps, batch_size=batch, save_steps=10_000, logging_steps=10_000,
        optim="adamw_torch" if kind == "before" else "auto", group_by_length=kind == "after",
        pad_to_multiple_of=None if kind == "before" else 8, torch_compile="compile" in flags,
        warmup_ratio=0.0, packing=kind == "pack", pack_tokens=pack_tokens, liger="liger" in flags,
        attention="flex_attention" if "flex" in flags else "sdpa",  # explicit: auto is flex for pack+compile
    )  # fmt: skip
    attention = training_attention(settings, cuda=True, seq2seq=seq2seq)
    if attention is not None and not seq2seq:  # distill train's own switch
        set_attention(model, attention)
    args = training_arguments(settings, has_eval=False, bf16=True)
    args.report_to, args.save_strategy = [], "no"  # nothing on disk: the machine's disk is small
    if kind == "stock":
        fixed = (
            [1024] * (batch * (warmup + steps + 2))
            if not seq2seq
            else [512 + RATIONALE_TOKENS] * (batch * (warmup + steps + 2))
        )
        data = Examples(fixed, config.vocab_size, seq2seq)
        inner = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100)
        args.train_sampling_strategy = "random"
    else:
        data = Examples(lengths, config.vocab_size, seq2seq)
        inner = collator(tokenizer, model, settings)
    counting = CountingCollator(inner, model)
    marks: dict[str, float] = {}

    class Clock(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == warmup:
                torch.cuda.synchronize()
                marks["start"], marks["tokens"], marks["flops"] = (
                    time.perf_counter(),
                    counting.tokens,
                    counting.flops,
                )

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == warmup + steps:
                torch.cuda.synchronize()
                marks["end"], marks["tokens_end"], marks["flops_end"] = (
                    time.perf_counter(),
                    counting.tokens,
                    counting.flops,
                )

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data,
        data_collator=counting,
        callbacks=[Clock(), *(callbacks or [])],
    )
    torch.cuda.reset_peak_memory_stats()
    from torch._dynamo.utils import counters

    counters.clear()
    trainer.train()
    seconds = marks["end"] - marks["start"]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # the collator runs one batch ahead of the step clock: per-batch averages over the measured window
    tokens = (marks["tokens_end"] - marks["tokens"]) * world
    useful = (marks["flops_end"] - marks["flops"]) * world
    result = {
        "model": name, "variant": variant, "batch": batch, "world": world, "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds), "mfu": round(useful / seconds / (peak * 1e12 * world), 4),
        "peak_tflops": round(peak, 1), "max_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2),
        "weights": "bf16" if weights_bf16 else "fp32+bf16 autocast", "optim": args.optim,
        "steps": steps, "rows_per_step": round(counting.rows / max(counting.batches, 1), 1),
        "compiled_graphs": int(counters["stats"]["unique_graphs"]),
    }  # fmt: skip
    del trainer, model
    torch.cuda.empty_cache()
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    return result


def check_packing(name: str, lengths: list[int]) -> dict[str, Any]:
    """Loss and gradient of the same 16 real-length examples, padded and packed (sdpa, then flex
    attention), on the GPU in fp32 (this machine's transformers must read example boundaries from the
    position ids)."""
    import torch
    from transformers import DataCollatorForSeq2Seq, PreTrainedTokenizerFast

    from guidedcot.distill.packing import PackingCollator

    config = configs()[name]
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build(name, config).to(device, dtype=torch.float32)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=_tokenizer(config.vocab_size), pad_token="<pad>")
    rows = [Examples(lengths[:16], config.vocab_size, False)[i] for i in range(16)]
    for row in rows:
        row["labels"] = [-100] * (len(row["labels"]) // 2) + row["labels"][len(row["labels"]) // 2 :]
    padded = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)(
        [{**r, "attention_mask": [1] * len(r["input_ids"])} for r in rows]
    )
    packed = PackingCollator(0, 2048)(rows)
    results = []
    for batch, attention in ((padded, "sdpa"), (packed, "sdpa"), (packed, "flex_attention")):
        model.set_attn_implementation(attention)
        model.zero_grad()
        loss = model(**{k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}).loss
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results.append((loss.item(), grad))
    (loss_a, grad_a), (loss_b, grad_b), (loss_c, grad_c) = results
    return {
        "model": name, "check": "packed (sdpa, flex) vs padded, fp32", "loss_padded": loss_a,
        "loss_packed": loss_b, "loss_packed_flex": loss_c, "rows": len(packed["input_ids"]),
        "grad_rel_diff": ((grad_a - grad_b).norm() / grad_a.norm()).item(),
        "grad_rel_diff_flex": ((grad_a - grad_c).norm() / grad_a.norm()).item(),
    }  # fmt: skip


def check_chunked(name: str, lengths: list[int]) -> dict[str, Any]:
    """Loss and gradients of the same 64 real-length examples, packed, with the model's own loss and with
    the chunked loss, fp32 weights under bf16 autocast as training runs (the real vocabulary)."""
    import copy

    import torch

    from guidedcot.distill.chunked_loss import use_chunked_loss
    from guidedcot.distill.packing import PackingCollator

    config = configs()[name]
    model = build(name, config).to("cuda", dtype=torch.float32).train()
    chunked = copy.deepcopy(model)
    use_chunked_loss(chunked)
    rows = [Examples(lengths[:64], config.vocab_size, False)[i] for i in range(64)]
    batch = {k: v.to("cuda") if hasattr(v, "to") else v for k, v in PackingCollator(0, 2048)(rows).items()}
    results = []
    for candidate in (model, chunked):
        torch.cuda.reset_peak_memory_stats()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = candidate(**batch).loss
        loss.backward()
        grad = torch.cat([p.grad.flatten().float() for p in candidate.parameters()])
        results.append((loss.item(), grad, torch.cuda.max_memory_allocated() / 1e9))
    (loss_a, grad_a, memory_a), (loss_b, grad_b, memory_b) = results
    return {
        "model": name, "check": "chunked vs own loss, bf16 autocast, 64 packed examples", "loss_own": loss_a,
        "loss_chunked": loss_b, "grad_rel_diff": ((grad_a - grad_b).norm() / grad_a.norm()).item(),
        "peak_gb_own": round(memory_a, 2), "peak_gb_chunked": round(memory_b, 2),
    }  # fmt: skip


def gemm_bound(name: str, tokens: int, peak: float) -> dict[str, Any]:
    """The MFU a training step of ``tokens`` rows could reach if it were only its linear layers'
    matmuls: each distinct (in, out) shape of the model timed in bf16 as training runs it, forward
    (X W^T) and backward (dY W and dY^T X), median of 10 after warm-up, weighted by how often the model
    has it. Attention, norms, copies, the loss and the optimizer come on top of this bound."""
    from collections import Counter

    import torch

    model = build(name, configs()[name])
    shapes = Counter(
        (m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)
    )
    del model

    def seconds(run: Any) -> float:
        for _ in range(3):
            run()
        times = []
        for _ in range(10):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1000)
        return sorted(times)[len(times) // 2]

    total_flops = total_seconds = 0.0
    per_shape = {}
    for (d_in, d_out), count in sorted(shapes.items()):
        x, dy = (torch.randn(tokens, d, device="cuda", dtype=torch.bfloat16) for d in (d_in, d_out))
        w = torch.randn(d_out, d_in, device="cuda", dtype=torch.bfloat16)
        step = seconds(lambda x=x, w=w, dy=dy: (x @ w.t(), dy @ w, dy.t() @ x))
        work = 6 * tokens * d_in * d_out
        per_shape[f"{d_in}x{d_out}"] = {"count": count, "tflops": round(work / step / 1e12, 1)}
        total_flops += count * work
        total_seconds += count * step
        del x, dy, w
    achieved = total_flops / total_seconds / 1e12
    return {
        "model": name, "check": "linear layers' matmuls alone (bf16, forward + backward)", "tokens": tokens,
        "matmul_tflops": round(achieved, 1), "mfu_bound": round(achieved / peak, 4), "per_shape": per_shape,
    }  # fmt: skip


def _tokenizer(vocab: int) -> Any:
    """A word-level tokenizer object with ``vocab`` ids and a pad token (ids are what count here)."""
    from tokenizers import Tokenizer, models

    return Tokenizer(
        models.WordLevel({"<pad>": 0, "<unk>": 1, **{f"t{i}": i for i in range(2, vocab)}}, unk_token="<unk>")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BATCH))
    parser.add_argument("--variants", nargs="+", default=["stock", "before", "after", "after+compile"])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--lengths", type=Path, default=Path(".gpu/lengths.json"))
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    parser.add_argument(
        "--batch-scale", type=int, default=1, help="multiply the batch of before/after variants"
    )
    parser.add_argument("--pack-tokens", type=int, default=2048, help="row length of the pack variants")
    parser.add_argument(
        "--check-packing", action="store_true", help="first: packed vs padded loss on the GPU"
    )
    parser.add_argument(
        "--check-chunked", action="store_true", help="first: the chunked loss vs the model's own on the GPU"
    )
    parser.add_argument(
        "--gemm-bound", type=int, default=0, metavar="TOKENS",
        help="first: the MFU bound of the linear layers' matmuls alone at TOKENS rows (gemm_bound)",
    )  # fmt: skip
    args = parser.parse_args()
    import torch

    lengths = json.loads(args.lengths.read_text())
    random.Random(1).shuffle(lengths)
    peak = peak_bf16_tflops()
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if args.check_packing and rank0:
        for name in args.models:
            report(check_packing(name, lengths), args.out)
    if args.check_chunked and rank0:
        for name in args.models:
            report(check_chunked(name, lengths), args.out)
    if args.gemm_bound and rank0:
        for name in args.models:
            report(gemm_bound(name, args.gemm_bound, peak), args.out)
    if rank0:
        print(
            f"{torch.cuda.get_device_name()}: bf16 matmul {peak:.0f} TFLOP/s (8192^3, median of 20)",
            flush=True,
        )
    for name in args.models:
        for variant in args.variants:
            try:
                result = measure(
                    name, variant, peak, args.steps, args.warmup, lengths, args.batch_scale, args.pack_tokens
                )
            except Exception as error:  # one variant failing must not lose the others' figures
                result = {
                    "model": name,
                    "variant": variant,
                    "error": f"{type(error).__name__}: {error}"[:400],
                }
            if rank0:
                report(result, args.out)


if __name__ == "__main__":
    main()
