"""`guidedcot rl`: refine the student with RL against the frozen reader (see `guidedcot.rl`), and read
finished runs: `rl probe` (saved students on a run's fixed probe), `rl compare` (probe records paired by
question), `rl trend` (is a run's reward rising), `rl export` (a chosen checkpoint as a student folder)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from guidedcot.cli.common import ConfigOption, SetOption, console, field_option, stage, stdout
from guidedcot.config import load_config, set_fields
from guidedcot.data.selection import check_selections, data_root_for
from guidedcot.errors import GuidedCotError
from guidedcot.llm.factory import build_model, resolve_cache_path, token_counter
from guidedcot.rl import RLConfig, check_config, train_rl
from guidedcot.runs import default_folder

logger = logging.getLogger(__name__)
rl_app = typer.Typer(
    help="Refine the student with RL: sample rationales, reward them with the reader, update (PPO/GRPO/RLOO). "
    "Subcommands read finished runs.",
    invoke_without_command=True,
)


@rl_app.callback()
def rl_command(
    context: typer.Context,
    algo: Annotated[str | None, field_option("--algo", RLConfig, "algo")] = None,
    reward: Annotated[str | None, field_option("--reward", RLConfig, "reward")] = None,
    steps: Annotated[int | None, field_option("--steps", RLConfig, "steps")] = None,
    student: Annotated[str | None, field_option("--student", RLConfig, "student")] = None,
    reader: Annotated[str | None, field_option("--reader", RLConfig, "reader.model", role="Reader")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/rl-<time>).")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint in --out.")
    ] = False,
    data_dir: Annotated[Path | None, field_option("--data-dir", RLConfig, "data_dir")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Refine the student with RL: sample rationales, reward them with the reader, update (PPO/GRPO/RLOO)."""
    if context.invoked_subcommand is not None:
        return
    flags = {"algo": algo, "reward": reward, "steps": steps, "student": student, "reader.model": reader,
             "data_dir": data_dir}  # fmt: skip
    settings = set_fields(load_config(RLConfig, config, set_), flags)
    settings.out = str(out or settings.out or default_folder("rl"))
    check_config(settings)
    data_root = data_root_for(settings.data_dir, settings.datasets + settings.eval_datasets)
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


@rl_app.command("probe", short_help="Probe saved students on a run's fixed probe.")
def probe_command(
    run: Annotated[Path, typer.Argument(help="The run folder whose config.json sets the probe.")],
    student: Annotated[list[str], typer.Option("--student", help="A student folder to probe (repeatable).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="JSONL file of probe records (default RUN/probe-students.jsonl)."),
    ] = None,
    questions: Annotated[
        int | None,
        typer.Option("--questions", min=1, help="Probe questions (default: the run's probe_questions)."),
    ] = None,
) -> None:
    """Probe saved students with one run's settings: the same fixed sample of its training questions,
    group_size sampled rationales each, the same seeds, its reward. A record per student is appended as
    each finishes; students already in --out are skipped."""
    from guidedcot.rl.analysis import append_probe_record, read_probe_records
    from guidedcot.rl.probe import ProbeRecord, probe_students

    if not (run / "config.json").is_file():
        raise GuidedCotError(f"{run} has no config.json: not an RL run folder")
    out = out or run / "probe-students.jsonl"
    overrides = [f"probe_questions={questions}"] if questions else []
    settings = load_config(RLConfig, run / "config.json", overrides)
    done = {r.label for r in read_probe_records(out)}
    pending = [s for s in student if s not in done]
    for name in student:
        if name in done:
            console.print(f"{name}: already probed in {out}", highlight=False)
    if not pending:
        return

    def store(record: ProbeRecord) -> None:
        record.step = student.index(record.label)
        append_probe_record(out, record)
        console.print(f"{record.label}: {record.summary()}", highlight=False)

    logger.info("loading the reader %s", settings.reader.model)
    with stage("rl probe"):
        probe_students(
            settings, pending, reader=build_model(settings.reader, resolve_cache_path(settings.cache)),
            data_dir=data_root_for(settings.data_dir, settings.datasets),
            count_tokens=token_counter(settings.reader), on_record=store,
        )  # fmt: skip
    console.print(f"probe records: {out}; compare them with `guidedcot rl compare {out}`", highlight=False)


@rl_app.command("compare", short_help="Probe records paired by question, with 95% CIs.")
def compare_command(
    file: Annotated[Path, typer.Argument(help="A run's probe.jsonl, or the output of `rl probe`.")],
) -> None:
    """Each probe record minus the first, paired by question: the difference and its 95% bootstrap
    interval over questions, and how many questions rose or fell; for the total and each component."""
    from guidedcot.rl.analysis import compare_probes, read_probe_records

    if not file.is_file():
        raise GuidedCotError(f"{file}: no such probe file")
    stdout().print(
        "\n".join(compare_probes(read_probe_records(file), str(file))), highlight=False, soft_wrap=True
    )


@rl_app.command("trend", short_help="Is a run's training reward rising (slope, 95% CI)?")
def trend_command(
    run: Annotated[Path, typer.Argument(help="An RL run folder (its metrics.jsonl).")],
    key: Annotated[str, typer.Option("--key", help="The metrics.jsonl key to follow.")] = "reward_mean",
    against: Annotated[
        Path | None, typer.Option("--against", help="A run that drew the same questions at every step.")
    ] = None,
) -> None:
    """Is a run's training reward rising? The first and second half's means and the least-squares slope
    per step with a 95% bootstrap interval; with --against, the per-step task EM difference too."""
    from guidedcot.rl.analysis import run_trend

    stdout().print("\n".join(run_trend(run, key, against)), highlight=False, soft_wrap=True)


@rl_app.command("export", short_help="Write a run's chosen (or any kept) checkpoint as a student folder.")
def export_command(
    run: Annotated[Path, typer.Argument(help="An RL run folder (config.json, metrics.jsonl, checkpoints/).")],
    out: Annotated[
        Path, typer.Option("--out", help="The student folder to write (must not exist or be empty).")
    ],
    step: Annotated[
        str, typer.Option("--step", help="A step with a kept checkpoint, or 'best': the highest held-out EM.")
    ] = "best",
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option("--checkpoints", help="Another folder of step-N checkpoints to look in (repeatable)."),
    ] = None,
) -> None:
    """Write one checkpoint's student in HF format (LoRA merged), like the run's final/. With --step best
    (the default), the step is the selection curve's: the highest held-out EM of the eval_every steps and
    the end, a tie to the later step; the curve is printed."""
    from guidedcot.rl.export import chosen_step, export_checkpoint, find_checkpoint, selection_curve

    curve = selection_curve(run)
    for at, em in sorted(curve.items()):
        stdout().print(f"step {at}: held-out EM {em:.3f}", highlight=False)
    if step == "best":
        chosen = chosen_step(curve)
    elif step.isdigit():
        chosen = int(step)
    else:
        raise GuidedCotError(f"--step {step!r}: a step number or 'best'")
    checkpoint = find_checkpoint(run, chosen, checkpoints or [])
    evaluation = {"eval_em": curve[chosen]} if chosen in curve else {}
    with stage("rl export"):
        export_checkpoint(run, checkpoint, out, evaluation)
    console.print(f"step {chosen} ({checkpoint}) -> {out}", highlight=False)
