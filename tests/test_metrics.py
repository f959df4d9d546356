"""Answer normalisation, EM and F1: the official HotpotQA rules, table-driven and property-based."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guidedcot.metrics import best_exact_match, best_f1, exact_match, f1_score, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Beatles", "beatles"),
        ("a  cat   and an owl", "cat and owl"),
        ("U.S.A.", "usa"),
        ("  Paris,\tFrance\n", "paris france"),
        ("Théâtre du Châtelet", "théâtre du châtelet"),  # unicode letters are kept
        ("“quoted”", "“quoted”"),  # only ASCII punctuation is removed, as in the official script
        ("theatre", "theatre"),  # 'the' inside a word stays
        ("", ""),
        ("The", ""),
        ("YES", "yes"),
    ],
)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "em", "f1"),
    [
        ("The Beatles", "beatles", 1.0, 1.0),
        ("Paris", "Paris, France", 0.0, 2 * 1.0 * 0.5 / 1.5),
        ("Paris France", "France Paris", 0.0, 1.0),  # bag of tokens: order does not matter for F1
        ("yes", "no", 0.0, 0.0),
        ("yes", "yes it is", 0.0, 0.0),  # a yes/no answer that differs scores 0, not a partial overlap
        ("no", "No.", 1.0, 1.0),
        ("noanswer", "no answer", 0.0, 0.0),
        ("", "Paris", 0.0, 0.0),  # empty prediction
        ("", "", 1.0, 1.0),
        ("the", "a", 1.0, 1.0),  # both empty after normalisation
        ("New  York", "new york", 1.0, 1.0),  # whitespace
        ("Écoles", "écoles", 1.0, 1.0),  # unicode case
        ("the the the", "the", 1.0, 1.0),
        ("cat cat", "cat", 0.0, 2 * 0.5 * 1.0 / 1.5),  # repeated tokens count once each side
    ],
)
def test_em_and_f1(prediction: str, gold: str, em: float, f1: float) -> None:
    assert exact_match(prediction, gold) == em
    assert f1_score(prediction, gold) == pytest.approx(f1)


def test_best_over_aliases() -> None:
    aliases = ["United States", "USA", "America"]
    assert best_exact_match("U.S.A.", aliases) == 1.0
    assert best_f1("the United States of America", aliases) == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert best_exact_match("Canada", aliases) == 0.0
    assert best_f1("x", []) == 0.0


answers = st.text(alphabet=st.sampled_from(list("ab cYesNo.,-éTh")), max_size=12) | st.sampled_from(
    ["yes", "no", "noanswer", "the", "", "Yes."]
)


@given(answers, answers)
def test_em_one_implies_f1_one(prediction: str, gold: str) -> None:
    if exact_match(prediction, gold) == 1.0:
        assert f1_score(prediction, gold) == 1.0


@given(answers, answers)
def test_f1_symmetric_and_bounded(prediction: str, gold: str) -> None:
    score = f1_score(prediction, gold)
    assert score == pytest.approx(f1_score(gold, prediction))
    assert 0.0 <= score <= 1.0
    assert exact_match(prediction, gold) in (0.0, 1.0)


@given(answers)
def test_normalisation_is_idempotent(text: str) -> None:
    assert normalize_answer(normalize_answer(text)) == normalize_answer(text)
