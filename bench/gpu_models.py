"""Randomly initialised models of the real configurations (no weights can travel to the GPU machine).

``python bench/gpu_models.py OUT [--tokenizer DIR]`` writes one HF folder per configuration under OUT,
with the given tokenizer saved beside (the CLI runs need one; the vocabulary is then the tokenizer's).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def report(result: dict[str, Any], out: Path | None) -> None:
    """One result: a JSON line on stdout, and appended to ``out`` when given."""
    line = json.dumps(result)
    print(line, flush=True)
    if out:
        with out.open("a") as handle:
            handle.write(line + "\n")


def configs(vocab: int | None = None) -> dict[str, Any]:
    """The configurations measured: students SmolLM2-135M, Qwen2.5-0.5B, T5-Large (FLAN-T5's v1.1
    layout); readers of the paper's size, T5-v1.1-XXL (FLAN-T5-XXL's layout, 11B) and Qwen2.5-14B
    (configs/scale.yaml's reader); and a 2-layer reader for quick RL runs on the GPU."""
    from transformers import LlamaConfig, Qwen2Config, T5Config

    return {
        "smollm2-135m": LlamaConfig(
            vocab_size=vocab or 49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
            num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0,
            rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        ),
        "qwen2.5-0.5b": Qwen2Config(
            vocab_size=vocab or 151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
            num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1e6,
            rms_norm_eps=1e-6, tie_word_embeddings=True,
        ),
        "t5-large": T5Config(
            vocab_size=vocab or 32128, d_model=1024, d_ff=2816, d_kv=64, num_layers=24, num_decoder_layers=24,
            num_heads=16, feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0,
            pad_token_id=0, eos_token_id=1,
        ),
        "t5-xxl": T5Config(
            vocab_size=vocab or 32128, d_model=4096, d_ff=10240, d_kv=64, num_layers=24, num_decoder_layers=24,
            num_heads=64, feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0,
            pad_token_id=0, eos_token_id=1,
        ),
        "qwen2.5-14b": Qwen2Config(
            vocab_size=vocab or 152064, hidden_size=5120, intermediate_size=13824, num_hidden_layers=48,
            num_attention_heads=40, num_key_value_heads=8, max_position_embeddings=32768, rope_theta=1e6,
            rms_norm_eps=1e-5, tie_word_embeddings=False,
        ),
        "tiny-reader": LlamaConfig(
            vocab_size=vocab or 49152, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True,
        ),
    }  # fmt: skip


READERS = ("t5-xxl", "qwen2.5-14b")
"""Built in bf16 on the GPU (11-15B parameters: fp32 on the host would take 45-60 GB and minutes)."""


def build(name: str, config: Any) -> Any:
    """A model of ``config`` with fresh random weights (seed 0)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    torch.manual_seed(0)
    loader = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    if name in READERS and torch.cuda.is_available():
        with torch.device("cuda"):
            return loader.from_config(config, dtype=torch.bfloat16)
    return loader.from_config(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    for name, config in configs(vocab=len(tokenizer)).items():
        if args.only and name not in args.only:
            continue
        if name.startswith("t5-"):
            config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id or 0, tokenizer.eos_token_id
            config.decoder_start_token_id = config.pad_token_id
        else:
            config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
        build(name, config).save_pretrained(args.out / name)
        tokenizer.save_pretrained(args.out / name)
        print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
