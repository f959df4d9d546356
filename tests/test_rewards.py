"""Rewards: exact values for every mode on a scripted reader and judge (TRL's reward-test style)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from guidedcot.errors import ConfigError, GuidedCotError
from guidedcot.llm import CachedLanguageModel, FakeLanguageModel, GenerationCache, GenerationRequest
from guidedcot.llm.fake import request_text
from guidedcot.prompts import ASPECTS, JudgeConfig
from guidedcot.rewards import (
    AspectJudge,
    AspectReward,
    TaskReward,
    completion_text,
    parse_verdict,
    reward_set,
    total_rewards,
    yes_share,
)
from guidedcot.rewards.columns import read_columns

Q1 = "What is the capital of France?"
Q2 = "Which city hosts the Louvre?"
CONTEXT = "Paris is the capital of France. The Louvre is in Paris. Lyon is a city in France."
STANDARD_ANSWERS = {Q1: "Paris", Q2: "Lyon"}  # without a rationale the reader gets Q1 right, Q2 wrong


def reader_answer(request: GenerationRequest) -> str:
    """Guided: the answer the rationale names after ANSWER= (else Lyon); standard: the table above;
    judge (text mode): yes for rationales naming Paris."""
    text = request_text(request)
    question = text.split("Question: ", 1)[1].split("\n", 1)[0]
    if "Answer yes or no." in text and "judge" in text:
        return "Yes, it does." if "ANSWER=Paris\n" in text else "No."
    if "Rationale:" in text:
        rationale = text.split("Rationale: ", 1)[1].split("\n", 1)[0]
        return rationale.split("ANSWER=", 1)[1] if "ANSWER=" in rationale else "Lyon"
    return STANDARD_ANSWERS[question]


def judge_probabilities(request: GenerationRequest) -> dict[str, float]:
    """P(yes) 0.6 / P(no) 0.2 (share 0.75) for a rationale naming Paris, else 0.1 / 0.3 (share 0.25)."""
    good = "ANSWER=Paris\n" in request_text(request)  # the rationale ends there: not "Paris France"
    return {"yes": 0.6, "no": 0.2} if good else {"yes": 0.1, "no": 0.3}


def scripted_reader(logprobs: bool = True, cache: Path | None = None) -> CachedLanguageModel:
    return CachedLanguageModel(
        FakeLanguageModel(reader_answer, name="reader", choices=judge_probabilities, logprobs=logprobs),
        GenerationCache(cache) if cache else None,
    )


GOOD, BAD, PARTIAL = "Paris is the capital. ANSWER=Paris", "No idea. ANSWER=Lyon", "ANSWER=Paris France"
COMPLETIONS = [GOOD, BAD, GOOD, BAD, PARTIAL]
COLUMNS = {
    "question": [Q1, Q1, Q2, Q2, Q1],
    "context": [CONTEXT] * 5,
    "answers": [["Paris"], ["Paris"], ["Paris", "City of Light"], "Paris", ["Paris"]],
}


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("em", [1.0, 0.0, 1.0, 0.0, 0.0]),
        ("f1", [1.0, 0.0, 1.0, 0.0, 2 / 3]),
        # EM with the rationale minus the standard-prompting EM (Q1: 1, Q2: 0)
        ("gain", [0.0, -1.0, 1.0, 0.0, -1.0]),
    ],
)
def test_task_reward_values(metric: str, expected: list[float]) -> None:
    reward = TaskReward(scripted_reader(), metric=metric)  # type: ignore[arg-type]
    values = reward(prompts=["p"] * 5, completions=COMPLETIONS, **COLUMNS)
    assert values == pytest.approx(expected)
    questions, rationales, answers = read_columns(COMPLETIONS, COLUMNS)
    results = reward.results(questions, rationales, answers)
    assert [r.answer for r in results] == ["Paris", "Lyon", "Paris", "Lyon", "Paris France"]
    assert [r.value for r in results] == pytest.approx(expected)


def test_gain_baseline_is_computed_once_per_question() -> None:
    reader = scripted_reader()
    reward = TaskReward(reader, metric="gain")
    reward(completions=COMPLETIONS, **COLUMNS)
    reward(completions=COMPLETIONS, **COLUMNS)
    standard = [r for r in reader.backend.requests if "Rationale:" not in request_text(r)]  # type: ignore[attr-defined]
    assert len(standard) == 2  # one standard call per distinct question, across calls


@pytest.mark.parametrize(
    ("weights", "logprobs", "expected"),
    [
        ({}, True, [6.0, 2.0, 6.0, 2.0, 2.0]),  # 8 aspects x 0.75 or x 0.25
        ({"fluency": 3.0, "relevance": 0.0}, True, [6.75, 2.25, 6.75, 2.25, 2.25]),  # weights sum to 9
        ({}, False, [8.0, 0.0, 8.0, 0.0, 0.0]),  # text verdicts: yes = 1, no = 0
    ],
)
def test_aspect_reward_values(weights: dict[str, float], logprobs: bool, expected: list[float]) -> None:
    judge = AspectJudge(scripted_reader(logprobs), JudgeConfig(weights=weights))
    assert judge.uses_logprobs is logprobs
    reward = AspectReward(judge)
    assert reward(completions=COMPLETIONS, **COLUMNS) == pytest.approx(expected)
    first = reward.results(COMPLETIONS, **COLUMNS)[0]
    assert set(first.scores) == set(ASPECTS)
    assert first.scores["fluency"] == pytest.approx(0.75 if logprobs else 1.0)


def test_aspect_subset_and_unknown_aspects() -> None:
    judge = AspectJudge(scripted_reader(), JudgeConfig(aspects=["fluency", "factuality"]))
    assert AspectReward(judge)(completions=[GOOD], **{k: v[:1] for k, v in COLUMNS.items()}) == pytest.approx(
        [1.5]
    )
    with pytest.raises(ConfigError, match="unknown aspect"):
        AspectJudge(scripted_reader(), JudgeConfig(aspects=["wit"]))


def test_judge_prompts_share_the_prefix_up_to_the_aspect_question() -> None:
    reader = scripted_reader()
    AspectReward(AspectJudge(reader))(completions=[GOOD], **{k: v[:1] for k, v in COLUMNS.items()})
    requests = reader.backend.choice_requests  # type: ignore[attr-defined]
    assert len(requests) == 8
    users = [r.messages[-1].content for r in requests]
    prefix = os.path.commonprefix(users)  # noqa: RUF071 - character-wise is what is meant
    assert prefix.endswith(f"Rationale: {GOOD}\n\n") and CONTEXT in prefix
    assert len({r.messages[0].content for r in requests}) == 1  # one system message for all


@pytest.mark.parametrize(
    ("mode", "weights", "expected"),
    [
        ("task", (1.0, 1.0), [1.0, 0.0, 1.0, 0.0, 0.0]),
        ("aspect", (1.0, 1.0), [6.0, 2.0, 6.0, 2.0, 2.0]),
        ("task+aspect", (1.0, 0.5), [4.0, 1.0, 4.0, 1.0, 1.0]),
        ("gated", (1.0, 0.5), [4.0, 0.0, 4.0, 0.0, 0.0]),
    ],
)
def test_reward_modes(mode: str, weights: tuple[float, float], expected: list[float], tmp_path: Path) -> None:
    reader = scripted_reader(cache=tmp_path / "cache.sqlite")
    task, aspect = TaskReward(reader), AspectReward(AspectJudge(reader))
    rewards = reward_set(mode, task=task, aspect=aspect, task_weight=weights[0], aspect_weight=weights[1])
    batch = rewards(["p"] * 5, COMPLETIONS, **COLUMNS)
    assert batch.total == pytest.approx(expected)
    if mode == "gated":
        gated = batch.components["aspect_if_correct"]
        assert [v is None for v in gated] == [False, True, False, True, True]
        assert [v for v in gated if v is not None] == pytest.approx([6.0, 6.0])
        # only the two right rationales went to the judge; the gate's reading was a cache hit
        assert len(reader.backend.choice_requests) == 2 * 8  # type: ignore[attr-defined]
        readings = [r for r in reader.backend.requests if "Rationale:" in request_text(r)]  # type: ignore[attr-defined]
        assert len(readings) == 5


def test_total_rewards_skips_none_as_trl_does() -> None:
    assert total_rewards([[1.0, 0.0], [None, 2.0]], [1.0, 0.5]) == [1.0, 1.0]
    with pytest.raises(ConfigError):
        total_rewards([[1.0]], [1.0, 1.0])


def test_reward_set_refuses_unknown_modes_and_missing_parts() -> None:
    with pytest.raises(
        ConfigError,
        match="config key 'reward' must be one of task, aspect, task\\+aspect, gated; got 'accuracy'",
    ):
        reward_set("accuracy", task=TaskReward(scripted_reader()))
    with pytest.raises(ConfigError, match="needs"):
        reward_set("gated", task=TaskReward(scripted_reader()))


@pytest.mark.parametrize(
    ("logprobs", "share"),
    [
        ({"yes": math.log(0.6), "no": math.log(0.2)}, 0.75),
        ({"yes": -math.inf, "no": math.log(0.5)}, 0.0),
        ({"yes": -math.inf, "no": -math.inf}, 0.5),
    ],
)
def test_yes_share(logprobs: dict[str, float], share: float) -> None:
    assert yes_share(logprobs) == pytest.approx(share)


@pytest.mark.parametrize(
    ("text", "score"), [("Yes", 1.0), (" yes, it does", 1.0), ("No.", 0.0), ("**No**", 0.0), ("Maybe", 0.5)]
)
def test_parse_verdict(text: str, score: float) -> None:
    assert parse_verdict(text) == score


def test_completion_shapes_and_column_errors() -> None:
    assert completion_text([{"role": "assistant", "content": " A rationale. "}]) == "A rationale."
    assert completion_text(" plain ") == "plain"
    reward = TaskReward(scripted_reader())
    with pytest.raises(GuidedCotError, match="column"):
        reward(completions=[GOOD], question=[Q1], context=[CONTEXT])
    with pytest.raises(GuidedCotError, match="'answers' has 2 rows for 1 completions"):
        reward(completions=[GOOD], question=[Q1], context=[CONTEXT], answers=[["a"], ["b"]])
    with pytest.raises(ConfigError, match="config key 'metric' must be one of em, f1, gain; got 'accuracy'"):
        TaskReward(scripted_reader(), metric="accuracy")  # type: ignore[arg-type]
