"""The RL loop: rollouts from the policy, rewards from the frozen reader, updates of the student.

One loop serves PPO (value head, GAE, clipped policy and value losses, KL penalty in the reward) and
the critic-free GRPO and RLOO (k rationales per question, group-relative advantages, KL term in the
loss); the algorithm is a config choice and rollout, reward, logging and checkpointing are shared.
It runs under Accelerate: one process, or DDP over CPU processes or GPUs (each process takes its share
of a step's questions; gradients are synchronised; the reader should then be one shared server).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from guidedcot.atomic import write_json_atomic
from guidedcot.config import config_to_dict
from guidedcot.data.context import TokenCounter
from guidedcot.errors import ConfigError, GuidedCotError
from guidedcot.llm.types import LanguageModel, stable_seed
from guidedcot.memory import release_free_heap, resident_gb
from guidedcot.metrics import best_exact_match, contains_answer
from guidedcot.models.hf import native_bf16
from guidedcot.pipeline import Answerer, Decoding, Method, MethodKind, Question
from guidedcot.progress import ProgressHook
from guidedcot.prompts import build_templates
from guidedcot.rewards import (
    REWARD_MODES,
    TASK_METRICS,
    RewardSet,
)
from guidedcot.rl.checkpoint import (
    checkpoint_dirs,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from guidedcot.rl.config import RLConfig
from guidedcot.rl.core import (
    AdaptiveKLController,
    gae,
    group_advantages,
    kl_penalty,
    masked_mean,
    masked_whiten,
    policy_loss,
    value_loss,
)
from guidedcot.rl.curves import plot_curves
from guidedcot.rl.data import RLQuestion, load_questions, step_indices
from guidedcot.rl.inputs import build_rewards, student_prompts
from guidedcot.rl.policy import PolicyModel, RolloutTensors, decode_responses, sample_responses
from guidedcot.rl.probe import probe_indices, probe_policy
from guidedcot.student import load_student

logger = logging.getLogger(__name__)
ALGOS = ("ppo", "grpo", "rloo")


@dataclass
class RLResult:
    """Where the refined student is, and what the run measured."""

    final_dir: Path
    steps: int
    resumed_from: int | None
    metrics: list[dict[str, Any]] = field(default_factory=list)


def check_config(config: RLConfig) -> None:
    """Refuse inconsistent settings before any model is loaded."""
    if config.algo not in ALGOS:
        raise ConfigError(f"unknown algo {config.algo!r}; choose from {', '.join(ALGOS)}")
    if config.reward not in REWARD_MODES:
        raise ConfigError(f"unknown reward {config.reward!r}; choose from {', '.join(REWARD_MODES)}")
    if config.task_metric not in TASK_METRICS:
        raise ConfigError(
            f"unknown task_metric {config.task_metric!r}; choose from {', '.join(TASK_METRICS)}"
        )
    if config.algo in {"grpo", "rloo"} and config.group_size < 2:
        raise ConfigError(f"{config.algo} compares rationales of one question: set group_size >= 2")
    if config.steps < 1 or config.questions_per_step < 1 or config.minibatch_size < 1:
        raise ConfigError("steps, questions_per_step and minibatch_size must be at least 1")
    if config.probe_every < 0 or (config.probe_every and config.probe_questions < 1):
        raise ConfigError("probe_every must be >= 0 (0: off), and probe_questions >= 1 when it is on")


def train_rl(
    config: RLConfig,
    *,
    reader: LanguageModel,
    data_dir: Path | None,
    count_tokens: TokenCounter | None = None,
    resume: bool = False,
    progress: ProgressHook | None = None,
    rewards: RewardSet | None = None,
) -> RLResult:
    """Refine ``config.student`` with RL and save ``out/final``; resumes from the last checkpoint.

    ``rewards`` replaces the configured reward variant (any TRL-shaped reward functions).
    """
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    check_config(config)
    cuda = torch.cuda.is_available()
    bf16 = native_bf16("cuda" if cuda else "cpu") if config.bf16 is None else config.bf16
    # float32 weights (the student loader's, the optimizer's master copy), and bf16 autocast around
    # sampling, the forward pass (policy and reference alike) and the update where the hardware has it
    # (mixed_precision is only named on a GPU: naming "no" clashes with an Accelerate state that an
    # earlier Trainer in the same process set up, e.g. TRL's bf16 default)
    accelerator = Accelerator(cpu=not cuda, **({"mixed_precision": "bf16"} if bf16 and cuda else {}))

    def autocast() -> contextlib.AbstractContextManager[Any]:
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(accelerator.device.type, dtype=torch.bfloat16)

    world, rank = accelerator.num_processes, accelerator.process_index
    if config.questions_per_step % world:
        raise ConfigError(
            f"questions_per_step {config.questions_per_step} does not split over {world} processes"
        )
    out = Path(config.out or "runs/rl")
    checkpoints = checkpoint_dirs(out / "checkpoints") if (out / "checkpoints").exists() else []
    if checkpoints and not resume:
        raise GuidedCotError(
            f"{out} already holds checkpoints (last: {checkpoints[-1].name}); pass --resume to continue, "
            "or choose another --out (nothing is deleted)"
        )
    questions = load_questions(
        config.datasets, data_dir, limit=config.limit, context_mode=str(config.context_mode),
        max_context_tokens=config.max_context_tokens, count_tokens=count_tokens,
    )  # fmt: skip
    rewards = rewards or build_rewards(config, reader)

    torch.manual_seed(config.seed)
    student = load_student(
        config.student, lora=config.lora, lora_r=config.lora_r, lora_alpha=config.lora_alpha
    )
    student.model.config.use_cache = True
    policy = PolicyModel(
        student.model, seq2seq=student.seq2seq, with_value_head=config.algo == "ppo",
        temperature=config.temperature,
    )  # fmt: skip
    reference = None
    if not config.lora:
        reference_student = load_student(config.reference or config.student)
        reference = PolicyModel(
            reference_student.model, seq2seq=student.seq2seq, with_value_head=False,
            temperature=config.temperature,
        )  # fmt: skip
        reference.requires_grad_(False).eval()
    tokenizer = student.tokenizer
    prompts = student_prompts(tokenizer, config, questions, seq2seq=student.seq2seq)
    rows_per_step = config.questions_per_step // world * config.group_size
    updates_per_step = config.epochs_per_step * -(-rows_per_step // config.minibatch_size)
    optimizer = torch.optim.AdamW(
        [p for p in policy.parameters() if p.requires_grad], lr=config.learning_rate
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, config.warmup_steps, config.steps * updates_per_step
    )
    kl_control = AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon)

    start, resumed_from = 0, None
    if checkpoints:
        loaded = load_checkpoint(checkpoints[-1], rank)
        check_resumable(checkpoints[-1], loaded, policy, config)
        policy.load_state_dict(loaded["trainable"], strict=False)  # the frozen weights are the student's
        optimizer.load_state_dict(loaded["optimizer"])
        scheduler.load_state_dict(loaded["scheduler"])
        set_rng_state(loaded["rng"])
        state = loaded["state"]
        if state["questions"] != len(questions) or state["world_size"] != world:
            raise GuidedCotError(
                f"{checkpoints[-1]} was made with {state['questions']} questions on {state['world_size']} "
                f"processes; this run has {len(questions)} on {world}"
            )
        start = resumed_from = state["step"]
        kl_control.value = state["kl_coef"]
        logger.info("resuming %s from step %d", out, start)
    # The scheduler stays outside `prepare`: Accelerate would step it once per process at every call
    # (its step_scheduler_with_optimizer default), so with 2 processes the rate reached 0 halfway.
    policy, optimizer = accelerator.prepare(policy, optimizer)
    if reference is not None:
        reference = reference.to(accelerator.device)

    log = MetricsLog(out, enabled=accelerator.is_main_process, keep_through=start)
    probe_log = MetricsLog(
        out, enabled=accelerator.is_main_process and config.probe_every > 0, keep_through=start,
        name="probe.jsonl", logs="logs/probe",
    )  # fmt: skip
    probe_set = (
        probe_indices(len(questions), config.probe_questions, config.seed) if config.probe_every else []
    )

    def probe(step: int) -> dict[str, Any]:
        """The fixed probe's reward for the current policy (main process; the others wait)."""
        summary: dict[str, Any] = {}
        if accelerator.is_main_process:
            record = probe_policy(
                accelerator.unwrap_model(policy).model, tokenizer, [prompts[i] for i in probe_set],
                [questions[i] for i in probe_set], rewards, step=step, seq2seq=student.seq2seq,
                group_size=config.group_size, rationale_tokens=config.rationale_tokens,
                temperature=config.temperature, top_p=config.top_p, seed=config.seed,
                device=accelerator.device, autocast=autocast,
            )  # fmt: skip
            probe_log.write(record.as_json())
            summary = record.summary()
        accelerator.wait_for_everyone()
        return summary

    if accelerator.is_main_process:
        write_json_atomic(out / "config.json", config_to_dict(dataclasses.replace(config, bf16=bf16)))
    if config.probe_every:  # the curve starts before any update (or where a resumed run first probes)
        probed = torch.tensor(float(bool(probe_log.records)), device=accelerator.device)
        if accelerator.reduce(probed, "sum").item() == 0:  # only the main process reads probe.jsonl
            probe(start)
    for step in range(start, config.steps):
        indices = step_indices(step, len(questions), config.questions_per_step, config.seed)
        mine = indices[rank::world]
        timer = PhaseTimer()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with timer("rollout"), autocast():
            unwrapped = accelerator.unwrap_model(policy)
            unwrapped.eval()
            rollout = sample_responses(
                unwrapped.model, tokenizer, [prompts[i] for i in mine for _ in range(config.group_size)],
                seq2seq=student.seq2seq, max_new_tokens=config.rationale_tokens, temperature=config.temperature,
                top_p=config.top_p, generator_seed=stable_seed(config.seed, step, rank), device=accelerator.device,
            )  # fmt: skip
            texts = decode_responses(tokenizer, rollout)
        rows = [questions[i] for i in mine for _ in range(config.group_size)]
        with timer("reward"):
            batch = rewards(
                None, texts, question=[q.question for q in rows], context=[q.context for q in rows],
                answers=[list(q.answers) for q in rows], id=[q.id for q in rows],
            )  # fmt: skip
            scores = torch.tensor(batch.total, dtype=torch.float32, device=accelerator.device)
        with timer("forward"), torch.no_grad(), autocast():
            old_logp, _, old_values = unwrapped(**rollout.as_kwargs())
            ref_logp = reference_logprobs(unwrapped, reference, rollout)
        mask = rollout.response_mask.float()
        kl = kl_penalty(old_logp, ref_logp, "k1") * mask
        if config.algo == "ppo":
            advantages, returns = ppo_advantages(scores, kl, old_values, mask, kl_control.value, config)
        else:
            advantages = group_advantages(scores, config.group_size, config.algo)[:, None] * mask  # type: ignore[arg-type]
            returns = None
        with timer("update"), autocast():
            unwrapped.train()
            stats = update(
                policy, optimizer, scheduler, accelerator, rollout, old_logp, ref_logp, old_values, advantages,
                returns, mask, kl_control.value, config, step,
            )  # fmt: skip
        seq_kl = (kl.sum(dim=1)).mean().item()
        kl_control.update(
            accelerator.reduce(torch.tensor(seq_kl, device=accelerator.device), "mean").item(),
            len(rows) * world,
        )
        record = step_metrics(step, batch, scores, texts, rows, mask, seq_kl, stats, timer, accelerator)
        record["kl_coef"] = kl_control.value
        record["world_size"] = world
        record["question_ids"] = [questions[i].id for i in indices]
        if config.algo == "ppo" and returns is not None and old_values is not None:
            record["explained_variance"] = explained_variance(old_values, returns, mask)
        if config.eval_every and (step + 1) % config.eval_every == 0 and step + 1 < config.steps:
            record.update(
                evaluate_policy(
                    config, accelerator, unwrapped, tokenizer, reader, data_dir, count_tokens, step + 1
                )
            )
        if config.probe_every and ((step + 1) % config.probe_every == 0 or step + 1 == config.steps):
            record.update(probe(step + 1))
        del rollout, old_logp, ref_logp, old_values, advantages, returns, kl, mask
        release_free_heap()  # the step's freed tensors go back to the system, not into a growing heap
        record["memory_rss_gb"] = resident_gb()
        if cuda:  # the step's peak, the reader's share included where it runs in this process
            record["gpu_memory_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
        log.write(record)
        if progress:
            progress(f"step {step + 1} reward {record['reward_mean']:.3f}", step + 1, config.steps)
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            save_state(
                out,
                step + 1,
                policy,
                optimizer,
                scheduler,
                accelerator,
                kl_control.value,
                len(questions),
                config,
            )
    final_eval = evaluate_policy(
        config,
        accelerator,
        accelerator.unwrap_model(policy),
        tokenizer,
        reader,
        data_dir,
        count_tokens,
        config.steps,
    )
    final = out / "final"
    if accelerator.is_main_process:
        save_final(accelerator.unwrap_model(policy), tokenizer, final, config, final_eval)
        plot_curves(log.path, out / "curves.png", probe=probe_log.path if config.probe_every else None)
    accelerator.wait_for_everyone()
    log.close()
    probe_log.close()
    return RLResult(final, config.steps, resumed_from, log.records)


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


def reference_logprobs(
    policy: PolicyModel, reference: PolicyModel | None, rollout: RolloutTensors
) -> torch.Tensor:
    """Token log-probabilities under the frozen reference (for LoRA: the base without its adapters)."""
    if reference is not None:
        return reference(**rollout.as_kwargs())[0]
    with policy.model.disable_adapter():
        return policy(**rollout.as_kwargs())[0]


def ppo_advantages(
    scores: torch.Tensor,
    kl: torch.Tensor,
    values: torch.Tensor | None,
    mask: torch.Tensor,
    kl_coef: float,
    config: RLConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rewards (-kl_coef * KL per token, the score at each rationale's last token), then GAE."""
    assert values is not None
    if config.whiten_rewards and scores.numel() > 1:
        scores = (scores - scores.mean()) / (scores.std() + 1e-8)
    rewards = -kl_coef * kl
    last = (mask.sum(dim=1) - 1).clamp(min=0).long()
    rewards[torch.arange(rewards.shape[0]), last] += scores
    advantages, returns = gae(rewards, values.detach(), mask, config.gamma, config.lam)
    return masked_whiten(advantages, mask), returns


def update(
    policy: Any, optimizer: Any, scheduler: Any, accelerator: Any, rollout: RolloutTensors,
    old_logp: torch.Tensor, ref_logp: torch.Tensor, old_values: torch.Tensor | None,
    advantages: torch.Tensor, returns: torch.Tensor | None, mask: torch.Tensor, kl_coef: float,
    config: RLConfig, step: int,
) -> dict[str, float]:  # fmt: skip
    """``epochs_per_step`` passes of minibatch updates; stops early past 1.5 x ``target_kl``."""
    rows = mask.shape[0]
    sums: dict[str, list[float]] = {}
    generator = torch.Generator().manual_seed(stable_seed(config.seed, step, 17))
    epochs_run = 0
    for _ in range(config.epochs_per_step):
        epoch_kl = []
        order = minibatch_order(rows, config.group_size, config.minibatch_size, generator)
        for start in range(0, rows, config.minibatch_size):
            index = order[start : start + config.minibatch_size].to(mask.device)
            batch = rollout.rows(index)
            logp, entropy, values = policy(**batch.as_kwargs())
            m = mask[index]
            stats = policy_loss(logp, old_logp[index], advantages[index], m, config.clip_range)
            loss = stats.loss
            if config.algo == "ppo":
                assert values is not None and old_values is not None and returns is not None
                v_loss, v_clip = value_loss(
                    values, old_values[index], returns[index], m, config.value_clip_range
                )
                loss = loss + config.value_coef * v_loss
                sums.setdefault("value_loss", []).append(v_loss.item())
                sums.setdefault("value_clip_fraction", []).append(v_clip)
            else:
                kl_term = masked_mean(kl_penalty(logp, ref_logp[index], "k3"), m)
                loss = loss + kl_coef * kl_term
            accelerator.backward(loss)
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            sums.setdefault("policy_loss", []).append(stats.loss.item())
            sums.setdefault("clip_fraction", []).append(stats.clip_fraction)
            sums.setdefault("approx_kl", []).append(stats.approx_kl)
            sums.setdefault("entropy", []).append(masked_mean(entropy.detach(), m).item())
            epoch_kl.append(stats.approx_kl)
        epochs_run += 1
        mean_kl = accelerator.reduce(
            torch.tensor(sum(epoch_kl) / len(epoch_kl), device=mask.device), "mean"
        ).item()
        if config.target_kl is not None and mean_kl > 1.5 * config.target_kl:
            break
    result = {k: sum(v) / len(v) for k, v in sums.items()}
    result["epochs_run"] = epochs_run
    result["learning_rate"] = scheduler.get_last_lr()[0]
    return result


def minibatch_order(
    rows: int, group_size: int, minibatch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """A shuffled order of a step's rows for its minibatches. Where whole groups fit a minibatch (and the
    rows are whole groups), groups are shuffled and kept together, so a minibatch's rationales of one
    question share its prompt's pass (`PolicyModel`); otherwise rows are shuffled one by one."""
    if group_size > 1 and rows % group_size == 0 and minibatch_size % group_size == 0:
        groups = torch.randperm(rows // group_size, generator=generator)
        return (groups[:, None] * group_size + torch.arange(group_size)).flatten()
    return torch.randperm(rows, generator=generator)


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) over real tokens (1: a perfect critic, <= 0: useless)."""
    var_returns = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
    residual = returns - values
    var_residual = masked_mean((residual - masked_mean(residual, mask)) ** 2, mask)
    return (1 - var_residual / var_returns).item() if var_returns > 0 else float("nan")


def step_metrics(
    step: int, batch: Any, scores: torch.Tensor, texts: Sequence[str], rows: Sequence[RLQuestion],
    mask: torch.Tensor, seq_kl: float, stats: dict[str, float], timer: PhaseTimer, accelerator: Any,
) -> dict[str, Any]:  # fmt: skip
    """The step's record for metrics.jsonl, averaged over every process."""
    local = {
        "reward_mean": scores.mean().item(),
        "reward_std": scores.std().item() if scores.numel() > 1 else 0.0,
        "kl": seq_kl,
        "rationale_tokens": mask.sum(dim=1).mean().item(),
        "rationale_words": sum(len(t.split()) for t in texts) / len(texts),
        "rationale_contains_gold": sum(
            contains_answer(t, q.answers) for t, q in zip(texts, rows, strict=True)
        )
        / len(texts),
        **stats,
        **{f"seconds_{phase}": seconds for phase, seconds in timer.seconds.items()},
    }
    for name, values in batch.components.items():
        applied = [v for v in values if v is not None]
        local[f"reward_{name}"] = sum(applied) / len(applied) if applied else float("nan")
        local[f"reward_{name}_applies"] = len(applied) / len(values)
    keys = sorted(local)
    reduced = accelerator.reduce(torch.tensor([float(local[k]) for k in keys], device=scores.device), "mean")
    return {"step": step + 1, **dict(zip(keys, reduced.tolist(), strict=True)), "example": texts[0][:300]}


def evaluate_policy(
    config: RLConfig, accelerator: Any, policy: PolicyModel, tokenizer: Any, reader: LanguageModel,
    data_dir: Path | None, count_tokens: TokenCounter | None, step: int,
) -> dict[str, Any]:  # fmt: skip
    """The reader's EM with the current student's greedy rationales on a held-out subset (main process)."""
    result: dict[str, Any] = {}
    if accelerator.is_main_process and config.eval_limit > 0:
        from guidedcot.llm.hf import TransformersLanguageModel

        questions = load_questions(
            config.eval_datasets, data_dir, limit=config.eval_limit, context_mode=str(config.context_mode),
            max_context_tokens=config.max_context_tokens, count_tokens=count_tokens,
        )  # fmt: skip
        student = TransformersLanguageModel(
            "", identity=f"rl-policy:{config.out}:step{step}", model=policy.model, tokenizer=tokenizer,
            device=str(accelerator.device),
        )  # fmt: skip
        answerer = Answerer(
            reader=reader, student=student, templates=build_templates(config.prompts),
            decoding=Decoding(rationale_tokens=config.rationale_tokens, seed=config.seed),
        )  # fmt: skip
        answers = answerer.run(
            Method(MethodKind.GUIDED), [Question(q.id, q.question, q.context) for q in questions]
        )
        em = [best_exact_match(a.answer, q.answers) for a, q in zip(answers, questions, strict=True)]
        result = {"eval_em": sum(em) / len(em), "eval_n": len(em)}
        policy.train()
    accelerator.wait_for_everyone()
    return result


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
            state=state, rank_rng=dict(enumerate(states)),
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


class PhaseTimer:
    """Seconds per named phase of a step: ``with timer("reward"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - began


class MetricsLog:
    """A JSONL log (metrics.jsonl: one line per step; probe.jsonl: one per probe), each line fsynced, and
    its TensorBoard scalars, from the main process.

    On resume, lines of steps after the checkpoint are dropped: those steps run again.
    """

    def __init__(
        self, out: Path, *, enabled: bool, keep_through: int, name: str = "metrics.jsonl", logs: str = "logs"
    ) -> None:
        self.path = out / name
        self.enabled = enabled
        self.records: list[dict[str, Any]] = []
        self.writer = None
        if not enabled:
            return
        out.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            kept = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line cut by a kill
                if record["step"] <= keep_through:
                    kept.append(record)
            self.records = kept
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / logs))

    def write(self, record: dict[str, Any]) -> None:
        """Append one step's record."""
        if not self.enabled:
            return
        self.records.append(record)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        for key, value in record.items():
            if isinstance(value, int | float) and key != "step":
                self.writer.add_scalar(key, value, record["step"])  # type: ignore[union-attr]

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.writer is not None:
            self.writer.close()
