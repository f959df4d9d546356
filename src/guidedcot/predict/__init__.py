"""Predictions for questions without labels, in the official submission layouts, and their scores."""

from guidedcot.predict.runner import PredictResult, predict_to_folder
from guidedcot.predict.scoring import score_submission
from guidedcot.predict.submission import Submission, read_submission, write_submission

__all__ = [
    "PredictResult",
    "Submission",
    "predict_to_folder",
    "read_submission",
    "score_submission",
    "write_submission",
]
