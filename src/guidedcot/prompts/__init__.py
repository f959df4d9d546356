"""Prompt templates (versioned, overridable) and answer extraction: the only home of prompt text."""

from guidedcot.prompts.parsing import CotOutput, clean_span, extract_answer, is_yes_no_question, split_cot
from guidedcot.prompts.templates import (
    DEFAULT_TEMPLATES,
    TEMPLATE_NAMES,
    PromptOverride,
    PromptsConfig,
    PromptTemplate,
    build_templates,
)

__all__ = [
    "DEFAULT_TEMPLATES",
    "TEMPLATE_NAMES",
    "CotOutput",
    "PromptOverride",
    "PromptTemplate",
    "PromptsConfig",
    "build_templates",
    "clean_span",
    "extract_answer",
    "is_yes_no_question",
    "split_cot",
]
