"""Loading a transformers model and tokenizer (causal or seq2seq) with one dtype and padding policy,
and rendering chat messages the way the model was (or will be) trained on them.

The inference backend (`guidedcot.llm.hf`) and the trainable student (`guidedcot.student`) both load
through here, so a student sees the same dtype, pad token and prompt text in training and in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guidedcot.errors import GuidedCotError


def default_device() -> str:
    """``cuda`` where a GPU is visible, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def preferred_dtype(device: str) -> Any:
    """bf16 on a CUDA device that supports it, else fp32 (CPU bf16 matmuls are slow on most CPUs)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def native_bf16(device: str) -> bool:
    """Whether ``device`` multiplies bf16 matrices natively: a CUDA GPU with bf16, or a CPU whose
    oneDNN kernels have bf16 (AVX-512 BF16 or AMX), where bf16 autocast runs matmuls 2-4x faster."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class LoadedModel:
    """A model with its tokenizer; ``seq2seq`` for encoder-decoders (the T5 family)."""

    model: Any
    tokenizer: Any
    seq2seq: bool
    device: str
    dtype: Any


def load_hf_model(
    path: str, *, revision: str | None = None, device: str | None = None, dtype: Any = None
) -> LoadedModel:
    """Model and tokenizer from an HF folder or hub id, on ``device`` in ``dtype`` (default: its
    preferred dtype, see `preferred_dtype`).

    The tokenizer always has a pad token (the EOS token where the model defines none).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    device = device or default_device()
    dtype = dtype or preferred_dtype(device)
    try:
        config = AutoConfig.from_pretrained(path, revision=revision)
        seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        loader = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
        model = loader.from_pretrained(path, revision=revision, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError, KeyError) as error:  # a broken folder: transformers' own words, first line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise GuidedCotError(f"cannot load the model {path}: {reason[:300]}") from error
    model = model.to(device)
    ensure_pad_token(tokenizer)
    return LoadedModel(model, tokenizer, seq2seq, device, dtype)


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token that ends a generation: the model's EOS list (its generation config, e.g. Qwen's
    ``<|im_end|>`` and ``<|endoftext|>``), the tokenizer's EOS and its pad token. Evaluation and RL
    rollouts stop at the same set."""
    found: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    listed = configured if isinstance(configured, list | tuple) else [configured]
    for token in (*listed, tokenizer.eos_token_id, tokenizer.pad_token_id):
        if token is not None and int(token) not in found:
            found.append(int(token))
    return found


def decoding_config(
    model: Any, tokenizer: Any, *, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0
) -> Any:
    """A `GenerationConfig` with only these settings: greedy (``temperature`` 0) or sampling from the
    model's full distribution at ``temperature`` (top-p if < 1; no top-k, no repetition penalty).

    Pass it to `generate_with`: a hub model's own generation config (Qwen2.5-Instruct ships
    repetition_penalty 1.05, top_k 20) and transformers' global defaults (top_k 50) never reach it.
    """
    from transformers import GenerationConfig

    sampling = temperature > 0
    special = {
        name: getattr(model.generation_config, name, None) or getattr(model.config, name, None)
        for name in ("decoder_start_token_id", "bos_token_id")
    }
    # greedy decoding names no sampling settings (transformers warns about ones that cannot apply)
    sampler = {"temperature": temperature, "top_p": top_p, "top_k": 0} if sampling else {}
    return GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=sampling, repetition_penalty=1.0, no_repeat_ngram_size=0,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_token_ids(model, tokenizer), **sampler,
        **{name: value for name, value in special.items() if value is not None},
    )  # fmt: skip


def generate_with(model: Any, config: Any, **inputs: Any) -> Any:
    """``model.generate(**inputs)`` under ``config`` alone: the model's own generation config is set
    aside for the call (transformers fills every unset field from it), then put back."""
    from transformers import GenerationConfig

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    own = base.generation_config
    base.generation_config = GenerationConfig()
    try:
        return model.generate(**inputs, generation_config=config)
    finally:
        base.generation_config = own


_DROPOUT_RATES = ("attention_dropout", "dropout", "attn_dropout", "dropout_rate")


def disable_dropout(model: Any) -> None:
    """Switch every dropout of ``model`` off, as TRL does for RL: ``nn.Dropout`` modules and the float
    rates that attention layers pass to their functional dropout (Llama's ``attention_dropout``, T5's
    ``dropout``). The update's log-probs must be those the rollout was scored with."""
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        for name in _DROPOUT_RATES:
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, 0.0)


def ensure_pad_token(tokenizer: Any) -> None:
    """Give a tokenizer without a pad token its EOS token as pad token."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def has_chat_template(tokenizer: Any) -> bool:
    """True when the tokenizer carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def render_chat(tokenizer: Any, messages: Sequence[tuple[str, str]]) -> tuple[str, bool]:
    """(prompt text, whether tokenizing it should add special tokens) for chat ``messages``.

    With a chat template the text already holds the special tokens; without one the messages are
    joined by blank lines and the tokenizer adds its own. Training and generation both use this,
    so a fine-tuned student sees at inference exactly the prompt it was trained on.
    """
    if has_chat_template(tokenizer):
        chat = [{"role": role, "content": content} for role, content in messages]
        return tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False), False
    return "\n\n".join(content for _, content in messages), True
