"""What `evaluate` and `predict` share on the command line: their options applied to an
`EvaluateConfig`, and the reader and student models that config names."""

from __future__ import annotations

import logging
from pathlib import Path

from guidedcot.evaluate import EvaluateConfig
from guidedcot.llm import CachedLanguageModel
from guidedcot.llm.factory import build_model, resolve_cache_path
from guidedcot.pipeline import Method
from guidedcot.runs import check_run_folder

logger = logging.getLogger(__name__)


def apply_options(
    settings: EvaluateConfig,
    methods: str | None,
    dataset: list[str] | None,
    limit: int | None,
    split: str | None,
    student: str | None,
    reader: str | None,
    out: Path | None,
    data_dir: Path | None,
    no_cache: bool,
) -> EvaluateConfig:
    """``settings`` with the given command-line options (None: keep the config's value)."""
    if methods:
        settings.methods = [m.strip() for m in methods.split(",") if m.strip()]
    if dataset:
        settings.datasets = [d.strip() for entry in dataset for d in entry.split(",") if d.strip()]
    if limit is not None:
        settings.limit = limit
    if split:
        settings.split = split
    if student:
        settings.student.model = student
    if reader:
        settings.reader.model = reader
    if out:
        settings.out = str(out)
    if data_dir:
        settings.data_dir = str(data_dir)
    if no_cache:
        settings.cache = None
    settings.check()
    if settings.out:
        check_run_folder(settings.out)
    return settings


def load_models(
    settings: EvaluateConfig, methods: list[Method]
) -> tuple[CachedLanguageModel, CachedLanguageModel | None]:
    """The reader, and the student where a method uses one, both behind the configured cache."""
    cache_path = resolve_cache_path(settings.cache)
    logger.info("loading the reader %s", settings.reader.model)
    reader = build_model(settings.reader, cache_path)
    student = None
    if any(m.uses_student for m in methods):
        logger.info("loading the student %s", settings.student.model)
        student = build_model(settings.student, cache_path)
    return reader, student
