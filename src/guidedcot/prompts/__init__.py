"""Prompt templates (versioned, overridable) and answer extraction: the only home of prompt text."""

from guidedcot.prompts.judge import ASPECTS, AspectPrompt, JudgeConfig, build_aspect_prompts
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
    "ASPECTS",
    "DEFAULT_TEMPLATES",
    "TEMPLATE_NAMES",
    "AspectPrompt",
    "CotOutput",
    "JudgeConfig",
    "PromptOverride",
    "PromptTemplate",
    "PromptsConfig",
    "build_aspect_prompts",
    "build_templates",
    "clean_span",
    "extract_answer",
    "is_yes_no_question",
    "split_cot",
]
