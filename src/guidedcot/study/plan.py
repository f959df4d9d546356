"""A study's plan: every stage as the concrete config its command would run, with the questions it
reads and the reader calls it makes at most (the generation cache answers repeats).

Building the plan checks everything that can be checked without a model: every key of every stage,
every dataset selection, the guides' names, and that no evaluation question is one a training stage
(teacher or RL) reads.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from guidedcot.config import apply_overrides, config_to_dict
from guidedcot.data import ContextMode
from guidedcot.data.selection import check_gold, select_examples
from guidedcot.distill.config import GenerateConfig, TrainConfig
from guidedcot.distill.store import load_records
from guidedcot.errors import ConfigError, DataError
from guidedcot.evaluate.config import EvaluateConfig
from guidedcot.llm.config import ModelConfig
from guidedcot.rewards.combine import RewardMode
from guidedcot.rl.config import RLConfig
from guidedcot.study.config import UNTRAINED, StudyConfig

STAGE_KINDS = ("teacher", "distill", "rl", "evaluate")
GUIDED_METHODS = ("guided", "guided-sc")
JUDGED_REWARDS = frozenset(RewardMode) - {RewardMode.TASK}
"""Rewards that call the judge."""
_SET_BY_THE_STUDY = {
    "teacher": {"out": "out", "context_mode": "context_mode"},
    "distill": {"out": "out", "teacher_store": "teacher", "context_mode": "context_mode"},
    "rl": {"out": "out", "student": "from", "context_mode": "context_mode"},
    "evaluate": {"out": "out", "student": "guides", "context_mode": "context_modes"},
}


@dataclass
class Stage:
    """One step of the study: its kind, name, folder, concrete config and expected cost."""

    kind: str
    name: str
    out: Path
    config: Any
    questions: int
    reader_calls: int
    needs: list[str] = field(default_factory=list)
    ids: frozenset[tuple[str, str]] = frozenset()
    """The (dataset, id) of every question the stage reads."""
    guide: str | None = None
    """The student of an evaluation (a guide name), None for other stages."""

    @property
    def label(self) -> str:
        """``kind name`` (``teacher`` alone for the single teacher stage)."""
        return self.kind if self.kind == self.name else f"{self.kind} {self.name}"

    def done(self) -> bool:
        """True when the stage's result is on disk: a teacher store with every (question, sample), a
        trained student's ``final/``, or an evaluation's metrics written under this very config (a
        changed evaluation runs again, from the cache)."""
        if self.kind == "teacher":
            try:
                have = {record.key for record in load_records(self.out / "rationales.jsonl")}
            except DataError:  # a killed write: the stage repairs and finishes it
                return False
            return all((d, i, k) in have for d, i in self.ids for k in range(self.config.samples))
        if self.kind in {"distill", "rl"}:
            return (self.out / "final" / "config.json").exists()
        if self.kind == "evaluate" and (self.out / "metrics.json").exists():
            written = yaml.safe_load((self.out / "config.yaml").read_text(encoding="utf-8"))
            return bool(written == config_to_dict(self.config))
        return False


@dataclass
class StudyPlan:
    """The study's stages in the order they run."""

    study: StudyConfig
    root: Path
    stages: list[Stage]

    def stage(self, kind: str, name: str) -> Stage:
        """The stage of that kind and name."""
        return next(s for s in self.stages if s.kind == kind and s.name == name)

    def describe(self) -> list[str]:
        """The plan as lines of text: one per stage, and the total of reader calls."""
        lines = [f"Study {self.study.name!r} in {self.root} (reader {self.study.reader.model}, "
                 f"student {self.study.student}):"]  # fmt: skip
        for number, stage in enumerate(self.stages, start=1):
            status = " [done]" if stage.done() else ""
            detail = _detail(stage)
            cost = (
                "the teacher's correct rationales, no reader call"
                if stage.kind == "distill"
                else f"{stage.questions} questions, at most {stage.reader_calls} reader calls"
            )
            lines.append(f"{number:>2}. {stage.label}{status}: {detail}; {cost} -> {stage.out}")
        total = sum(stage.reader_calls for stage in self.stages)
        lines.append(f"In all at most {total} reader calls (fewer where the generation cache has them).")
        return lines


def build_plan(study: StudyConfig, data_dir: Path | None) -> StudyPlan:
    """Resolve and check every stage of ``study``; reads the data, loads no model."""
    root = Path(study.out)
    _check_section_keys(study)
    stages = [_teacher_stage(study, root, data_dir)]
    stages += [_distill_stage(study, root, name, values) for name, values in study.distill.items()]
    stages += [_rl_stage(study, root, data_dir, name, values) for name, values in study.rl.items()]
    guides = _guides(study)
    for mode in study.context_modes:
        stages += _evaluation_stages(study, root, data_dir, mode, guides)
    _check_disjoint(stages)
    return StudyPlan(study, root, stages)


def _guide_student(study: StudyConfig, root: Path, guide: str) -> str:
    """The student a guide name stands for: the base student, or a trained stage's ``final/``."""
    if guide == UNTRAINED:
        return study.student
    kind, name = guide.split(":", 1)
    return str(root / f"{kind}-{name}" / "final")


def _check_section_keys(study: StudyConfig) -> None:
    """A stage key the study sets itself (folders, the student, the context) is refused, not ignored."""
    sections: dict[str, dict[str, Any]] = {"teacher": study.teacher, "evaluate": study.evaluate}
    sections |= {f"distill.{name}": values for name, values in study.distill.items()}
    sections |= {f"rl.{name}": values for name, values in study.rl.items()}
    for where, mapping in sections.items():
        for key, instead in _SET_BY_THE_STUDY[where.split(".")[0]].items():
            if key in mapping:
                raise ConfigError(
                    f"study key {where}.{key} is set by the study (use the study's {instead!r})"
                )


def _questions(
    specs: list[str], data_dir: Path | None, split: str, limit: int | None, mode: str
) -> list[Any]:
    examples = []
    for spec in specs:
        selection = select_examples(spec, data_dir, split=split, limit=limit)
        if mode == ContextMode.GOLD:
            check_gold(selection)
        examples += selection.examples
    return examples


def _teacher_stage(study: StudyConfig, root: Path, data_dir: Path | None) -> Stage:
    base = GenerateConfig(
        data_dir=study.data_dir, teacher=copy.deepcopy(study.reader), context_mode=study.context_mode,
        cache=study.cache, out=str(root / "teacher"),
    )  # fmt: skip
    config = apply_overrides(base, study.teacher, "teacher.")
    examples = _questions(config.datasets, data_dir, "train", config.limit, config.context_mode)
    return Stage("teacher", "teacher", root / "teacher", config, len(examples),
                 len(examples) * config.samples, ids=_ids(examples))  # fmt: skip


def _distill_stage(study: StudyConfig, root: Path, name: str, values: dict[str, Any]) -> Stage:
    _check_name(name, "distill")
    out = root / f"distill-{name}"
    base = TrainConfig(
        teacher_store=str(root / "teacher"),
        student=study.student,
        out=str(out),
        context_mode=study.context_mode,
    )
    config = apply_overrides(base, values, f"distill.{name}.")
    return Stage("distill", name, out, config, 0, 0, needs=["teacher teacher"])


def _rl_stage(
    study: StudyConfig, root: Path, data_dir: Path | None, name: str, values: dict[str, Any]
) -> Stage:

    _check_name(name, "rl")
    values = dict(values)
    origin = str(values.pop("from", next(iter(study.distill), UNTRAINED)))
    if origin != UNTRAINED and origin not in study.distill:
        known = ", ".join([UNTRAINED, *study.distill])
        raise ConfigError(f"study key rl.{name}.from: {origin!r} is not a distillation variant ({known})")
    out = root / f"rl-{name}"
    student = _guide_student(study, root, origin if origin == UNTRAINED else f"distill:{origin}")
    base = RLConfig(
        student=student, reader=copy.deepcopy(study.reader), data_dir=study.data_dir,
        context_mode=study.context_mode, cache=study.cache, out=str(out), eval_limit=0,
    )  # fmt: skip
    config = apply_overrides(base, values, f"rl.{name}.")
    config.check()
    examples = _questions(config.datasets, data_dir, "train", config.limit, config.context_mode)
    rationales = config.steps * config.questions_per_step * config.group_size
    judged = len(config.judge.aspects) if config.reward in JUDGED_REWARDS else 0
    needs = [] if origin == UNTRAINED else [f"distill {origin}"]
    return Stage(
        "rl", name, out, config, len(examples), rationales * (1 + judged), needs=needs, ids=_ids(examples)
    )


def _guides(study: StudyConfig) -> list[str]:
    known = {UNTRAINED} | {f"distill:{n}" for n in study.distill} | {f"rl:{n}" for n in study.rl}
    for guide in study.guides:
        if guide not in known:
            raise ConfigError(f"study key guides: {guide!r} is none of {', '.join(sorted(known))}")
    return list(study.guides)


def _evaluation_stages(
    study: StudyConfig, root: Path, data_dir: Path | None, mode: ContextMode, guides: list[str]
) -> list[Stage]:
    base = EvaluateConfig(
        data_dir=study.data_dir, reader=copy.deepcopy(study.reader), context_mode=mode, cache=study.cache
    )
    config = apply_overrides(base, study.evaluate, "evaluate.")
    methods = list(config.methods)
    if study.baseline not in methods:
        raise ConfigError(f"study key baseline: {study.baseline!r} is not among evaluate.methods {methods}")
    examples = _questions(config.datasets, data_dir, config.split, config.limit, mode)
    judged = len(config.judge.aspects) if config.aspects else 0

    def calls(method: str) -> int:
        """Reader calls of one method: its samples, and the judge's aspects of the record's rationale."""
        samples = config.sc_samples if method.endswith("-sc") else 1
        return len(examples) * (samples + (judged if method != "standard" else 0))

    unguided = [m for m in methods if m not in GUIDED_METHODS]
    guided = [m for m in methods if m in GUIDED_METHODS]
    stages = []
    runs = [("baselines", unguided, UNTRAINED)] + [(guide, guided, guide) for guide in guides if guided]
    for name, run_methods, guide in runs:
        if not run_methods:
            continue
        out = root / f"eval-{mode}-{name.replace(':', '-')}"
        run_config = copy.deepcopy(config)
        run_config.methods, run_config.out = list(run_methods), str(out)
        run_config.student = ModelConfig(model=_guide_student(study, root, guide), backend="transformers")
        needs = [] if guide == UNTRAINED else [guide.replace(":", " ", 1)]
        stages.append(
            Stage(
                "evaluate",
                f"{mode} {name}",
                out,
                run_config,
                len(examples),
                sum(map(calls, run_methods)),
                needs=needs,
                ids=_ids(examples),
                guide=guide,
            )
        )
    return stages


def _ids(examples: list[Any]) -> frozenset[tuple[str, str]]:
    return frozenset((e.dataset, e.id) for e in examples)


def _check_name(name: str, section: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ConfigError(f"study key {section}.{name}: names are letters, digits, '-' and '_'")


def _check_disjoint(stages: list[Stage]) -> None:
    """No evaluation question is one the teacher or an RL run reads (matched by dataset and id)."""
    trained = [s for s in stages if s.kind in {"teacher", "rl"}]
    for stage in (s for s in stages if s.kind == "evaluate"):
        for source in trained:
            shared = stage.ids & source.ids
            if shared:
                dataset, question = sorted(shared)[0]
                raise ConfigError(
                    f"evaluation {stage.name!r} shares {len(shared)} question(s) with {source.label} "
                    f"(for example {dataset} {question!r}): evaluate on questions no training step reads"
                )


def _detail(stage: Stage) -> str:
    config = stage.config
    if stage.kind == "teacher":
        return f"{', '.join(config.datasets)}, {config.samples} sample(s) at temperature {config.temperature}"
    if stage.kind == "distill":
        kind = "LoRA" if config.lora else "full"
        return f"{kind} fine-tuning of {config.student}, {config.epochs:g} epoch(s), criterion {config.criterion}"
    if stage.kind == "rl":
        return (f"{config.algo} on reward {config.reward}, {config.steps} steps x {config.questions_per_step} "
                f"questions x {config.group_size} rationales, from {config.student}")  # fmt: skip
    return f"{', '.join(config.methods)} on {', '.join(config.datasets)} (student {stage.guide})"
