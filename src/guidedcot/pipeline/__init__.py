"""Answering methods: standard prompting, original CoT, LM-guided CoT, self-consistency."""

from guidedcot.pipeline.methods import (
    Answerer,
    Decoding,
    Method,
    MethodAnswer,
    MethodKind,
    Question,
    Reading,
)
from guidedcot.pipeline.requests import template_request
from guidedcot.pipeline.voting import majority_vote

__all__ = [
    "Answerer",
    "Decoding",
    "Method",
    "MethodAnswer",
    "MethodKind",
    "Question",
    "Reading",
    "majority_vote",
    "template_request",
]
