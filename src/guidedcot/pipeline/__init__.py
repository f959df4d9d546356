"""Answering methods: standard prompting, original CoT, LM-guided CoT, self-consistency."""

from guidedcot.pipeline.methods import Answerer, Decoding, Method, MethodAnswer, MethodKind, Question
from guidedcot.pipeline.voting import majority_vote

__all__ = ["Answerer", "Decoding", "Method", "MethodAnswer", "MethodKind", "Question", "majority_vote"]
