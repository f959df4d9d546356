"""Settings of `guidedcot demo`."""

from __future__ import annotations

from dataclasses import dataclass, field

from guidedcot import defaults


@dataclass
class DemoConfig:
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
    eval_limit: int = field(default=50, metadata={"help": "Evaluation questions per dataset."})
    teacher_datasets: list[str] = field(
        default_factory=lambda: list(defaults.TEACHER_DATASETS),
        metadata={"help": "Training questions for teacher rationales."},
    )
    teacher_limit: int | None = field(
        default=None, metadata={"help": "Teacher questions per dataset entry (null: all of them)."}
    )
    epochs: float = field(default=3.0, metadata={"help": "Distillation epochs."})
    learning_rate: float = field(default=5e-5, metadata={"help": "Distillation learning rate."})
    cache: str = field(default="default", metadata={"help": "Generation cache ('default', a path or none)."})
    out: str = field(default="runs/demo", metadata={"help": "Demo folder (reused and resumed)."})

    def make_quick(self) -> None:
        """A few questions per step: minutes instead of an hour (what `--quick` and the tests run)."""
        self.eval_limit, self.teacher_limit, self.epochs = 4, 8, 1.0
