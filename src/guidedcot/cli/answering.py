"""What `evaluate` and `predict` share on the command line: their options applied to an
`EvaluateConfig`, and the reader and student models that config names."""

from __future__ import annotations

import logging
from typing import Any

from guidedcot.config import set_fields
from guidedcot.evaluate import EvaluateConfig
from guidedcot.llm import CachedLanguageModel
from guidedcot.llm.factory import build_model, resolve_cache_path
from guidedcot.pipeline import Method
from guidedcot.runs import check_run_folder

logger = logging.getLogger(__name__)


def apply_options(settings: EvaluateConfig, flags: dict[str, Any], *, no_cache: bool) -> EvaluateConfig:
    """``settings`` with the given command-line options (``flags``: dotted config keys, None: keep the
    config's value; ``no_cache``: no generation cache), checked, and its run folder checked."""
    settings = set_fields(settings, flags)
    if no_cache:
        settings.cache = None
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
