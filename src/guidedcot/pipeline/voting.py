"""Self-consistency: the majority over normalised answers, ties broken deterministically."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from guidedcot.metrics import normalize_answer


def majority_vote(answers: Sequence[str]) -> str:
    """The answer whose normalised form is most frequent.

    Empty answers vote only when every answer is empty. Among tied forms the one seen first wins,
    and the first raw answer of the winning form is returned, so the result never depends on
    hash order or on anything but the list itself.
    """
    if not answers:
        raise ValueError("majority_vote needs at least one answer")
    forms = [normalize_answer(answer) for answer in answers]
    voting = [form for form in forms if form] or forms
    counts = Counter(voting)
    best = max(counts.values())
    winner = next(form for form in voting if counts[form] == best)
    return answers[forms.index(winner)]
