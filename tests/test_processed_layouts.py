"""Processed copies of HotpotQA load: gold per paragraph, no gold at all, and the Hugging Face layout.

Each layout is made from the real shared dev file, so every record of it is checked against the
official layout it came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guidedcot.cli.app import main
from guidedcot.data import build_context, load_examples
from guidedcot.errors import DataError, GuidedCotError

DEV = "hotpotqa/hotpot_dev_distractor_103.json"


def official(shared_data: Path) -> list[dict[str, Any]]:
    return json.loads((shared_data / DEV).read_text(encoding="utf-8"))


def written(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def per_paragraph(record: dict[str, Any]) -> dict[str, Any]:
    titles = list(dict.fromkeys(title for title, _ in record["supporting_facts"]))
    return {**record, "supporting_facts": titles}


def hugging_face(record: dict[str, Any]) -> dict[str, Any]:
    return {
        **record,
        "context": {
            "title": [t for t, _ in record["context"]],
            "sentences": [s for _, s in record["context"]],
        },
        "supporting_facts": {
            "title": [t for t, _ in record["supporting_facts"]],
            "sent_id": [i for _, i in record["supporting_facts"]],
        },
    }


def test_the_hugging_face_layout_loads_the_same_examples(shared_data: Path, tmp_path: Path) -> None:
    records = official(shared_data)
    expected = load_examples(shared_data / DEV, "hotpotqa").examples
    loaded = load_examples(written(tmp_path, "hf_dev.json", [hugging_face(r) for r in records]), "hotpotqa")
    assert loaded.examples == expected


def test_gold_per_paragraph_gives_the_same_gold_paragraphs(shared_data: Path, tmp_path: Path) -> None:
    records = official(shared_data)
    expected = load_examples(shared_data / DEV, "hotpotqa").examples
    loaded = load_examples(written(tmp_path, "titles_dev.json", [per_paragraph(r) for r in records])).examples
    assert [e.gold_titles for e in loaded] == [e.gold_titles for e in expected]
    assert all(fact.sentence_index is None for e in loaded for fact in e.supporting_facts)
    for ours, theirs in zip(loaded, expected, strict=True):
        assert build_context(ours, "gold").text == build_context(theirs, "gold").text
        assert build_context(ours, "distractor").text == build_context(theirs, "distractor").text


def test_a_whole_gold_paragraph_keeps_its_sentences_under_a_budget(shared_data: Path, tmp_path: Path) -> None:
    """Per-paragraph gold marks every sentence as supporting, so the budget drops whole paragraphs
    (never sentences of a gold one) where the official file would trim sentences first."""
    records = [per_paragraph(r) for r in official(shared_data)[:20]]
    for example in load_examples(written(tmp_path, "titles_dev.json", records)).examples:
        full = build_context(example, "gold", max_tokens=10_000, count_tokens=len).text
        built = build_context(example, "gold", max_tokens=len(full) - 1, count_tokens=len)
        assert not built.truncation.trimmed_gold_sentences
        assert built.truncation.dropped_gold


@pytest.mark.parametrize("missing", ["null", "absent"])
def test_no_gold_loads_and_serves_the_distractor_setting(
    shared_data: Path, tmp_path: Path, missing: str
) -> None:
    records = official(shared_data)[:5]
    for record in records:
        if missing == "null":
            record["supporting_facts"] = None
        else:
            del record["supporting_facts"]
    examples = load_examples(written(tmp_path, "nogold_dev.json", records)).examples
    assert len(examples) == 5 and not any(e.has_gold for e in examples)
    assert all(build_context(e, "distractor").text for e in examples)
    with pytest.raises(GuidedCotError, match=f"question {examples[0].id!r} has no supporting facts"):
        build_context(examples[0], "gold")


def test_bad_processed_layouts_name_the_field(shared_data: Path, tmp_path: Path) -> None:
    record = official(shared_data)[0]
    cases = [
        (
            {**record, "supporting_facts": ["No Such Title"]},
            "supporting_facts[0]",
            "which is not in the context",
        ),
        ({**hugging_face(record), "context": {"title": ["A"], "sentences": []}}, "context", "'title' has 1"),
        (
            {**hugging_face(record), "supporting_facts": {"title": ["A"]}},
            "supporting_facts.sent_id",
            "found null",
        ),
        ({**record, "supporting_facts": "A"}, "supporting_facts", "found a string"),
    ]
    for bad, field_name, message in cases:
        with pytest.raises(DataError) as caught:
            load_examples(written(tmp_path, "bad_dev.json", [bad]))
        assert caught.value.field == field_name and message in caught.value.reason, caught.value


def test_the_gold_setting_on_a_file_without_gold_fails_before_a_model_loads(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = official(shared_data)[:3]
    records[1]["supporting_facts"] = None
    path = written(tmp_path, "partly_gold_dev.json", records)
    args = ["evaluate", "--dataset", str(path), "--reader", "no-such-model", "--student", "no-such-model"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(path) in err and f"record id {records[1]['_id']!r}" in err and "'supporting_facts'" in err
    # The distractor setting needs no gold: the same file passes the data check and fails on the model.
    assert main([*args, "--set", "context_mode=distractor"]) == 2
    err = capsys.readouterr().err
    assert "supporting_facts" not in err and "no-such-model" in err
