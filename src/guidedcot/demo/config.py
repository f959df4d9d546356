"""Settings of `guidedcot demo`: the sizes of the embedded study it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from guidedcot import defaults
from guidedcot.config import Checked, load_config


@dataclass
class DemoConfig(Checked):
    """Settings of `guidedcot demo`."""

    data_dir: str | None = field(default=None, metadata={"help": "Dataset folder; default $GUIDEDCOT_DATA."})
    student: str = field(
        default=defaults.STUDENT, metadata={"help": "Student model: named model, path or hub id."}
    )
    reader: str = field(default=defaults.READER, metadata={"help": "Reader (and teacher) model."})
    eval_datasets: list[str] = field(
        default_factory=lambda: list(defaults.EVAL_DATASETS),
        metadata={"help": "Held-out evaluation questions (disjoint from the teacher's)."},
    )
    eval_limit: int = field(default=10, metadata={"min": 1, "help": "Evaluation questions per dataset."})
    teacher_datasets: list[str] = field(
        default_factory=lambda: list(defaults.TEACHER_DATASETS),
        metadata={"help": "Training questions for teacher rationales."},
    )
    teacher_limit: int | None = field(
        default=20, metadata={"min": 1, "help": "Teacher questions per dataset entry (null: all of them)."}
    )
    epochs: float = field(default=3.0, metadata={"above": 0, "help": "Distillation epochs."})
    learning_rate: float = field(default=5e-5, metadata={"above": 0, "help": "Distillation learning rate."})
    cot_tokens: int = field(
        default=256, metadata={"min": 1, "help": "Max new tokens of the reader's CoT (teacher, cot)."}
    )
    rationale_tokens: int = field(
        default=128, metadata={"min": 1, "help": "Max new tokens of a student rationale."}
    )
    rl_steps: int = field(
        default=2, metadata={"min": 0, "help": "RL steps (GRPO, task reward) after distillation."}
    )
    rl_questions_per_step: int = field(default=2, metadata={"min": 1, "help": "RL questions per step."})
    rl_group_size: int = field(default=4, metadata={"min": 2, "help": "RL rationales per question."})
    rl_learning_rate: float = field(default=1e-5, metadata={"above": 0, "help": "RL learning rate."})
    cache: str = field(default="default", metadata={"help": "Generation cache ('default', a path or none)."})
    out: str = field(default="runs/demo", metadata={"help": "Demo folder (reused and resumed)."})

    def make_quick(self) -> None:
        """A few questions per stage: minutes (what `--quick` and the tests run)."""
        self.eval_limit, self.teacher_limit, self.epochs = 4, 8, 1.0
        self.rl_steps, self.rl_questions_per_step, self.rl_group_size = 1, 2, 2
        self.cot_tokens, self.rationale_tokens = 96, 48


def load_demo_settings(
    path: Path | str | None = None, overrides: list[str] | None = None, *, quick: bool = False
) -> DemoConfig:
    """The demo's settings: defaults (the quick sizes with ``quick``), then the YAML file at ``path``,
    then ``key=value`` overrides, so `--quick --set teacher_limit=16`
    runs 16 teacher questions of each dataset entry."""
    base = DemoConfig()
    if quick:
        base.make_quick()
    return load_config(DemoConfig, path, overrides, base=base)
