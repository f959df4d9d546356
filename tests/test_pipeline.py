"""Answering methods and self-consistency voting, run on scripted fake models."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guidedcot.errors import ConfigError
from guidedcot.llm import FakeLanguageModel, GenerationRequest
from guidedcot.llm.fake import request_text
from guidedcot.metrics import normalize_answer
from guidedcot.pipeline import Answerer, Method, MethodKind, Question, majority_vote
from guidedcot.prompts import DEFAULT_TEMPLATES

QUESTIONS = [
    Question("q1", "Who directed Jaws?", "Jaws: a 1975 film directed by Steven Spielberg."),
    Question("q2", "Is Jaws a film?", "Jaws: a 1975 film."),
]


@pytest.mark.parametrize(
    ("answers", "winner"),
    [
        (["Paris"], "Paris"),
        (["Paris", "paris.", "London"], "Paris"),
        (["London", "Paris", "Paris"], "Paris"),
        (["London", "Paris"], "London"),  # tie: the form seen first wins
        (["", "", "Rome"], "Rome"),  # empty answers do not vote while some answer exists
        (["", ""], ""),
        (["The Beatles", "Beatles", "the beatles!"], "The Beatles"),  # one normalised form
    ],
)
def test_majority_vote(answers: list[str], winner: str) -> None:
    assert majority_vote(answers) == winner


@given(st.lists(st.sampled_from(["a", "b", "c", "A.", "the b", ""]), min_size=1, max_size=9))
def test_majority_vote_picks_a_most_frequent_form_and_ignores_hash_order(answers: list[str]) -> None:
    winner = majority_vote(answers)
    assert winner in answers
    forms = [normalize_answer(a) for a in answers if normalize_answer(a)] or [""]
    assert forms.count(normalize_answer(winner)) == max(forms.count(f) for f in forms)
    assert majority_vote(list(answers)) == winner


def test_method_names_parse_and_refuse_nonsense() -> None:
    assert Method.parse("cot", sc_samples=5, sc_temperature=0.7) == Method(MethodKind.COT)
    sc = Method.parse("guided-sc", sc_samples=5, sc_temperature=0.7)
    assert (sc.samples, sc.temperature, sc.name) == (5, 0.7, "guided-sc5")
    for bad in ("standard-sc", "cot-x", "magic"):
        with pytest.raises(ConfigError, match="method"):
            Method.parse(bad, sc_samples=5, sc_temperature=0.7)
    with pytest.raises(ConfigError, match="sc_samples"):
        Method.parse("cot-sc", sc_samples=1, sc_temperature=0.7)


def reader_script(request: GenerationRequest) -> str:
    text = request_text(request)
    if "Let's think step by step" in text:
        if "Is Jaws" in text:
            return "Reasoning: The context calls Jaws a film.\nPrediction: Yes."
        return "Reasoning: Jaws was directed by Steven Spielberg.\nPrediction: Steven Spielberg"
    if "Rationale:" in text:
        return "Spielberg" if "Spielberg" in text.split("Rationale:")[1] else "Nobody"
    return "yes" if "Is Jaws" in text else "Steven Spielberg."


def test_standard_cot_and_guided_answer_and_account_tokens() -> None:
    reader = FakeLanguageModel(reader_script)
    student = FakeLanguageModel(lambda r: "The film Jaws was directed by Spielberg.")
    answerer = Answerer(reader=reader, student=student, templates=DEFAULT_TEMPLATES)
    standard = answerer.run(Method(MethodKind.STANDARD), QUESTIONS)
    assert [a.answer for a in standard] == ["Steven Spielberg", "yes"]
    assert all(a.rationale is None and a.calls == 1 and a.reader_prompt_tokens > 0 for a in standard)
    cot = answerer.run(Method(MethodKind.COT), QUESTIONS)
    assert [a.answer for a in cot] == ["Steven Spielberg", "yes"]
    assert cot[0].rationale == "Jaws was directed by Steven Spielberg."
    guided = answerer.run(Method(MethodKind.GUIDED), QUESTIONS)
    assert [a.answer for a in guided] == ["Spielberg", "Spielberg"]
    assert guided[0].rationale == "The film Jaws was directed by Spielberg."
    assert guided[0].student_completion_tokens == 7 and guided[0].calls == 2
    # the reader saw the rationale in the guided prompt, after the shared question + context opening
    guided_prompt = request_text(reader.requests[-1])
    assert "Rationale: The film Jaws was directed by Spielberg." in guided_prompt


def test_cot_without_a_prediction_line_falls_back_to_its_last_line() -> None:
    reader = FakeLanguageModel(lambda r: "Reasoning: Jaws is by Spielberg.\nSteven Spielberg")
    (answer,) = Answerer(reader=reader, templates=DEFAULT_TEMPLATES).run(
        Method(MethodKind.COT), QUESTIONS[:1]
    )
    assert answer.answer == "Steven Spielberg"
    assert answer.missing_prediction == 1


def test_guided_self_consistency_samples_the_student_and_votes() -> None:
    drafts = iter(["Spielberg did it.", "Nobody knows.", "Spielberg again.", "Spielberg, yes."])
    student = FakeLanguageModel(lambda r: next(drafts))
    reader = FakeLanguageModel(reader_script)
    answerer = Answerer(reader=reader, student=student, templates=DEFAULT_TEMPLATES)
    method = Method(MethodKind.GUIDED, samples=4, temperature=0.8)
    (answer,) = answerer.run(method, QUESTIONS[:1])
    assert answer.sample_answers == ["Spielberg", "Nobody", "Spielberg", "Spielberg"]
    assert answer.answer == "Spielberg"
    assert [r.sample_index for r in student.requests] == [0, 1, 2, 3]
    assert all(r.temperature == 0.8 for r in student.requests)
    assert all(r.temperature == 0 for r in reader.requests)  # the reader answers each rationale greedily


def test_guided_without_a_student_is_a_clear_error() -> None:
    answerer = Answerer(reader=FakeLanguageModel(reader_script), templates=DEFAULT_TEMPLATES)
    with pytest.raises(ConfigError, match="student"):
        answerer.run(Method(MethodKind.GUIDED), QUESTIONS)


def test_each_answer_carries_its_share_of_each_model_s_wall_time() -> None:
    """A reader that takes 0.2 s per call and a student that takes 0.1 s: two questions in one batch
    carry at least 0.2 s of reader time each (one call each), and guided splits student from reader."""

    def slow(
        script: Callable[[GenerationRequest], str], seconds: float
    ) -> Callable[[GenerationRequest], str]:
        def answer(request: GenerationRequest) -> str:
            time.sleep(seconds)
            return script(request)

        return answer

    reader = FakeLanguageModel(slow(reader_script, 0.2))
    student = FakeLanguageModel(slow(lambda r: "Jaws was directed by Spielberg.", 0.1))
    answerer = Answerer(reader=reader, student=student, templates=DEFAULT_TEMPLATES)
    standard = answerer.run(Method(MethodKind.STANDARD), QUESTIONS)
    assert all(a.reader_seconds >= 0.2 and a.student_seconds == 0 for a in standard)
    guided = answerer.run(Method(MethodKind.GUIDED), QUESTIONS)
    assert all(a.reader_seconds >= 0.2 and 0.1 <= a.student_seconds < 0.2 for a in guided)
