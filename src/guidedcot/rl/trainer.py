"""The RL loop: rollouts from the policy, rewards from the frozen reader, updates of the student.

One loop serves PPO (value head, GAE, clipped policy and value losses, KL penalty in the reward) and
the critic-free GRPO and RLOO (k rationales per question, group-relative advantages, KL term in the
loss); the algorithm is a config choice and rollout, reward, logging and checkpointing are shared.
It runs under Accelerate: one process, or DDP over CPU processes or GPUs (each process takes its share
of a step's questions; gradients are synchronised; the reader should then be one shared server).

`train_rl` reads top to bottom: `RLRun.start` builds the models, optimizer and logs (resuming from the
last checkpoint), `run_step` is one rollout + reward + update, and the loop around them adds the
held-out EM, the fixed probe, the step's record and checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from guidedcot.atomic import write_json_atomic
from guidedcot.config import config_to_dict
from guidedcot.data.context import TokenCounter
from guidedcot.errors import ConfigError
from guidedcot.llm.types import LanguageModel, stable_seed
from guidedcot.memory import release_free_heap, resident_gb
from guidedcot.metrics import contains_answer
from guidedcot.models.hf import native_bf16
from guidedcot.pipeline import Question
from guidedcot.progress import ProgressHook
from guidedcot.rewards import RewardSet
from guidedcot.rl.algorithms import Algorithm, algorithm_for
from guidedcot.rl.checkpoint import checkpoint_dirs, eval_steps, restore_state, save_final, save_state
from guidedcot.rl.config import RLConfig
from guidedcot.rl.core import (
    AdaptiveKLController,
    explained_variance,
    kl_penalty,
)
from guidedcot.rl.curves import plot_curves
from guidedcot.rl.data import load_questions, step_indices
from guidedcot.rl.heldout import evaluate_policy
from guidedcot.rl.inputs import build_rewards, student_prompts
from guidedcot.rl.policy import PolicyModel
from guidedcot.rl.probe import Probe
from guidedcot.rl.rollout import StaticRollouts, decode_responses, rollout_cache_kind, sample_responses
from guidedcot.rl.update import StepBatch, reference_logprobs, update
from guidedcot.runs import MetricsLog, PhaseTimer, refuse_unasked_resume
from guidedcot.student import load_student

logger = logging.getLogger(__name__)


@dataclass
class RLResult:
    """Where the refined student is, and what the run measured."""

    final_dir: Path
    steps: int
    resumed_from: int | None
    metrics: list[dict[str, Any]] = field(default_factory=list)


def check_config(config: RLConfig) -> None:
    """Refuse inconsistent settings before any model is loaded (`RLConfig.check`; for a config whose
    fields were set after it was built)."""
    config.check()


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
    check_config(config)
    run = RLRun.start(config, reader, data_dir, count_tokens, resume=resume, rewards=rewards)
    if progress:  # a resumed run starts at its last checkpoint: the time left is timed from here
        progress(f"step {run.first_step}", run.first_step, config.steps)
    for step in range(run.first_step, config.steps):
        record = run_step(run, step)
        if config.eval_every and (step + 1) % config.eval_every == 0 and step + 1 < config.steps:
            record.update(run.evaluate(step + 1))
        if config.probe_every and ((step + 1) % config.probe_every == 0 or step + 1 == config.steps):
            record.update(run.probe(step + 1))
        release_free_heap()  # the step's freed tensors go back to the system, not into a growing heap
        record["memory_rss_gb"] = resident_gb()
        if run.cuda:  # the step's peak, the reader's share included where it runs in this process
            record["gpu_memory_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
        run.log.write(record)
        if progress:
            progress(f"step {step + 1} reward {record['reward_mean']:.3f}", step + 1, config.steps)
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps or step + 1 in eval_steps(config):
            save_state(
                run.out, step + 1, run.policy, run.optimizer, run.scheduler, run.accelerator,
                run.kl_control.value, len(run.questions), config,
            )  # fmt: skip
    return run.finish()


@dataclass
class RLRun:
    """Everything a running loop holds: settings, the Accelerate state, policy and reference, optimizer,
    the training questions and their prompts, the reward, logs, and where it starts."""

    config: RLConfig
    algorithm: Algorithm
    accelerator: Any
    bf16: bool
    policy: Any  # the prepared PolicyModel (DDP-wrapped with several processes)
    reference: PolicyModel | None
    optimizer: Any
    scheduler: Any
    kl_control: AdaptiveKLController
    tokenizer: Any
    seq2seq: bool
    questions: list[Question]
    prompts: list[list[int]]
    rewards: RewardSet
    reader: LanguageModel
    data_dir: Path | None
    count_tokens: TokenCounter | None
    out: Path
    log: MetricsLog
    probe_log: MetricsLog
    fixed_probe: Probe | None
    first_step: int
    resumed_from: int | None
    static_rollouts: StaticRollouts | None = None

    @property
    def cuda(self) -> bool:
        return self.accelerator.device.type == "cuda"

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    def unwrapped(self) -> PolicyModel:
        return self.accelerator.unwrap_model(self.policy)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast on the run's device where the run uses it, else nothing."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.accelerator.device.type, dtype=torch.bfloat16)

    @classmethod
    def start(
        cls, config: RLConfig, reader: LanguageModel, data_dir: Path | None, count_tokens: TokenCounter | None,
        *, resume: bool, rewards: RewardSet | None,
    ) -> RLRun:  # fmt: skip
        """Load the student (and reference), build optimizer and schedule, restore the last checkpoint
        where there is one, open the logs, and probe before the first update."""
        from accelerate import Accelerator
        from transformers import get_linear_schedule_with_warmup

        cuda = torch.cuda.is_available()
        bf16 = native_bf16("cuda" if cuda else "cpu") if config.bf16 is None else config.bf16
        # float32 weights (the student loader's, the optimizer's master copy), and bf16 autocast around
        # sampling, the forward pass (policy and reference alike) and the update where the hardware has
        # it (mixed_precision is only named on a GPU: naming "no" clashes with an Accelerate state that an
        # earlier Trainer in the same process set up, e.g. TRL's bf16 default)
        accelerator = Accelerator(cpu=not cuda, **({"mixed_precision": "bf16"} if bf16 and cuda else {}))
        world, rank = accelerator.num_processes, accelerator.process_index
        if config.questions_per_step % world:
            raise ConfigError(
                f"questions_per_step {config.questions_per_step} does not split over {world} processes"
            )
        out = Path(config.out or "runs/rl")
        checkpoints = checkpoint_dirs(out / "checkpoints") if (out / "checkpoints").exists() else []
        refuse_unasked_resume(out, checkpoints[-1] if checkpoints else None, resume)
        questions = load_questions(
            config.datasets, data_dir, limit=config.limit, context_mode=str(config.context_mode),
            max_context_tokens=config.max_context_tokens, count_tokens=count_tokens,
        )  # fmt: skip
        torch.manual_seed(config.seed)
        policy, reference, tokenizer, seq2seq = _policy_and_reference(config)
        rows_per_step = config.questions_per_step // world * config.group_size
        updates_per_step = config.epochs_per_step * -(-rows_per_step // config.minibatch_size)
        trainable = [p for p in policy.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)
        scheduler = get_linear_schedule_with_warmup(
            optimizer, config.warmup_steps, config.steps * updates_per_step
        )
        kl_control = AdaptiveKLController(config.kl_coef, config.kl_target, config.kl_horizon)
        first_step, resumed_from = 0, None
        if checkpoints:
            first_step, kl_control.value = restore_state(
                checkpoints[-1], rank, policy, optimizer, scheduler, config, questions=len(questions), world=world
            )  # fmt: skip
            resumed_from = first_step
        # The scheduler stays outside `prepare`: Accelerate would step it once per process at every call
        # (its step_scheduler_with_optimizer default), so with 2 processes the rate reached 0 halfway.
        policy, optimizer = accelerator.prepare(policy, optimizer)
        main = accelerator.is_main_process
        prompts = student_prompts(tokenizer, config, questions, seq2seq=seq2seq)
        rewards = rewards or build_rewards(config, reader)
        run = cls(
            config=config, algorithm=algorithm_for(config), accelerator=accelerator, bf16=bf16, policy=policy,
            reference=reference.to(accelerator.device) if reference is not None else None,
            optimizer=optimizer, scheduler=scheduler, kl_control=kl_control, tokenizer=tokenizer,
            seq2seq=seq2seq, questions=questions, prompts=prompts, rewards=rewards, reader=reader, data_dir=data_dir,
            count_tokens=count_tokens, out=out, log=MetricsLog(out, enabled=main, keep_through=first_step),
            probe_log=MetricsLog(out, enabled=main and config.probe_every > 0, keep_through=first_step,
                                 name="probe.jsonl", logs="logs/probe"),
            fixed_probe=Probe.of_run(config, questions, prompts, rewards) if config.probe_every else None,
            first_step=first_step, resumed_from=resumed_from,
        )  # fmt: skip
        if rollout_cache_kind(config.rollout_cache, seq2seq=seq2seq, cuda=cuda) == "static":
            run.static_rollouts = StaticRollouts(
                run.unwrapped().model, tokenizer, rows=rows_per_step, max_prompt_tokens=max(map(len, run.prompts)),
                max_new_tokens=config.rationale_tokens, temperature=config.temperature, top_p=config.top_p,
                dtype=torch.bfloat16 if bf16 else None, compile=cuda,
            )  # fmt: skip
        if resumed_from is not None:
            logger.info("resuming %s from step %d", out, first_step)
        if main:
            write_json_atomic(out / "config.json", config_to_dict(dataclasses.replace(config, bf16=bf16)))
        if config.probe_every:  # the curve starts before any update (or where a resumed run first probes)
            probed = torch.tensor(float(bool(run.probe_log.records)), device=accelerator.device)
            if accelerator.reduce(probed, "sum").item() == 0:  # only the main process reads probe.jsonl
                run.probe(first_step)
        return run

    def probe(self, step: int) -> dict[str, Any]:
        """The fixed probe's reward for the current policy (main process; the others wait)."""
        summary: dict[str, Any] = {}
        if self.accelerator.is_main_process and self.fixed_probe is not None:
            record = self.fixed_probe.score(
                self.unwrapped().model, self.tokenizer, step=step, seq2seq=self.seq2seq,
                device=self.accelerator.device, autocast=self.autocast,
            )  # fmt: skip
            self.probe_log.write(record.as_json())
            summary = record.summary()
        self.accelerator.wait_for_everyone()
        return summary

    def evaluate(self, step: int) -> dict[str, Any]:
        """The reader's guided EM with the current student on the held-out questions."""
        return evaluate_policy(
            self.config, self.accelerator, self.unwrapped(), self.tokenizer, self.reader, self.data_dir,
            self.count_tokens, step, self.out,
        )  # fmt: skip

    def finish(self) -> RLResult:
        """The final held-out EM, ``final/`` (HF format), the curves; closes the logs."""
        config = self.config
        final_eval = self.evaluate(config.steps)
        final = self.out / "final"
        if self.accelerator.is_main_process:
            save_final(self.unwrapped(), self.tokenizer, final, config, final_eval)
            plot_curves(
                self.log.path,
                self.out / "curves.png",
                probe=self.probe_log.path if config.probe_every else None,
            )
        self.accelerator.wait_for_everyone()
        self.log.close()
        self.probe_log.close()
        return RLResult(final, config.steps, self.resumed_from, self.log.records)


def load_policy(config: RLConfig) -> tuple[PolicyModel, Any, bool]:
    """The student of ``config`` as a policy (LoRA adapters and the algorithm's value head as the
    config says), its tokenizer, and whether it is seq2seq."""
    student = load_student(
        config.student, lora=config.lora, lora_r=config.lora_r, lora_alpha=config.lora_alpha
    )
    student.model.config.use_cache = True
    policy = PolicyModel(
        student.model, seq2seq=student.seq2seq, with_value_head=algorithm_for(config).value_head,
        temperature=config.temperature,
    )  # fmt: skip
    return policy, student.tokenizer, student.seq2seq


def _policy_and_reference(config: RLConfig) -> tuple[PolicyModel, PolicyModel | None, Any, bool]:
    """The student as a policy (`load_policy`) and its frozen reference (none with LoRA: the base model
    with its adapters off is the reference), the tokenizer, and whether it is seq2seq."""
    policy, tokenizer, seq2seq = load_policy(config)
    reference = None
    if not config.lora:
        reference = PolicyModel(
            load_student(config.reference or config.student).model, seq2seq=seq2seq,
            with_value_head=False, temperature=config.temperature,
        )  # fmt: skip
        reference.requires_grad_(False).eval()
    return policy, reference, tokenizer, seq2seq


def run_step(run: RLRun, step: int) -> dict[str, Any]:
    """One step: sample ``group_size`` rationales for this process's questions, reward them, take the
    old and reference log-probabilities, the advantages, and the update; returns the step's record."""
    config, accelerator = run.config, run.accelerator
    indices = step_indices(step, len(run.questions), config.questions_per_step, config.seed)
    mine = indices[accelerator.process_index :: run.world]
    rows = [run.questions[i] for i in mine for _ in range(config.group_size)]
    timer = PhaseTimer()
    if run.cuda:
        torch.cuda.reset_peak_memory_stats()
    policy = run.unwrapped()
    prompts = [run.prompts[i] for i in mine for _ in range(config.group_size)]
    seed = stable_seed(config.seed, step, accelerator.process_index)
    with timer("rollout"), run.autocast():
        policy.eval()
        if run.static_rollouts is not None:
            run.static_rollouts.sync()
            rollout = run.static_rollouts.sample(prompts, generator_seed=seed)
        else:
            rollout = sample_responses(
                policy.model, run.tokenizer, prompts, seq2seq=run.seq2seq, max_new_tokens=config.rationale_tokens,
                temperature=config.temperature, top_p=config.top_p, generator_seed=seed, device=accelerator.device,
            )  # fmt: skip
        texts = decode_responses(run.tokenizer, rollout)
    with timer("reward"):
        rewarded = run.rewards(
            None, texts, question=[q.question for q in rows], context=[q.context for q in rows],
            answers=[list(q.answers) for q in rows], id=[q.id for q in rows],
        )  # fmt: skip
        scores = torch.tensor(rewarded.total, dtype=torch.float32, device=accelerator.device)
    with timer("forward"), torch.no_grad(), run.autocast():
        old_logp, _, old_values = policy(**rollout.as_kwargs())
        ref_logp = reference_logprobs(policy, run.reference, rollout)
    mask = rollout.response_mask.float()
    kl = kl_penalty(old_logp, ref_logp, "k1") * mask
    advantages, returns = run.algorithm.advantages(scores, kl, old_values, mask, run.kl_control.value)
    batch = StepBatch(rollout, old_logp, ref_logp, old_values, advantages, returns, mask)
    with timer("update"), run.autocast():
        policy.train()
        stats = update(
            run.policy, run.optimizer, run.scheduler, accelerator, batch, kl_coef=run.kl_control.value,
            config=config, step=step, algorithm=run.algorithm,
        )  # fmt: skip
    seq_kl = (kl.sum(dim=1)).mean().item()
    run.kl_control.update(
        accelerator.reduce(torch.tensor(seq_kl, device=accelerator.device), "mean").item(),
        len(rows) * run.world,
    )
    record = step_metrics(step, rewarded, scores, texts, rows, mask, seq_kl, stats, timer, accelerator)
    record["kl_coef"] = run.kl_control.value
    record["world_size"] = run.world
    record["question_ids"] = [run.questions[i].id for i in indices]
    if returns is not None and old_values is not None:
        record["explained_variance"] = explained_variance(old_values, returns, mask)
    return record


def step_metrics(
    step: int, batch: Any, scores: torch.Tensor, texts: Sequence[str], rows: Sequence[Question],
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
