"""`guidedcot score`: a submission file's EM and F1 against a labelled dataset file, per question, as
`evaluate` scores them (the official normalisation; 2Wiki aliases where the file has them)."""

from __future__ import annotations

from guidedcot.data.selection import Selection
from guidedcot.errors import GuidedCotError
from guidedcot.evaluate.records import PredictionRecord, score
from guidedcot.pipeline import MethodAnswer
from guidedcot.predict.submission import Submission


def score_submission(submission: Submission, selection: Selection, *, method: str) -> list[PredictionRecord]:
    """One scored record per question of ``selection``, named ``method``; every question must have a
    gold answer and an answer in the submission, and the submission no id outside the selection."""
    where = submission.path or "the submission"
    unlabelled = next((e for e in selection.examples if not e.labelled), None)
    if unlabelled is not None:
        source = selection.source_of.get(unlabelled.id, selection.files[0])
        raise GuidedCotError(
            f"{source}, record id {unlabelled.id!r}, field 'answer': no gold answer, so nothing to score "
            "against: `guidedcot score` needs a labelled file (predict answers unlabelled ones)"
        )
    ids = {example.id for example in selection.examples}
    unknown = [question_id for question_id in submission.answers if question_id not in ids]
    if unknown:
        raise GuidedCotError(
            f"{where}: id {unknown[0][:100]!r} is not a question of {selection.name} "
            f"({len(unknown)} unknown id(s) in all; {len(ids)} questions selected)"
        )
    missing = [example.id for example in selection.examples if example.id not in submission.answers]
    if missing:
        raise GuidedCotError(
            f"{where} has no answer for {len(missing)} of the {len(ids)} selected questions "
            f"(first: {missing[0][:100]!r}); select the questions it answers, e.g. --dataset 'FILE[0:N]'"
        )
    return [
        score(example, "", method, as_answer(submission.answers[example.id]))
        for example in selection.examples
    ]


def as_answer(text: str) -> MethodAnswer:
    """A submitted answer as a method's answer (no rationale, no costs)."""
    return MethodAnswer(rationales=[None], reader_outputs=[text], sample_answers=[text], answer=text)
