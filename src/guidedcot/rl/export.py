"""Choose and export an RL run's student: the selection curve (held-out EM at each ``eval_every`` step
and at the end), the step it picks (highest EM, a tie to the later step), and any kept checkpoint
written out as an HF folder like ``final/``, so it can guide the reader, be evaluated or predicted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from guidedcot.config import load_config
from guidedcot.errors import GuidedCotError
from guidedcot.rl.analysis import read_metrics
from guidedcot.rl.checkpoint import (
    check_resumable,
    checkpoint_dirs,
    checkpoint_step,
    load_weights,
    save_final,
)
from guidedcot.rl.config import RLConfig


def run_config(run: Path) -> RLConfig:
    """The settings a run folder was trained with (its ``config.json``)."""
    if not (run / "config.json").is_file():
        raise GuidedCotError(f"{run} has no config.json: not an RL run folder")
    return load_config(RLConfig, run / "config.json", [])


def selection_curve(run: Path) -> dict[int, float]:
    """Held-out guided EM by step: ``eval_em`` of the step records, and of ``final/`` for the last step."""
    curve = {int(r["step"]): float(r["eval_em"]) for r in read_metrics(run) if "eval_em" in r}
    summary = run / "final" / "guidedcot-rl.json"
    if summary.is_file():
        final = json.loads(summary.read_text(encoding="utf-8"))
        if "eval_em" in final:
            curve[int(final["steps"])] = float(final["eval_em"])
    return curve


def chosen_step(curve: dict[int, float]) -> int:
    """The step with the highest held-out EM; of equal ones, the later (it has trained longer)."""
    if not curve:
        raise GuidedCotError("the run has no held-out EM (eval_every or eval_limit 0): nothing to choose by")
    return max(curve, key=lambda step: (curve[step], step))


def find_checkpoint(run: Path, step: int, folders: list[Path]) -> Path:
    """The ``step-N`` checkpoint of ``step`` in the run's ``checkpoints/`` or one of ``folders``."""
    for folder in [run / "checkpoints", *folders]:
        for path in checkpoint_dirs(folder):
            if checkpoint_step(path) == step:
                return path
    searched = ", ".join(str(f) for f in [run / "checkpoints", *folders])
    raise GuidedCotError(
        f"no checkpoint of step {step} in {searched} (the trainer keeps eval steps' checkpoints)"
    )


def export_checkpoint(run: Path, checkpoint: Path, out: Path, evaluation: dict[str, Any]) -> Path:
    """Write the student of ``checkpoint`` (a ``step-N`` folder of ``run``) to ``out`` in HF format
    (LoRA merged), with its tokenizer, value head and a ``guidedcot-rl.json`` naming the step."""
    from guidedcot.rl.trainer import load_policy

    config = run_config(run)
    if out.exists() and any(out.iterdir()):
        raise GuidedCotError(f"{out} exists and is not empty: choose another --out")
    policy, tokenizer, _ = load_policy(config)
    loaded = load_weights(checkpoint)
    check_resumable(checkpoint, loaded, policy, config)
    policy.load_state_dict(loaded["trainable"], strict=False)
    step = int(loaded["state"]["step"])
    save_final(policy, tokenizer, out, config, {**evaluation, "step": step, "checkpoint": str(checkpoint)})
    return out
