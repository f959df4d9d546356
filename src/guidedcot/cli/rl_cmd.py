"""`guidedcot rl`: refine the student with RL against the frozen reader (see `guidedcot.rl`)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import ConfigOption, SetOption, console, stage
from guidedcot.config import load_config
from guidedcot.data.discovery import resolve_data_dir
from guidedcot.data.selection import check_selections, names_a_dataset
from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter
from guidedcot.rl import RLConfig, check_config, train_rl

logger = logging.getLogger(__name__)


def rl_command(
    algo: Annotated[str | None, typer.Option("--algo", help="ppo | grpo | rloo.")] = None,
    reward: Annotated[
        str | None, typer.Option("--reward", help="task | aspect | task+aspect | gated.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Rollout + update steps.")] = None,
    student: Annotated[
        str | None, typer.Option("--student", help="Student to refine (a distilled folder, name or hub id).")
    ] = None,
    reader: Annotated[
        str | None,
        typer.Option("--reader", help="Reader: named model, path, hub id or http(s)://.../v1 URL."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/rl-<time>).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Dataset folder.")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Refine the student with RL: sample rationales, reward them with the reader, update (PPO/GRPO/RLOO)."""
    settings = load_config(RLConfig, config, set_)
    for name, value in (("algo", algo), ("reward", reward), ("steps", steps), ("student", student)):
        if value is not None:
            setattr(settings, name, value)
    if reader:
        settings.reader.model = reader
    if data_dir:
        settings.data_dir = str(data_dir)
    settings.out = str(out or settings.out or f"runs/rl-{dt.datetime.now():%Y%m%d-%H%M%S}")
    check_config(settings)
    named = any(map(names_a_dataset, settings.datasets + settings.eval_datasets))
    data_root = resolve_data_dir(settings.data_dir) if named else None
    check_selections(
        settings.datasets, data_root, split="train", limit=settings.limit, context_mode=settings.context_mode
    )
    if settings.eval_limit > 0:  # read like training questions (guidedcot.rl.data.load_questions)
        check_selections(
            settings.eval_datasets, data_root, split="train", limit=settings.eval_limit,
            context_mode=settings.context_mode,
        )  # fmt: skip
    logger.info("loading the reader %s", settings.reader.model)
    reader_model = build_model(settings.reader, resolve_cache_path(settings.cache))
    with stage(f"rl {settings.algo}") as hook:
        result = train_rl(
            settings, reader=reader_model, data_dir=data_root, count_tokens=token_counter(settings.reader),
            resume=resume, progress=hook,
        )  # fmt: skip
    last = result.metrics[-1] if result.metrics else {}
    first = result.metrics[0] if result.metrics else {}
    console.print(
        f"RL done: {result.steps} steps ({settings.algo}, reward {settings.reward})"
        + (f", resumed from step {result.resumed_from}" if result.resumed_from is not None else "")
        + (f"; reward {first.get('reward_mean', float('nan')):.3f} at step {first.get('step')} -> "
           f"{last.get('reward_mean', float('nan')):.3f} at step {last.get('step')}" if result.metrics else "")
        + f". Student: {result.final_dir}; metrics {Path(settings.out) / 'metrics.jsonl'}, "
        f"curves {Path(settings.out) / 'curves.png'}.",
        highlight=False,
    )  # fmt: skip
