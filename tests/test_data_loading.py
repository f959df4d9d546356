"""Loaders: every real file loads; deliberately broken files are rejected naming file, record and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from guidedcot.data import load_examples
from guidedcot.data.discovery import find_dataset_files, resolve_data_dir, split_of
from guidedcot.errors import DataError, GuidedCotError

EXPECTED_COUNTS = {
    "hotpot_train_100.json": ("hotpotqa", 100),
    "hotpot_dev_distractor_103.json": ("hotpotqa", 103),
    "hotpot_dev_distractor_sample10.json": ("hotpotqa", 10),
    "2wiki_dev_250.json": ("2wiki", 250),
    "2wiki_dev_sample9.json": ("2wiki", 9),
}


def test_every_shared_file_loads(shared_data: Path) -> None:
    files = find_dataset_files(shared_data)
    assert {f.name for f in files} >= set(EXPECTED_COUNTS)
    for path in files:
        result = load_examples(path)
        assert not result.skipped
        if path.name in EXPECTED_COUNTS:
            assert (result.dataset, len(result.examples)) == EXPECTED_COUNTS[path.name]
        for example in result.examples:
            assert example.question and example.answers and example.paragraphs
            titles = {p.title for p in example.paragraphs}
            assert all(fact.title in titles for fact in example.supporting_facts)


def test_hotpot_record_fields(shared_data: Path) -> None:
    first = load_examples(shared_data / "hotpotqa" / "hotpot_dev_distractor_sample10.json").examples[0]
    assert first.id == "5a8b57f25542995d1e6f1371"
    assert first.answers == ("yes",)
    assert first.type == "comparison" and first.level == "hard"
    assert first.gold_titles == ("Scott Derrickson", "Ed Wood")
    assert len(first.paragraphs) == 10


def test_2wiki_keeps_extra_fields_and_types(shared_data: Path) -> None:
    examples = load_examples(shared_data / "2wikimultihopqa" / "2wiki_dev_sample9.json").examples
    assert {e.type for e in examples} == {"comparison", "inference", "compositional", "bridge_comparison"}
    assert all("evidences" in e.extra for e in examples)
    assert all(e.dataset == "2wiki" for e in examples)


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "_id": "q1",
        "question": "Who directed the film?",
        "answer": "Jane Doe",
        "type": "bridge",
        "level": "easy",
        "supporting_facts": [["Film", 0], ["Jane Doe", 1]],
        "context": [
            ["Film", ["Film is a 2001 film ", "directed by Jane Doe."]],
            ["Jane Doe", ["Jane Doe is a director.", " She was born in 1970."]],
            ["Other", ["Unrelated text."]],
        ],
    }
    for key, value in changes.items():
        if value is _DELETE:
            del record[key]
        else:
            record[key] = value
    return record


_DELETE = object()


def _write(tmp_path: Path, records: list[Any], name: str = "data.json") -> Path:
    path = tmp_path / name
    if name.endswith(".jsonl"):
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    else:
        path.write_text(json.dumps(records))
    return path


def test_alternative_layouts_jsonl_string_paragraphs_alias_lists(tmp_path: Path) -> None:
    record = _record(
        answer=["Jane Doe", "J. Doe"],
        context=[
            ["Film", "Film is a 2001 film directed by Jane Doe."],
            ["Jane Doe", ["Jane Doe.", " Born 1970."]],
        ],
        supporting_facts=[["Film", 0], ["Jane Doe", 1]],
        evidences=[],
    )
    path = _write(tmp_path, [record, {**record, "_id": "q2"}], "data.jsonl")
    result = load_examples(path)
    assert result.dataset == "2wiki"
    assert [e.id for e in result.examples] == ["q1", "q2"]
    assert result.examples[0].answers == ("Jane Doe", "J. Doe")
    assert result.examples[0].paragraphs[0].sentences == ("Film is a 2001 film directed by Jane Doe.",)


BROKEN = [
    # (description, records or raw text, expected message fragments)
    (
        "missing question",
        [_record(question=_DELETE)],
        ["record 0 (id 'q1')", "field 'question'", "missing field"],
    ),
    (
        "mistyped answer",
        [_record(answer=3)],
        ["field 'answer'", "expected a string or a list of strings, found a number"],
    ),
    ("empty question", [_record(question="   ")], ["field 'question'", "empty"]),
    ("empty context", [_record(context=[])], ["field 'context'", "empty: no paragraphs"]),
    (
        "empty paragraph",
        [_record(context=[["Film", ["", " "]]], supporting_facts=[])],
        ["field 'context[0][1] (sentences)'", "no text"],
    ),
    (
        "fact to missing paragraph",
        [_record(supporting_facts=[["Nowhere", 0]])],
        ["field 'supporting_facts[0]'", "'Nowhere', which is not in the context"],
    ),
    (
        "fact to missing sentence",
        [_record(supporting_facts=[["Film", 5]])],
        ["supporting_facts[0]", "sentence 5 of 'Film', which has 2 sentence(s)"],
    ),
    (
        "mistyped sentence index",
        [_record(supporting_facts=[["Film", "0"]])],
        ["supporting_facts[0][1] (sentence index)", "expected an integer, found a string"],
    ),
    (
        "duplicate ids",
        [_record(), _record()],
        ["record 1 (id 'q1')", "field '_id'", "duplicate id: record 0 has the same id"],
    ),
    (
        "record not an object",
        [_record(), ["not", "a", "record"]],
        ["record 1", "expected a JSON object, found an array"],
    ),
    ("missing id", [_record(_id=_DELETE)], ["record 0", "field '_id'", "missing field"]),
    ("empty alias list", [_record(answer=[])], ["field 'answer'", "empty alias list"]),
]


@pytest.mark.parametrize(("description", "records", "fragments"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_records_are_rejected_with_clear_errors(
    tmp_path: Path, description: str, records: list[Any], fragments: list[str]
) -> None:
    path = _write(tmp_path, records)
    with pytest.raises(DataError) as caught:
        load_examples(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, f"{description}: {fragment!r} not in {message!r}"


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"_id": "q1",\n   "question": oops}\n]')
    with pytest.raises(DataError, match=r"bad\.json, line 3: invalid JSON"):
        load_examples(path)


def test_invalid_jsonl_names_the_line_and_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_record()) + "\n\n" + '{"_id": "q2", \n')
    with pytest.raises(DataError, match=r"bad\.jsonl, line 3, record 1: invalid JSON"):
        load_examples(path)


def test_top_level_must_be_an_array(tmp_path: Path) -> None:
    path = tmp_path / "obj.json"
    path.write_text('{"data": []}')
    with pytest.raises(DataError, match="expected a JSON array of records, found an object"):
        load_examples(path)


def test_skip_invalid_counts_and_reports(tmp_path: Path) -> None:
    records = [_record(), _record(_id="q2", question=""), _record(_id="q3"), _record(_id="q3")]
    path = _write(tmp_path, records)
    result = load_examples(path, skip_invalid=True)
    assert [e.id for e in result.examples] == ["q1", "q3"]
    assert [(e.index, e.field) for e in result.skipped] == [(1, "question"), (3, "_id")]


def test_unknown_dataset_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown dataset 'squad'"):
        load_examples(_write(tmp_path, [_record()]), dataset="squad")


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUIDEDCOT_DATA", raising=False)
    with pytest.raises(GuidedCotError, match="GUIDEDCOT_DATA"):
        resolve_data_dir()
    monkeypatch.setenv("GUIDEDCOT_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "missing")
    assert split_of(Path("hotpot_train_100.json")) == "train"
    assert split_of(Path("2wiki_dev_250.json")) == "dev"


def test_a_raw_line_separator_inside_a_jsonl_string_is_text(tmp_path: Path) -> None:
    record = _record(question="Who directed the film\u2028released in\u0085 2001?")
    path = tmp_path / "data.jsonl"  # json.dumps(ensure_ascii=False) writes U+2028 and U+0085 raw
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    (example,) = load_examples(path).examples
    assert example.question == "Who directed the film\u2028released in\u0085 2001?"
