"""Context building: gold vs distractor, and a token budget that drops distractors before any gold text."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidedcot.data import Example, Paragraph, SupportingFact, build_context, load_examples


def words(text: str) -> int:
    return len(text.split())


def _example() -> Example:
    return Example(
        id="q",
        question="Q?",
        answers=("a",),
        type="bridge",
        supporting_facts=(SupportingFact("G1", 0), SupportingFact("G2", 1)),
        paragraphs=(
            Paragraph("D1", ("one two three four five",)),
            Paragraph("G1", ("gold one here.", " filler words that can go.")),
            Paragraph("D2", ("six seven eight",)),
            Paragraph("G2", ("first sentence of two.", " the supporting sentence.")),
            Paragraph("D2", ("six seven eight",)),  # exact duplicate, as in the 2Wiki files
        ),
        dataset="hotpotqa",
    )


def test_gold_mode_keeps_supporting_paragraphs_in_order() -> None:
    built = build_context(_example(), "gold")
    assert [p.title for p in built.paragraphs] == ["G1", "G2"]
    assert built.text.splitlines()[0] == "G1: gold one here. filler words that can go."
    assert not built.truncation.truncated


def test_distractor_mode_keeps_all_and_removes_exact_duplicates() -> None:
    built = build_context(_example(), "distractor")
    assert [p.title for p in built.paragraphs] == ["D1", "G1", "D2", "G2"]
    assert built.duplicates_removed == 1


def test_budget_drops_distractors_last_first_before_gold() -> None:
    full = words(build_context(_example(), "distractor").text)
    built = build_context(_example(), "distractor", max_tokens=full - 3, count_tokens=words)
    assert built.truncation.dropped_distractors == ["D2"]
    assert [p.title for p in built.paragraphs] == ["D1", "G1", "G2"]
    assert built.tokens is not None and built.tokens <= full - 3


def test_budget_trims_non_supporting_gold_sentences_then_drops_gold() -> None:
    gold_only = words(build_context(_example(), "gold").text)
    built = build_context(_example(), "distractor", max_tokens=gold_only - 3, count_tokens=words)
    assert built.truncation.dropped_distractors == ["D1", "D2"]
    assert built.truncation.trimmed_gold_sentences  # a non-supporting sentence went, not a paragraph
    assert not built.truncation.dropped_gold
    assert "the supporting sentence." in built.text and "gold one here." in built.text

    tiny = build_context(_example(), "gold", max_tokens=5, count_tokens=words)
    assert tiny.truncation.dropped_gold == ["G2"]
    assert [p.title for p in tiny.paragraphs] == ["G1"]


def test_budget_needs_a_counter() -> None:
    with pytest.raises(ValueError, match="count_tokens"):
        build_context(_example(), "gold", max_tokens=10)


def test_every_shared_example_builds_in_both_modes(shared_data: Path) -> None:
    for path in (
        shared_data / "hotpotqa" / "hotpot_dev_distractor_sample10.json",
        shared_data / "2wikimultihopqa" / "2wiki_dev_250.json",
    ):
        for example in load_examples(path).examples:
            gold = build_context(example, "gold")
            assert {p.title for p in gold.paragraphs} == set(example.gold_titles)
            distractor = build_context(example, "distractor", max_tokens=200, count_tokens=words)
            assert distractor.tokens is not None
            kept = {p.title for p in distractor.paragraphs}
            # a gold paragraph goes only after every distractor has gone
            if set(example.gold_titles) - kept:
                assert kept <= set(example.gold_titles)


@pytest.mark.slow
def test_budget_with_the_real_smollm2_tokenizer(shared_data: Path) -> None:
    from transformers import AutoTokenizer

    from guidedcot.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("smollm2").hf_path)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    example = load_examples(shared_data / "hotpotqa" / "hotpot_dev_distractor_sample10.json").examples[0]
    full = count(build_context(example, "distractor").text)
    built = build_context(example, "distractor", max_tokens=full // 2, count_tokens=count)
    assert built.tokens == count(built.text) <= full // 2
    assert built.truncation.dropped_distractors and not built.truncation.dropped_gold
    assert set(example.gold_titles) <= {p.title for p in built.paragraphs}
