"""Datasets: the Example type, loaders for HotpotQA and 2WikiMultiHopQA, and context building."""

from guidedcot.data.context import BuiltContext, ContextMode, build_context
from guidedcot.data.example import Example, Paragraph, SupportingFact
from guidedcot.data.loading import LoadResult, load_examples

__all__ = [
    "BuiltContext",
    "ContextMode",
    "Example",
    "LoadResult",
    "Paragraph",
    "SupportingFact",
    "build_context",
    "load_examples",
]
