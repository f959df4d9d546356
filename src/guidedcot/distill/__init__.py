"""Step 1, rationale distillation: teacher rationales into a store, filtered by correctness, then
fine-tuning of the student on the kept ones."""

from guidedcot.distill.config import GenerateConfig, TrainConfig
from guidedcot.distill.generate import generate_rationales
from guidedcot.distill.store import TeacherRecord, TeacherStore, load_records, read_manifest
from guidedcot.distill.trainset import RationaleExample, TrainingSetStats, build_training_set

__all__ = [
    "GenerateConfig",
    "RationaleExample",
    "TeacherRecord",
    "TeacherStore",
    "TrainConfig",
    "TrainingSetStats",
    "build_training_set",
    "generate_rationales",
    "load_records",
    "read_manifest",
]
