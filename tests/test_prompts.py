"""Prompt templates (versions, overrides, validation) and answer extraction on real reader outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guidedcot.config import load_config
from guidedcot.errors import ConfigError
from guidedcot.prompts import (
    DEFAULT_TEMPLATES,
    PromptsConfig,
    PromptTemplate,
    build_templates,
    extract_answer,
    is_yes_no_question,
    split_cot,
)

FIXTURES = Path(__file__).parent / "fixtures" / "reader_outputs.jsonl"


def test_every_template_fills_its_slots_and_has_a_distinct_version() -> None:
    slots = {"question": "Who wrote Dune?", "context": "Dune: a novel by Frank Herbert.", "rationale": "R!"}
    versions = set()
    for name, template in DEFAULT_TEMPLATES.items():
        text = template.format(slots)
        assert "Who wrote Dune?" in text and "Frank Herbert" in text
        assert ("R!" in text) == (name == "guided")
        assert "{" not in text
        versions.add(template.version)
    assert len(versions) == len(DEFAULT_TEMPLATES)


def test_reader_templates_share_the_question_and_context_prefix() -> None:
    slots = {"question": "Q?", "context": "C.", "rationale": "R."}
    texts = [DEFAULT_TEMPLATES[n].format(slots) for n in ("standard", "cot", "guided")]
    prefix = "Question: Q?\nContext:\nC."
    assert all(text.startswith(prefix) for text in texts)
    assert len({DEFAULT_TEMPLATES[n].system for n in ("standard", "cot", "guided")}) == 1


def test_answer_format_follows_the_question_form() -> None:
    assert "yes or no" in DEFAULT_TEMPLATES["standard"].format(
        {"question": "Is Paris in France?", "context": ""}
    )
    span = DEFAULT_TEMPLATES["standard"].format({"question": "Who founded Paris?", "context": ""})
    assert "short span" in span and "yes or no" not in span


def test_an_override_changes_text_and_version() -> None:
    config = load_config(
        PromptsConfig, overrides=["standard.user=Q: {question} C: {context} A:", "standard.system="]
    )
    templates = build_templates(config)
    assert templates["standard"].format({"question": "q", "context": "c"}) == "Q: q C: c A:"
    assert templates["standard"].system is None
    assert templates["standard"].version != DEFAULT_TEMPLATES["standard"].version
    assert templates["cot"] == DEFAULT_TEMPLATES["cot"]


@pytest.mark.parametrize(
    ("name", "user", "message"),
    [
        ("guided", "Question: {question} Context: {context}", r"missing slot\(s\) \{rationale\}"),
        ("standard", "{question} {context} {gold}", r"unknown slot\(s\) \{gold\}"),
        ("nonsense", "{question}", "unknown prompt template 'nonsense'"),
    ],
)
def test_bad_templates_are_refused_with_the_slot_named(name: str, user: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PromptTemplate(name=name, user=user)


@pytest.mark.parametrize(
    ("question", "output", "expected"),
    [
        ("Who wrote Dune?", "Frank Herbert", "Frank Herbert"),
        ("Who wrote Dune?", "Frank Herbert.\nHe wrote it in 1965.", "Frank Herbert"),
        ("Who wrote Dune?", "Reasoning: the context says so.\nPrediction: Frank Herbert.", "Frank Herbert"),
        ("Who wrote Dune?", "**Prediction:** *Frank Herbert*", "Frank Herbert"),
        ("Who wrote Dune?", "Final answer: Frank Herbert", "Frank Herbert"),
        ("Who wrote Dune?", "The answer is Frank Herbert.", "Frank Herbert"),
        ("Who wrote Dune?", "Yes, Frank Herbert", "Frank Herbert"),
        ("Who wrote Dune?", "The author of the novel Dune is Frank Herbert.", "Frank Herbert"),
        ("Which novel is it?", 'The novel described in the context is "Dune Messiah".', "Dune Messiah"),
        ("Where is the capital?", "Washington, D.C.", "Washington, D.C."),
        ("Is Dune a novel?", "Yes, it is a novel by Frank Herbert.", "yes"),
        ("Were they both American?", "Prediction: NO.", "no"),
        ("Were they both American?", "They were not.", "They were not"),
        ("Who wrote Dune?", "", ""),
    ],
)
def test_extract_answer(question: str, output: str, expected: str) -> None:
    assert extract_answer(output, question) == expected


def test_split_cot_separates_reasoning_and_prediction() -> None:
    out = split_cot("Reasoning: A wrote B. B is the film.\nPrediction: A", "Who directed B?")
    assert (out.reasoning, out.prediction, out.has_prediction_line) == (
        "A wrote B. B is the film.",
        "A",
        True,
    )
    missing = split_cot("Reasoning: I am not sure", "Who?")
    assert (missing.reasoning, missing.prediction, missing.has_prediction_line) == (
        "I am not sure",
        "",
        False,
    )


@pytest.mark.parametrize(
    ("question", "yes_no"),
    [
        ("Were Scott Derrickson and Ed Wood of the same nationality?", True),
        ("Are both films from the same country?", True),
        ("Did the director die before 1950?", True),
        ("Which film came out first, A or B?", False),
        ("Who is older?", False),
        ("Island of the Blessed is in which country?", False),
    ],
)
def test_yes_no_questions(question: str, yes_no: bool) -> None:
    assert is_yes_no_question(question) is yes_no


def test_extraction_on_real_outputs_of_the_1_5b_reader() -> None:
    """50 outputs of Qwen2.5-Coder-1.5B (standard, cot, guided prompts) with the answers a person reads."""
    rows = [json.loads(line) for line in FIXTURES.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 50
    for row in rows:
        if row["method"] == "cot":
            got = split_cot(row["output"], row["question"]).prediction
        else:
            got = extract_answer(row["output"], row["question"])
        assert got == row["expected"], (row["question"], row["output"])
