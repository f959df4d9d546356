"""`RLConfig`: every knob of `guidedcot rl`, one dataclass for the Python API, YAML and ``--set``.

Defaults start from the closest public recipes for a sub-1B student trained against a black-box
LLM reward (learning rate ~1e-6 to 1e-5, 2-4 epochs per rollout batch, small KL coefficient with a
target KL), scaled to what a 2-core CPU can run; each help text says what the knob trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from guidedcot import defaults
from guidedcot.config import Checked
from guidedcot.data import ContextMode
from guidedcot.errors import ConfigError
from guidedcot.llm.config import ModelConfig
from guidedcot.prompts import JudgeConfig, PromptsConfig
from guidedcot.rewards.combine import RewardMode
from guidedcot.rewards.task import TaskMetric


class Algo(StrEnum):
    """The policy-gradient algorithm (`guidedcot.rl.algorithms`)."""

    PPO = "ppo"
    """A value head and GAE: the paper's setting."""
    GRPO = "grpo"
    RLOO = "rloo"


class RolloutCache(StrEnum):
    """The KV cache rollouts sample with."""

    AUTO = "auto"
    DYNAMIC = "dynamic"
    STATIC = "static"


def _reader() -> ModelConfig:
    return ModelConfig(model=defaults.READER)


@dataclass
class RLConfig(Checked):
    """Settings of `guidedcot rl`."""

    student: str = field(
        default=defaults.STUDENT,
        metadata={"help": "The student to refine (usually the distilled one: a folder from distill train)."},
    )
    reference: str | None = field(
        default=None, metadata={"help": "Frozen KL reference; default: the student as loaded at step 0."}
    )
    reader: ModelConfig = field(default_factory=_reader)
    algo: Algo = field(
        default=Algo.GRPO,
        metadata={
            "help": "ppo (value head + GAE, the paper's setting) | grpo | rloo (critic-free, k per question).",
        },
    )
    reward: RewardMode = field(
        default=RewardMode.TASK,
        metadata={
            "help": "task | aspect | task+aspect | gated (aspect only when the answer is right).",
        },
    )
    task_metric: TaskMetric = field(
        default=TaskMetric.EM,
        metadata={"help": "em | f1 | gain (over standard prompting)."},
    )
    task_weight: float = field(
        default=1.0, metadata={"min": 0, "help": "Weight of the task reward in the sum."}
    )
    aspect_weight: float = field(
        default=0.125,
        metadata={
            "min": 0,
            "help": "Weight of R_aspect (0.125 x 8 aspects puts it on the task reward's [0, 1] scale).",
        },
    )
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    data_dir: str | None = field(default=None, metadata={"help": "Dataset folder; default $GUIDEDCOT_DATA."})
    datasets: list[str] = field(
        default_factory=lambda: list(defaults.TEACHER_DATASETS),
        metadata={"help": "Training questions (keep them disjoint from the evaluation questions)."},
    )
    limit: int | None = field(
        default=None, metadata={"min": 1, "help": "Training questions per dataset entry."}
    )
    eval_datasets: list[str] = field(
        default_factory=lambda: list(defaults.EVAL_DATASETS),
        metadata={"help": "Held-out questions for eval_every."},
    )
    eval_limit: int = field(
        default=8, metadata={"min": 0, "help": "Questions per eval dataset at every eval_every."}
    )
    eval_every: int = field(
        default=0,
        metadata={"min": 0, "help": "Evaluate the reader's guided EM every N steps; 0: only at the end."},
    )
    probe_every: int = field(
        default=0,
        metadata={
            "min": 0,
            "help": "Every N steps, before the first and after the last: the training reward of the current "
            "policy on a fixed probe (probe_questions training questions x group_size rationales, fixed "
            "sampling seeds), free of which questions a step drew; probe.jsonl. 0: off.",
        },
    )
    probe_questions: int = field(
        default=16, metadata={"min": 1, "help": "Training questions of the fixed probe (probe_every)."}
    )
    context_mode: ContextMode = field(default=ContextMode.GOLD, metadata={"help": "gold or distractor."})
    max_context_tokens: int = field(
        default=1024, metadata={"min": 1, "help": "Context budget in reader tokens."}
    )
    steps: int = field(default=20, metadata={"min": 1, "help": "Rollout + update steps."})
    questions_per_step: int = field(
        default=4,
        metadata={
            "min": 1,
            "help": "Questions per step over all processes (each gets group_size rationales).",
        },
    )
    group_size: int = field(
        default=4,
        metadata={"min": 1, "help": "Rationales per question (k). GRPO/RLOO need >= 2; PPO works with 1."},
    )
    max_prompt_tokens: int | None = field(
        default=None,
        metadata={
            "min": 1,
            "help": "Student prompt tokens at most: a longer prompt loses the end of its context, never its "
            "question. null: no cut beyond max_context_tokens, so training prompts are inference's prompts.",
        },
    )
    rationale_tokens: int = field(
        default=64, metadata={"min": 1, "help": "Max new tokens of a sampled rationale."}
    )
    temperature: float = field(
        default=1.0, metadata={"above": 0, "help": "Sampling temperature of rollouts."}
    )
    top_p: float = field(
        default=1.0, metadata={"above": 0, "max": 1, "help": "Nucleus sampling of rollouts."}
    )
    rollout_cache: RolloutCache = field(
        default=RolloutCache.AUTO,
        metadata={
            "help": "KV cache of rollouts: dynamic (transformers' generate) or static (causal students: a "
            "fixed cache; on a GPU a compiled, graph-captured decode step with packed GQA attention, "
            "8x faster in the RL loop on an H200; the same samples, bf16 rounding apart). auto: static for "
            "a causal student on a GPU, dynamic otherwise.",
        },
    )
    learning_rate: float = field(
        default=2e-6,
        metadata={"above": 0, "help": "AdamW learning rate (higher learns faster, drifts more)."},
    )
    warmup_steps: int = field(default=0, metadata={"min": 0, "help": "Linear warm-up in optimizer steps."})
    epochs_per_step: int = field(
        default=2, metadata={"min": 1, "help": "Passes over each rollout batch (PPO epochs)."}
    )
    minibatch_size: int = field(default=8, metadata={"min": 1, "help": "Rationales per optimizer step."})
    clip_range: float = field(default=0.2, metadata={"above": 0, "help": "Clip of the policy ratio."})
    value_clip_range: float = field(
        default=0.2, metadata={"above": 0, "help": "Clip of the value change (PPO)."}
    )
    value_coef: float = field(default=0.1, metadata={"min": 0, "help": "Weight of the value loss (PPO)."})
    gamma: float = field(default=1.0, metadata={"min": 0, "max": 1, "help": "Discount (PPO)."})
    lam: float = field(default=0.95, metadata={"min": 0, "max": 1, "help": "GAE lambda (PPO)."})
    kl_coef: float = field(
        default=0.05,
        metadata={"min": 0, "help": "KL penalty towards the reference (reward for PPO, loss for GRPO/RLOO)."},
    )
    kl_target: float | None = field(
        default=None,
        metadata={"above": 0, "help": "Adapt kl_coef towards this KL per rationale (PPO); null: fixed."},
    )
    kl_horizon: int = field(
        default=10000, metadata={"min": 1, "help": "Horizon of the adaptive KL controller."}
    )
    target_kl: float | None = field(
        default=0.1,
        metadata={"above": 0, "help": "Stop a step's epochs early when the approximate KL passes 1.5x this."},
    )
    whiten_rewards: bool = field(
        default=False, metadata={"help": "Whiten the sequence rewards of a batch (PPO)."}
    )
    max_grad_norm: float = field(default=1.0, metadata={"above": 0, "help": "Gradient clipping."})
    lora: bool = field(
        default=False, metadata={"help": "Train LoRA adapters; the reference is the base without them."}
    )
    lora_r: int = field(default=16, metadata={"min": 1, "help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"min": 1, "help": "LoRA alpha."})
    bf16: bool | None = field(
        default=None,
        metadata={
            "help": "bf16 autocast over fp32 weights for sampling, forward and update; null = where the "
            "hardware multiplies bf16 natively (a recent GPU, a CPU with AVX-512 BF16 or AMX)."
        },
    )
    save_every: int = field(
        default=5,
        metadata={
            "min": 1,
            "help": "Checkpoint every N steps (model, value head, optimizer, RNG, data position).",
        },
    )
    seed: int = field(
        default=0, metadata={"min": 0, "help": "Seed of data order, sampling and initialisation."}
    )
    cache: str | None = field(
        default="default", metadata={"help": "Generation cache for reader calls (rollouts are never cached)."}
    )
    out: str | None = field(default=None, metadata={"help": "Run folder; default runs/rl."})
    prompts: PromptsConfig = field(default_factory=PromptsConfig)

    def check(self) -> None:
        """Refuse a value outside its range or choices, and settings that contradict each other, before
        anything loads (again after fields were set by hand, as the command line does)."""
        super().check()
        if self.algo in {Algo.GRPO, Algo.RLOO} and self.group_size < 2:
            raise ConfigError(f"{self.algo} compares rationales of one question: set group_size >= 2")
