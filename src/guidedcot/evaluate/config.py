"""`EvaluateConfig`: one typed schema for the Python API, the YAML file and ``--set`` overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

from guidedcot import defaults
from guidedcot.config import Checked
from guidedcot.data import ContextMode
from guidedcot.llm.config import ModelConfig
from guidedcot.prompts import JudgeConfig, PromptsConfig


def _reader() -> ModelConfig:
    return ModelConfig(model=defaults.READER)


def _student() -> ModelConfig:
    return ModelConfig(model=defaults.STUDENT)


@dataclass
class EvaluateConfig(Checked):
    """Settings of `guidedcot evaluate`."""

    data_dir: str | None = field(default=None, metadata={"help": "Dataset folder; default $GUIDEDCOT_DATA."})
    datasets: list[str] = field(
        default_factory=lambda: ["hotpotqa", "2wiki"],
        metadata={"help": "hotpotqa, 2wiki, or paths to dataset files."},
    )
    split: str = field(default="dev", metadata={"help": "Split of the named datasets (from the file names)."})
    limit: int | None = field(
        default=None, metadata={"min": 1, "help": "First N questions of each dataset; none = all."}
    )
    methods: list[str] = field(
        default_factory=lambda: ["standard", "cot", "guided"],
        metadata={"help": "standard, cot, guided, cot-sc, guided-sc (self-consistency)."},
    )
    sc_samples: int = field(
        default=5, metadata={"min": 1, "help": "Samples m of the self-consistency methods."}
    )
    sc_temperature: float = field(
        default=0.7, metadata={"min": 0, "help": "Sampling temperature of self-consistency."}
    )
    reader: ModelConfig = field(default_factory=_reader)
    student: ModelConfig = field(default_factory=_student)
    context_mode: ContextMode = field(
        default=ContextMode.GOLD, metadata={"help": "gold (supporting paragraphs) or distractor (all)."}
    )
    max_context_tokens: int = field(
        default=1024,
        metadata={"min": 1, "help": "Context budget in reader tokens; distractors are dropped first."},
    )
    answer_tokens: int = field(default=32, metadata={"min": 1, "help": "Max new tokens of a short answer."})
    cot_tokens: int = field(
        default=256, metadata={"min": 1, "help": "Max new tokens of the reader's own CoT."}
    )
    rationale_tokens: int = field(
        default=128, metadata={"min": 1, "help": "Max new tokens of a student rationale."}
    )
    seed: int = field(default=0, metadata={"min": 0, "help": "Sampling seed (with the sample index)."})
    questions_per_step: int = field(
        default=8,
        metadata={"min": 1, "help": "Questions sent together to the models; finished steps are cached."},
    )
    cache: str | None = field(
        default="default",
        metadata={
            "help": "Generation cache file; 'default' = $GUIDEDCOT_CACHE/generations.sqlite; none = off."
        },
    )
    bootstrap_samples: int = field(
        default=1000, metadata={"min": 1, "help": "Resamples of the 95% bootstrap CIs."}
    )
    out: str | None = field(default=None, metadata={"help": "Run folder; default runs/evaluate-<timestamp>."})
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    aspects: bool = field(
        default=False,
        metadata={
            "help": "Judge every rationale on the quality aspects with the reader as judge "
            "(one short reader call per aspect and rationale, sharing the rationale's prefix)."
        },
    )
    judge: JudgeConfig = field(default_factory=JudgeConfig)
