"""`distill train`: fine-tune the student on (question + context -> kept teacher rationale).

The Hugging Face Trainer does the loop, so the same command runs on one CPU, one GPU, several GPUs
(DDP) or several nodes under ``accelerate launch``; it checkpoints every ``save_steps`` and resumes
from the last checkpoint to the same weights an uninterrupted run ends with (each epoch's batch order is
drawn from the seed and the epoch: `guidedcot.distill.order`). Causal students see the prompt through
their chat template (exactly as the transformers backend renders it at inference) and learn only the
rationale tokens; seq2seq students (T5 family) get the prompt as encoder input and the rationale as
labels. Full fine-tuning or LoRA.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from guidedcot.atomic import write_json_atomic
from guidedcot.distill.config import TrainConfig
from guidedcot.distill.packing import PackingCollator
from guidedcot.distill.shareable import check_not_stripped
from guidedcot.distill.store import load_records, read_manifest
from guidedcot.distill.trainset import (
    RationaleExample,
    TrainingSetStats,
    build_training_set,
    split_by_question,
)
from guidedcot.errors import ConfigError, GuidedCotError
from guidedcot.progress import ProgressHook
from guidedcot.prompts import build_templates
from guidedcot.runs import numbered_folders, refuse_unasked_resume
from guidedcot.student import IGNORE_INDEX, encode_rationale_example, load_student

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Where the final student is, and what training measured."""

    final_dir: Path
    stats: TrainingSetStats
    train_examples: int
    eval_examples: int
    eval_loss_before: float | None
    eval_loss_after: float | None
    global_step: int
    resumed_from: str | None
    attention: str | None = None  # the attention kernel training ran (`TrainConfig.attention`)


class _Encoded:
    """A list of encoded examples as a torch-style map dataset."""

    def __init__(self, rows: Sequence[dict[str, list[int]]]) -> None:
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder, or None.

    The Trainer writes ``trainer_state.json`` last, so a folder without it is a checkpoint that a
    killed run left half-written: resuming skips it and takes the one before.
    """
    complete = numbered_folders(folder, "checkpoint", complete="trainer_state.json")
    return complete[-1] if complete else None


def training_arguments(config: TrainConfig, *, has_eval: bool, bf16: bool) -> Any:
    """The `TrainingArguments` of a distillation run (also what bench/gpu_sft.py measures)."""
    import torch
    from transformers import TrainingArguments

    out = Path(config.out)
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "logs")  # transformers >= 5.15 reads it from here
    optim = config.optim
    if optim == "auto":
        optim = "adamw_torch_fused" if torch.cuda.is_available() else "adamw_torch"
    return TrainingArguments(
        output_dir=str(out / "checkpoints"),
        report_to=["tensorboard"],
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        optim=optim,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        torch_compile=config.torch_compile,
        use_liger_kernel=config.liger,
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=3,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.save_steps if has_eval else None,
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )


def collator(tokenizer: Any, model: Any, config: TrainConfig) -> Any:
    """Pads a batch to its longest example (a multiple of ``pad_to_multiple_of``); labels with -100.
    With ``packing`` (causal students), packs the batch into rows instead (`PackingCollator`); with
    ``torch_compile`` too, every row is padded to ``pack_tokens``, so only the row count varies and
    torch.compile builds two graphs instead of one a batch (bench/RESULTS.md, 2026-12-02 session 14)."""
    from transformers import DataCollatorForSeq2Seq

    if config.packing:
        if getattr(model.config, "is_encoder_decoder", False):
            raise ConfigError("packing is for causal students; a seq2seq student pads (set packing=false)")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        multiple = config.pack_tokens if config.torch_compile else config.pad_to_multiple_of
        return PackingCollator(pad, config.pack_tokens, multiple)

    return DataCollatorForSeq2Seq(
        tokenizer, model=model, label_pad_token_id=IGNORE_INDEX, pad_to_multiple_of=config.pad_to_multiple_of
    )


def train_student(
    config: TrainConfig, *, resume: bool = False, progress: ProgressHook | None = None
) -> TrainResult:
    """Build the training set from the store, fine-tune, and save ``out/final`` with its tokenizer.

    With ``progress``, optimizer steps are reported through it (and the Trainer's own bar is off)."""
    out = Path(config.out)
    checkpoint = last_checkpoint(out / "checkpoints") if (out / "checkpoints").exists() else None
    refuse_unasked_resume(out, checkpoint, resume)
    if config.liger and config.chunked_loss:
        raise ConfigError("liger and chunked_loss both replace the loss: choose one")
    if config.liger and importlib.util.find_spec("liger_kernel") is None:
        raise ConfigError("liger=true needs the liger-kernel package: pip install 'guidedcot[gpu]'")
    train_set, eval_set, stats = training_examples(config)
    student = load_student(
        config.student, lora=config.lora, lora_r=config.lora_r, lora_alpha=config.lora_alpha
    )
    attention = training_attention(
        config, cuda=str(student.device).startswith("cuda"), seq2seq=student.seq2seq
    )
    if attention is not None:
        set_attention(student.model, attention)
        logger.info("training attention: %s (attention=%s)", attention, config.attention)
    if config.chunked_loss:
        if student.seq2seq:
            raise ConfigError("chunked_loss is for causal students; a seq2seq student keeps its own loss")
        from guidedcot.distill.chunked_loss import use_chunked_loss  # torch: imported when used

        use_chunked_loss(student.model.get_base_model() if config.lora else student.model)
    _warn_of_data_parallel()
    template = build_templates(config.prompts)["student"]
    trainer = build_trainer(config, student, template, train_set, eval_set, progress)
    before = trainer.evaluate()["eval_loss"] if eval_set and checkpoint is None else None
    output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    after = trainer.evaluate()["eval_loss"] if eval_set else None
    result = TrainResult(
        final_dir=out / "final", stats=stats, train_examples=len(train_set), eval_examples=len(eval_set),
        eval_loss_before=_finite(before), eval_loss_after=_finite(after), global_step=output.global_step,
        resumed_from=checkpoint.name if checkpoint else None, attention=student.model.config._attn_implementation,
    )  # fmt: skip
    if trainer.is_world_process_zero():
        to_save = trainer.model.merge_and_unload() if config.lora else trainer.model
        to_save.save_pretrained(result.final_dir)
        student.tokenizer.save_pretrained(result.final_dir)
        write_training_summary(config, result, template.version, trainer.args.world_size)
    return result


def training_attention(config: TrainConfig, *, cuda: bool, seq2seq: bool) -> str | None:
    """The attention kernel training sets on the student, or None to keep the model's own.

    ``auto`` takes flex attention where it was measured faster: compiled packed rows on a GPU, where it
    skips the masked blocks between packed examples that sdpa computes (bench/RESULTS.md, session 15)."""
    if config.attention == "auto":
        return "flex_attention" if config.packing and config.torch_compile and cuda and not seq2seq else None
    if config.attention == "flex_attention" and not cuda:
        raise ConfigError(
            "attention=flex_attention trains only on a GPU (torch has no flex attention backward on the "
            "CPU): set attention=auto or sdpa"
        )
    return config.attention


def set_attention(model: Any, attention: str) -> None:
    """Switch the (possibly LoRA-wrapped) model's attention kernel; a model without it is a ConfigError."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        base.set_attn_implementation(attention)
    except (ValueError, ImportError) as error:
        raise ConfigError(f"attention={attention}: {error}") from error


def training_examples(
    config: TrainConfig,
) -> tuple[list[RationaleExample], list[RationaleExample], TrainingSetStats]:
    """The teacher store's rationales that pass the filter, split by question into train and eval."""
    manifest = read_manifest(config.teacher_store)  # a folder that is not a teacher store fails here
    check_not_stripped(Path(config.teacher_store), manifest)  # before any model
    records = load_records(Path(config.teacher_store) / "rationales.jsonl")
    kept, stats = build_training_set(records, criterion=config.criterion, f1_threshold=config.f1_threshold)
    if not kept:
        raise GuidedCotError(
            f"no rationale in {config.teacher_store} passes the {config.criterion} filter "
            f"({stats.records} records of {stats.questions} questions): nothing to train on"
        )
    train_set, eval_set = split_by_question(kept, config.eval_fraction, config.seed)
    return train_set, eval_set, stats


def build_trainer(
    config: TrainConfig, student: Any, template: Any, train_set: Sequence[RationaleExample],
    eval_set: Sequence[RationaleExample], progress: ProgressHook | None,
) -> Any:  # fmt: skip
    """The HF Trainer over the encoded examples (the student's prompt template, loss on the rationale), its
    batch order a function of the seed and the epoch (`SeededOrderTrainer`: resumes replay it)."""
    from guidedcot.distill.order import SeededOrderTrainer

    def encode(examples: Sequence[RationaleExample]) -> _Encoded:
        return _Encoded(
            [
                encode_rationale_example(
                    student.tokenizer,
                    template,
                    {"question": e.question, "context": e.context},
                    e.rationale,
                    seq2seq=student.seq2seq,
                    max_length=config.max_length,
                )
                for e in examples
            ]
        )

    arguments = training_arguments(config, has_eval=bool(eval_set), bf16=student.autocast_bf16)
    arguments.disable_tqdm = progress is not None or arguments.disable_tqdm
    trainer = SeededOrderTrainer(
        model=student.model, args=arguments, callbacks=[_reporting(progress)] if progress else None,
        train_dataset=encode(train_set), eval_dataset=encode(eval_set) if eval_set else None,
        data_collator=collator(student.tokenizer, student.model, config), processing_class=student.tokenizer,
    )  # fmt: skip
    if progress:  # the hook shows progress and `_reporting` logs the numbers: no raw dicts on stdout
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


def write_training_summary(
    config: TrainConfig, result: TrainResult, prompt_version: str, world_size: int
) -> None:
    """``training.json`` in the run folder and ``guidedcot-training.json`` beside the saved student."""
    import torch

    manifest = read_manifest(config.teacher_store)
    summary = {
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items() if k != "stats"},
        "stats": asdict(result.stats),
        "teacher": {k: manifest.get(k) for k in ("teacher", "prompt_version", "samples", "datasets")},
        "student": config.student,
        "student_prompt_version": prompt_version,
        "world_size": world_size,
        "ddp_backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "gpu_memory_peak_gb": torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else None,
    }
    write_json_atomic(Path(config.out) / "training.json", summary)
    (result.final_dir / "guidedcot-training.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _warn_of_data_parallel() -> None:
    """Say how to launch DDP when one process sees several GPUs (the Trainer would use DataParallel)."""
    import torch

    gpus = torch.cuda.device_count()
    if gpus > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        logger.warning(
            "%d GPUs are visible to one process: the Trainer would split each batch over them with "
            "DataParallel (slow). Use `accelerate launch --num_processes %d -m guidedcot.cli.app distill "
            "train ...` for DDP, or CUDA_VISIBLE_DEVICES=0 for one GPU.",
            gpus,
            gpus,
        )


def _reporting(progress: ProgressHook) -> Any:
    """A Trainer callback that reports each optimizer step through ``progress``."""
    from transformers import TrainerCallback

    class ReportSteps(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # a resumed run starts at its checkpoint's step: the time left is timed from here
            progress(f"step {state.global_step}/{state.max_steps}", state.global_step, state.max_steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            progress(f"step {state.global_step}/{state.max_steps}", state.global_step, state.max_steps)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            shown = ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in (logs or {}).items()
            )
            logger.info("step %d/%d: %s", state.global_step, state.max_steps, shown)

    return ReportSteps()


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
