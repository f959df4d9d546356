"""Configs of `guidedcot distill generate` and `guidedcot distill train`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from guidedcot import defaults
from guidedcot.config import Checked
from guidedcot.data import ContextMode
from guidedcot.llm.config import ModelConfig
from guidedcot.prompts import PromptsConfig


class Criterion(StrEnum):
    """Which teacher rationales distillation keeps: those whose prediction has EM 1, or F1 at least
    ``f1_threshold``."""

    EM = "em"
    F1 = "f1"


class Attention(StrEnum):
    """The attention kernel of training (``auto``: `guidedcot.distill.train.training_attention`)."""

    AUTO = "auto"
    SDPA = "sdpa"
    FLEX_ATTENTION = "flex_attention"
    EAGER = "eager"


def _teacher() -> ModelConfig:
    return ModelConfig(model=defaults.READER)


@dataclass
class GenerateConfig(Checked):
    """Settings of `guidedcot distill generate`: the reader as teacher writes CoT rationales."""

    data_dir: str | None = field(default=None, metadata={"help": "Dataset folder; default $GUIDEDCOT_DATA."})
    datasets: list[str] = field(
        default_factory=lambda: list(defaults.TEACHER_DATASETS),
        metadata={"help": "NAME_OR_PATH[:SPLIT][[START:STOP]] entries; keep them disjoint from evaluation."},
    )
    limit: int | None = field(default=None, metadata={"min": 1, "help": "First N questions of each entry."})
    samples: int = field(
        default=1, metadata={"min": 1, "help": "k rationales per question (k > 1 samples at temperature)."}
    )
    temperature: float = field(
        default=0.7, metadata={"min": 0, "help": "Sampling temperature when samples > 1."}
    )
    cot_tokens: int = field(
        default=256, metadata={"min": 1, "help": "Max new tokens of a teacher rationale."}
    )
    seed: int = field(default=0, metadata={"min": 0, "help": "Sampling seed (with the sample index)."})
    teacher: ModelConfig = field(default_factory=_teacher)
    context_mode: ContextMode = field(default=ContextMode.GOLD, metadata={"help": "gold or distractor."})
    max_context_tokens: int = field(
        default=1024, metadata={"min": 1, "help": "Context budget in teacher tokens."}
    )
    questions_per_step: int = field(
        default=8, metadata={"min": 1, "help": "Questions per teacher batch; each is stored."}
    )
    cache: str | None = field(default="default", metadata={"help": "Generation cache file; none = off."})
    out: str = field(default="runs/teacher", metadata={"help": "Teacher store folder (appended, resumable)."})
    prompts: PromptsConfig = field(default_factory=PromptsConfig)


@dataclass
class TrainConfig(Checked):
    """Settings of `guidedcot distill train`: fine-tune the student on kept teacher rationales."""

    teacher_store: str = field(
        default="runs/teacher", metadata={"help": "Folder written by distill generate."}
    )
    student: str = field(
        default=defaults.STUDENT, metadata={"help": "Student: named model, HF folder or hub id."}
    )
    out: str = field(default="runs/student", metadata={"help": "Output folder: checkpoints, logs, final/."})
    criterion: Criterion = field(
        default=Criterion.EM,
        metadata={"help": "Keep a rationale when its prediction is: em | f1."},
    )
    f1_threshold: float = field(
        default=0.8, metadata={"min": 0, "max": 1, "help": "With criterion f1: the minimum F1."}
    )
    lora: bool = field(
        default=False, metadata={"help": "Train LoRA adapters (merged into final/) instead of all weights."}
    )
    lora_r: int = field(default=16, metadata={"min": 1, "help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"min": 1, "help": "LoRA alpha."})
    epochs: float = field(
        default=3.0, metadata={"above": 0, "help": "Passes over the training set (max_steps wins if > 0)."}
    )
    max_steps: int = field(
        default=-1, metadata={"min": -1, "help": "Stop after this many optimizer steps (-1: epochs)."}
    )
    batch_size: int = field(default=4, metadata={"min": 1, "help": "Examples per device per step."})
    optim: str = field(
        default="auto",
        metadata={"help": "Optimizer (a transformers name); auto: fused AdamW on CUDA, AdamW elsewhere."},
    )
    group_by_length: bool = field(
        default=True,
        metadata={"help": "Batch examples of similar length together (less padding; order stays random)."},
    )
    pad_to_multiple_of: int | None = field(
        default=8,
        metadata={"min": 1, "help": "Pad each batch to a multiple of this many tokens (tensor-core shapes)."},
    )
    torch_compile: bool = field(default=False, metadata={"help": "Compile the model with torch.compile."})
    attention: Attention = field(
        default=Attention.AUTO,
        metadata={
            "help": "Attention kernel of training. auto: flex_attention for compiled packed rows on a GPU (it "
            "skips the blocks between packed examples: 1.20x on an H200, the same loss), else the model's "
            "own (sdpa). flex_attention trains only on a GPU; the saved student is not tied to it.",
        },
    )
    packing: bool = field(
        default=False,
        metadata={
            "help": "Causal students: lay examples end to end in rows of pack_tokens (no padding; "
            "attention stays within each example). Faster on a GPU."
        },
    )
    pack_tokens: int = field(
        default=2048, metadata={"min": 1, "help": "With packing: the longest row in tokens."}
    )
    liger: bool = field(
        default=False,
        metadata={
            "help": "GPU: Liger's Triton kernels (fused linear cross-entropy, RMSNorm, RoPE, SwiGLU); "
            "needs pip install 'guidedcot[gpu]'."
        },
    )
    chunked_loss: bool = field(
        default=False,
        metadata={
            "help": "Causal students: the LM head and cross-entropy in chunks of 4,096 tokens, never the "
            "whole batch's logits (same loss; far less memory with a large vocabulary, so larger packed "
            "batches fit)."
        },
    )
    grad_accum: int = field(default=1, metadata={"min": 1, "help": "Gradient accumulation steps."})
    learning_rate: float = field(
        default=5e-5, metadata={"above": 0, "help": "Peak learning rate (LoRA wants ~1e-4 to 3e-4)."}
    )
    warmup_ratio: float = field(
        default=0.1, metadata={"min": 0, "below": 1, "help": "Share of steps with a linear warm-up."}
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "min": 1,
            "help": "Longest prompt + rationale in tokens: a longer example loses the end of its context, "
            "never its question or rationale. null: no cut beyond max_context_tokens (inference's prompts).",
        },
    )
    eval_fraction: float = field(
        default=0.1, metadata={"min": 0, "below": 1, "help": "Held-out share of questions for the eval loss."}
    )
    save_steps: int = field(
        default=50, metadata={"min": 1, "help": "Checkpoint every N steps (resume starts from the last)."}
    )
    logging_steps: int = field(
        default=5, metadata={"min": 1, "help": "Log the loss every N steps (TensorBoard)."}
    )
    seed: int = field(
        default=0,
        metadata={"min": 0, "help": "Seed of the split, the shuffling and the init of new weights."},
    )
    context_mode: ContextMode = field(default=ContextMode.GOLD, metadata={"help": "Must match evaluation."})
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
