"""`StudyConfig`: one YAML file names every stage of a study (teacher, distillation variants, RL
runs, evaluation), each as keys of that stage's own config (`GenerateConfig`, `TrainConfig`,
`RLConfig`, `EvaluateConfig`), so a study can set anything a single command can."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guidedcot import defaults
from guidedcot.data import ContextMode
from guidedcot.llm.config import ModelConfig

UNTRAINED = "untrained"
"""The guide name of the student as downloaded (no distillation, no RL)."""


def _reader() -> ModelConfig:
    return ModelConfig(model=defaults.READER)


@dataclass
class StudyConfig:
    """Settings of `guidedcot study` (and of `guidedcot demo`, which runs an embedded study)."""

    name: str = field(default="study", metadata={"help": "Name shown in the plan and the summary."})
    out: str = field(default="runs/study", metadata={"help": "Study folder (reused and resumed)."})
    data_dir: str | None = field(default=None, metadata={"help": "Dataset folder; default $GUIDEDCOT_DATA."})
    cache: str | None = field(
        default="default", metadata={"help": "Generation cache ('default', a path or none)."}
    )
    reader: ModelConfig = field(default_factory=_reader)
    student: str = field(default=defaults.STUDENT, metadata={"help": "The student every stage starts from."})
    context_mode: ContextMode = field(
        default=ContextMode.GOLD, metadata={"help": "Context of the teacher, distillation and RL stages."}
    )
    teacher: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "GenerateConfig keys of the teacher stage (datasets, limit, samples, temperature...)."
        },
    )
    distill: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"full": {}},
        metadata={
            "help": "Distillation variants: name -> TrainConfig keys (lora, epochs, criterion, student)."
        },
    )
    rl: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata={
            "help": "RL runs: name -> RLConfig keys, plus 'from' (the distillation variant it refines)."
        },
    )
    evaluate: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "EvaluateConfig keys of every evaluation (datasets, limit, methods, aspects...)."},
    )
    context_modes: list[ContextMode] = field(
        default_factory=lambda: [ContextMode.GOLD],
        metadata={"help": "Context settings the evaluation runs in (gold, distractor)."},
    )
    guides: list[str] = field(
        default_factory=lambda: [UNTRAINED, "distill:full"],
        metadata={
            "help": "Students that guide the reader in the evaluation: untrained, distill:NAME, rl:NAME."
        },
    )
    baseline: str = field(default="standard", metadata={"help": "Method every row is paired against."})
