"""RL checkpoints: trainable weights (with the value head), optimizer, scheduler, every RNG, the step,
the KL coefficient and the data position; written to a temporary folder and renamed, so a killed run
leaves either a whole checkpoint or none. `save_state` writes one from a running loop, `restore_state`
puts a run back where its last one left it (after `check_resumable` has accepted it)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from guidedcot.errors import GuidedCotError
from guidedcot.rl.config import RLConfig
from guidedcot.runs import numbered_folders

if TYPE_CHECKING:
    from guidedcot.rl.policy import PolicyModel

KEEP = 2


def checkpoint_step(path: Path) -> int:
    """N of a ``step-N`` checkpoint folder."""
    return int(path.name.split("-")[-1])


def checkpoint_dirs(folder: Path) -> list[Path]:
    """Finished ``step-N`` checkpoints (each written whole, then renamed into place), oldest first."""
    return numbered_folders(folder, "step")


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy and torch (CPU and CUDA) generator states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    folder: Path,
    step: int,
    *,
    trainable: dict[str, torch.Tensor],
    optimizer: Any,
    scheduler: Any,
    state: dict[str, Any],
    rank_rng: dict[int, dict[str, Any]],
    keep_steps: frozenset[int] = frozenset(),
) -> Path:
    """Write ``folder/step-N`` atomically and keep the newest `KEEP` checkpoints and those of
    ``keep_steps`` (the held-out eval steps a checkpoint is chosen from) (main process only)."""
    target = folder / f"step-{step}"
    partial = folder / f".step-{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(trainable, partial / "trainable.pt")
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    torch.save(scheduler.state_dict(), partial / "scheduler.pt")
    for rank, rng in rank_rng.items():
        torch.save(rng, partial / f"rng-{rank}.pt")
    (partial / "state.json").write_text(json.dumps({**state, "step": step}, indent=2), encoding="utf-8")
    partial.rename(target)
    for old in checkpoint_dirs(folder)[:-KEEP]:
        if checkpoint_step(old) not in keep_steps:
            shutil.rmtree(old, ignore_errors=True)
    return target


def eval_steps(config: RLConfig) -> frozenset[int]:
    """The steps at which the run scores held-out EM (every ``eval_every`` and the last): its
    checkpoints there are kept, since the selection curve may choose any of them."""
    if not config.eval_every or config.eval_limit <= 0:
        return frozenset()
    return frozenset(range(config.eval_every, config.steps, config.eval_every)) | {config.steps}


def load_weights(path: Path) -> dict[str, Any]:
    """The state (step, algo, ...) and trainable weights `save_checkpoint` wrote at ``path``."""
    return {
        "state": json.loads((path / "state.json").read_text(encoding="utf-8")),
        "trainable": torch.load(path / "trainable.pt", map_location="cpu", weights_only=True),
    }


def load_checkpoint(path: Path, rank: int) -> dict[str, Any]:
    """Everything `save_checkpoint` wrote, with this rank's RNG state."""
    rng_file = path / f"rng-{rank}.pt"
    if not rng_file.exists():
        raise GuidedCotError(f"{path} was written by fewer processes than this run has (no {rng_file.name})")
    return {
        **load_weights(path),
        "optimizer": torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False),
        "scheduler": torch.load(path / "scheduler.pt", map_location="cpu", weights_only=False),
        "rng": torch.load(rng_file, weights_only=False),
    }


def restore_state(
    path: Path, rank: int, policy: PolicyModel, optimizer: Any, scheduler: Any, config: RLConfig,
    *, questions: int, world: int,
) -> tuple[int, float]:  # fmt: skip
    """Load the checkpoint at ``path`` into this run (trainable weights, optimizer, scheduler, this
    rank's RNG) after checking it is this run's; returns (the step to continue from, the KL coefficient)."""
    loaded = load_checkpoint(path, rank)
    check_resumable(path, loaded, policy, config)
    policy.load_state_dict(loaded["trainable"], strict=False)  # the frozen weights are the student's
    optimizer.load_state_dict(loaded["optimizer"])
    scheduler.load_state_dict(loaded["scheduler"])
    set_rng_state(loaded["rng"])
    state = loaded["state"]
    if state["questions"] != questions or state["world_size"] != world:
        raise GuidedCotError(
            f"{path} was made with {state['questions']} questions on {state['world_size']} "
            f"processes; this run has {questions} on {world}"
        )
    return state["step"], state["kl_coef"]


def check_resumable(path: Path, loaded: dict[str, Any], policy: PolicyModel, config: RLConfig) -> None:
    """Refuse a checkpoint that does not hold exactly this run's trainable weights, or that was written by
    another algorithm (a GRPO checkpoint resumed as PPO would silently start a fresh value head)."""
    written = loaded["state"].get("algo")
    if written is not None and written != config.algo:
        raise GuidedCotError(
            f"{path} was written by algo={written}; this run has algo={config.algo}: resume with "
            f"--set algo={written}, or choose another --out"
        )
    expected = {name for name, p in policy.named_parameters() if p.requires_grad}
    saved = set(loaded["trainable"])
    if saved != expected:
        extra, missing = sorted(saved - expected), sorted(expected - saved)
        example = f"it has {extra[0]}" if extra else f"it lacks {missing[0]}"
        raise GuidedCotError(
            f"{path} does not fit this run's trainable weights ({example}; {len(extra)} extra, "
            f"{len(missing)} missing): another student, algo (value head) or LoRA setting wrote it"
        )


def save_state(
    out: Path, step: int, policy: Any, optimizer: Any, scheduler: Any, accelerator: Any,
    kl_coef: float, n_questions: int, config: RLConfig,
) -> None:  # fmt: skip
    """A checkpoint of everything a resumed run needs (RNG states gathered from every process)."""
    world = accelerator.num_processes
    states = [rng_state()]
    if world > 1:
        import torch.distributed as dist

        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, states[0])
        states = gathered
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(policy)
        trainable = {n: p.detach().cpu() for n, p in unwrapped.named_parameters() if p.requires_grad}
        state = {"kl_coef": kl_coef, "questions": n_questions, "world_size": world, "algo": config.algo,
                 "questions_used": step * config.questions_per_step}  # fmt: skip
        save_checkpoint(
            out / "checkpoints", step, trainable=trainable, optimizer=optimizer, scheduler=scheduler,
            state=state, rank_rng=dict(enumerate(states)), keep_steps=eval_steps(config),
        )  # fmt: skip
    accelerator.wait_for_everyone()


def save_final(
    policy: PolicyModel, tokenizer: Any, final: Path, config: RLConfig, evaluation: dict[str, Any]
) -> None:
    """``final/``: the refined student in HF format (LoRA merged), its tokenizer, and the value head."""
    model = policy.model.merge_and_unload() if config.lora else policy.model
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    if policy.value_head is not None:
        torch.save(policy.value_head.state_dict(), final / "value_head.pt")
    summary = {
        "algo": config.algo,
        "reward": config.reward,
        "steps": config.steps,
        "student": config.student,
        **evaluation,
    }
    (final / "guidedcot-rl.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
