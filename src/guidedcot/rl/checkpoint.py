"""RL checkpoints: trainable weights (with the value head), optimizer, scheduler, every RNG, the step,
the KL coefficient and the data position; written to a temporary folder and renamed, so a killed run
leaves either a whole checkpoint or none."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from guidedcot.errors import GuidedCotError

KEEP = 2


def checkpoint_dirs(folder: Path) -> list[Path]:
    """Finished ``step-N`` checkpoints, oldest first."""
    found = [p for p in folder.glob("step-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


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
) -> Path:
    """Write ``folder/step-N`` atomically and keep the newest `KEEP` checkpoints (main process only)."""
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
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(path: Path, rank: int) -> dict[str, Any]:
    """Everything `save_checkpoint` wrote, with this rank's RNG state."""
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    rng_file = path / f"rng-{rank}.pt"
    if not rng_file.exists():
        raise GuidedCotError(f"{path} was written by fewer processes than this run has (no {rng_file.name})")
    return {
        "state": state,
        "trainable": torch.load(path / "trainable.pt", map_location="cpu", weights_only=True),
        "optimizer": torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False),
        "scheduler": torch.load(path / "scheduler.pt", map_location="cpu", weights_only=False),
        "rng": torch.load(rng_file, weights_only=False),
    }
