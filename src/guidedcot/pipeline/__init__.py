"""Answering methods: standard prompting, original CoT, LM-guided CoT, self-consistency."""

from guidedcot.pipeline.methods import (
    Answerer,
    Method,
    MethodAnswer,
    MethodKind,
    Question,
    Reading,
    TokenLimits,
)
from guidedcot.pipeline.requests import template_request
from guidedcot.pipeline.voting import majority_vote

__all__ = [
    "Answerer",
    "Method",
    "MethodAnswer",
    "MethodKind",
    "Question",
    "Reading",
    "TokenLimits",
    "majority_vote",
    "template_request",
]
