"""Evaluation: select examples, run the answering methods, score, summarise and write reports."""

from guidedcot.evaluate.config import EvaluateConfig
from guidedcot.evaluate.records import PredictionRecord
from guidedcot.evaluate.runner import EvaluationResult, parse_methods, run_evaluation
from guidedcot.evaluate.summary import Summary, summarize

__all__ = [
    "EvaluateConfig",
    "EvaluationResult",
    "PredictionRecord",
    "Summary",
    "parse_methods",
    "run_evaluation",
    "summarize",
]
