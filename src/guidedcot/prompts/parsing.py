"""Reading answers out of model outputs: ``Reasoning:`` / ``Prediction:`` lines, short spans, yes/no."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = r"(?:final\s+)?(?:prediction|answer)"
_PREDICTION = re.compile(
    rf"^[\s>*#_-]*\**{_LABEL}\**\s*[:：]\s*\**(?P<answer>.*)$", re.IGNORECASE | re.MULTILINE
)
_REASONING = re.compile(r"^[\s>*#_-]*\**(?:reasoning|rationale)\**\s*[:：]\s*", re.IGNORECASE | re.MULTILINE)
_YES_NO_QUESTION = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b", re.IGNORECASE
)
_LEAD_IN = re.compile(
    r"^(?:the\s+(?:final\s+|short\s+)?answer\s+is|answer\s+is|it\s+is|it's|they\s+are)\s*[:：]?\s*",
    re.IGNORECASE,
)
_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_LEADING_VERDICT = re.compile(r"^\W*(?:yes|no)\s*[,.;:]\s*", re.IGNORECASE)
_QUOTED = re.compile(r'["“]([^"”]{2,})["”]')
_COPULA = re.compile(r"^\W*(?:the|a|an)\s.*?\s(?:is|was|are|were)\s+(?P<rest>.+)$", re.IGNORECASE)
_SHORT_WORDS = 5


@dataclass(frozen=True)
class CotOutput:
    """A chain-of-thought output split into its reasoning and its prediction (either may be empty)."""

    reasoning: str
    prediction: str
    has_prediction_line: bool


def is_yes_no_question(question: str) -> bool:
    """True for questions that start like a yes/no question ("Is...", "Were both...", "Did...")."""
    return bool(_YES_NO_QUESTION.match(question))


def clean_span(text: str) -> str:
    """A short answer span: the first non-empty line, without lead-ins, quotes, markup or a final period."""
    line = next((line.strip() for line in text.strip().splitlines() if line.strip()), "")
    line = re.sub(r"^\W*(?:prediction|answer)\s*[:：]\s*", "", line, flags=re.IGNORECASE)
    line = _LEAD_IN.sub("", line)
    line = line.strip().strip("*_`\"'“”‘’").strip()
    if line.endswith(".") and not re.search(r"\b[A-Z]\.$", line):  # keep "Washington D.C."
        line = line[:-1].rstrip()
    return line.strip("*_`\"'“”‘’ ")


def extract_answer(text: str, question: str = "") -> str:
    """The answer in a reader output: the last ``Prediction:``/``Answer:`` line, else the first line.

    For a yes/no question an output that starts with yes or no becomes exactly ``yes`` or ``no``.
    For other questions a sentence-long answer is cut down to its answer span where that is
    unambiguous: a leading "Yes," goes, a single quoted title is taken, and "The X is Y" gives Y.
    """
    matches = list(_PREDICTION.finditer(text))
    raw = matches[-1].group("answer") if matches else text
    if question and is_yes_no_question(question):
        span = clean_span(raw)
        verdict = _YES_NO.match(span)
        return verdict.group(1).lower() if verdict else span
    return clean_span(_shorten(_first_line(raw)))


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.strip().splitlines() if line.strip()), "")


def _shorten(span: str) -> str:
    """A sentence that states the answer, cut down to the answer span (only where unambiguous)."""
    span = _LEADING_VERDICT.sub("", span)
    if len(span.split()) <= _SHORT_WORDS:
        return span
    quoted = _QUOTED.findall(span)
    if len(quoted) == 1:
        return quoted[0]
    copula = _COPULA.match(span)
    if copula and len(copula.group("rest").split()) <= _SHORT_WORDS:
        return copula.group("rest")  # "The director who died earlier is Erik Balling"
    return span


def split_cot(text: str, question: str = "") -> CotOutput:
    """Split an original-CoT output into reasoning (without its label) and the extracted prediction."""
    matches = list(_PREDICTION.finditer(text))
    body = text[: matches[-1].start()] if matches else text
    reasoning = _REASONING.sub("", body, count=1).strip()
    if not matches:
        return CotOutput(reasoning=reasoning, prediction="", has_prediction_line=False)
    return CotOutput(reasoning=reasoning, prediction=extract_answer(text, question), has_prediction_line=True)
