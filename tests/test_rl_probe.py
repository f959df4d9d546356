"""The fixed probe's bookkeeping: which questions it takes, and its records (fast)."""

from __future__ import annotations

import json
import math

import pytest

from guidedcot.config import load_config
from guidedcot.errors import ConfigError
from guidedcot.rl import RLConfig, check_config
from guidedcot.rl.probe import Probe, ProbeRecord, probe_indices


def test_probe_questions_are_a_fixed_sample_of_distinct_training_questions() -> None:
    chosen = probe_indices(764, 32, seed=0)
    assert chosen == probe_indices(764, 32, seed=0)  # the same at every probe and on resume
    assert chosen == sorted(set(chosen)) and len(chosen) == 32 and chosen[0] >= 0 and chosen[-1] < 764
    assert chosen != probe_indices(764, 32, seed=1)
    assert probe_indices(5, 16, seed=0) == [0, 1, 2, 3, 4]  # fewer questions than asked: all of them


def test_a_runs_probe_holds_its_fixed_questions_with_their_own_prompts() -> None:
    from typing import Any, cast

    from guidedcot.pipeline import Question

    config = RLConfig(probe_questions=3, seed=4)
    questions = [Question(id=f"q{i}", question=f"Q{i}?", context="", answers=("a",)) for i in range(10)]
    prompts = [[i, i + 100] for i in range(10)]
    probe = Probe.of_run(config, questions, prompts, rewards=cast(Any, None))
    chosen = probe_indices(10, 3, seed=4)
    assert [q.id for q in probe.questions] == [f"q{i}" for i in chosen]
    assert probe.prompts == [[i, i + 100] for i in chosen]  # each question keeps its own prompt


def test_a_probe_record_summarises_where_each_component_applies_and_reads_back() -> None:
    record = ProbeRecord(
        step=4, label="runs/x/final", question_ids=["a", "b"], totals=[[1.0, 0.0], [0.5, 0.5]],
        components={"task_em": [[1.0, 0.0], [0.0, 0.0]], "aspect": [[8.0, None], [4.0, None]]},
    )  # fmt: skip
    summary = record.summary()
    assert summary["probe_reward_mean"] == pytest.approx(0.5)
    assert summary["probe_reward_task_em"] == pytest.approx(0.25)
    assert summary["probe_reward_aspect"] == pytest.approx(6.0)  # over the two rationales it applies to
    line = json.loads(json.dumps(record.as_json()))
    assert line["step"] == 4 and line["probe_reward_mean"] == pytest.approx(0.5)
    assert ProbeRecord.from_json(line) == record


def test_a_component_that_never_applies_is_nan_not_zero() -> None:
    record = ProbeRecord(0, "", ["a"], [[0.0, 0.0]], {"aspect": [[None, None]]})
    assert math.isnan(record.summary()["probe_reward_aspect"])


@pytest.mark.parametrize("settings", [["probe_every=-1"], ["probe_every=4", "probe_questions=0"]])
def test_a_probe_that_could_not_measure_anything_is_refused(settings: list[str]) -> None:
    with pytest.raises(ConfigError, match="probe_"):
        check_config(load_config(RLConfig, overrides=settings))
