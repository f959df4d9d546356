"""Load the student for training: a named model, folder or hub id; full fine-tuning or LoRA adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guidedcot.models import resolve_model
from guidedcot.models.hf import load_hf_model, preferred_dtype


@dataclass
class Student:
    """The trainable student: model (possibly LoRA-wrapped), tokenizer, kind, device, the dtype of its
    weights (float32: the optimizer's master copy) and whether matmuls run in bf16 autocast."""

    model: Any
    tokenizer: Any
    seq2seq: bool
    device: str
    dtype: Any
    lora: bool = False
    autocast_bf16: bool = False


def load_student(
    spec: str,
    *,
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int = 32,
    device: str | None = None,
) -> Student:
    """The student of ``spec`` on ``device`` (default: CUDA if present), weights in float32.

    Training keeps float32 weights and runs bf16 autocast where the GPU supports it: AdamW updates
    of ~1e-5 relative size vanish when added to bf16 weights (8 bits of mantissa). Named models and
    GGUF files are converted once to an HF folder (see `guidedcot.models`).
    """
    import torch

    resolved = resolve_model(spec)
    assert resolved.hf_path is not None
    loaded = load_hf_model(resolved.hf_path, revision=resolved.revision, device=device, dtype=torch.float32)
    model = loaded.model
    if lora:
        from peft import LoraConfig, TaskType, get_peft_model

        task = TaskType.SEQ_2_SEQ_LM if loaded.seq2seq else TaskType.CAUSAL_LM
        model = get_peft_model(
            model, LoraConfig(task_type=task, r=lora_r, lora_alpha=lora_alpha, target_modules="all-linear")
        )
    autocast = preferred_dtype(loaded.device) == torch.bfloat16
    return Student(
        model,
        loaded.tokenizer,
        loaded.seq2seq,
        loaded.device,
        loaded.dtype,
        lora=lora,
        autocast_bf16=autocast,
    )
