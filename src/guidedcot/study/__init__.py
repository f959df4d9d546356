"""Studies: the whole method (teacher, distillation variants, RL runs, evaluation of every method)
from one YAML file, planned and checked before any model loads, resumable at every stage."""

from guidedcot.study.config import UNTRAINED, StudyConfig
from guidedcot.study.plan import Stage, StudyPlan, build_plan
from guidedcot.study.run import ModeResult, StudyResult, run_study

__all__ = [
    "UNTRAINED", "ModeResult", "Stage", "StudyConfig", "StudyPlan", "StudyResult", "build_plan", "run_study",
]  # fmt: skip
