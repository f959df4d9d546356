"""The RL checkpoint choice: the highest held-out EM, a tie to the later step."""

from __future__ import annotations

import pytest

from guidedcot.errors import GuidedCotError
from guidedcot.rl.checkpoint import eval_steps
from guidedcot.rl.config import RLConfig
from guidedcot.rl.export import chosen_step


def test_the_highest_em_is_chosen_and_a_tie_goes_to_the_later_step() -> None:
    assert chosen_step({25: 0.30, 50: 0.36, 75: 0.34, 100: 0.36}) == 100
    assert chosen_step({25: 0.40, 50: 0.36}) == 25
    with pytest.raises(GuidedCotError, match="no held-out EM"):
        chosen_step({})


def test_the_eval_steps_are_every_eval_every_and_the_end() -> None:
    assert eval_steps(RLConfig(steps=100, eval_every=25, eval_limit=25)) == {25, 50, 75, 100}
    assert eval_steps(RLConfig(steps=10, eval_every=4, eval_limit=2)) == {4, 8, 10}
    assert eval_steps(RLConfig(steps=10, eval_every=0)) == frozenset()
    assert eval_steps(RLConfig(steps=10, eval_every=5, eval_limit=0)) == frozenset()
