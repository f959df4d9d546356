"""Load HotpotQA and 2WikiMultiHopQA files (official JSON array layout, or JSON Lines) into Examples.

Besides the official layout, the processed copies users have are read too: gold given per paragraph
(``supporting_facts`` as a list of titles), no gold at all (``supporting_facts`` missing or null: the
distractor setting needs none), and the Hugging Face ``datasets`` layout (``context`` as
``{"title": [...], "sentences": [[...]]}``, ``supporting_facts`` as ``{"title": [...], "sent_id": [...]}``).

Every problem is a `DataError` naming the file, the record (index and id) and the field. Nothing is
skipped silently: with ``skip_invalid=True`` invalid records are left out, and each one is reported
in `LoadResult.skipped`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guidedcot.data.example import Example, Paragraph, SupportingFact
from guidedcot.errors import DataError
from guidedcot.jsonl import lines

DATASETS = ("hotpotqa", "2wiki")
_TWOWIKI_MARKERS = ("evidences", "entity_ids")
# question types of 2WikiMultiHopQA that HotpotQA (bridge, comparison) does not have: a file without
# labels or evidences (a blind test set) is still recognised by them
_TWOWIKI_TYPES = {"compositional", "inference", "bridge_comparison"}
_KNOWN_FIELDS = {"_id", "id", "question", "answer", "type", "level", "supporting_facts", "context"}


@dataclass
class LoadResult:
    """The examples of one file, and the records that were skipped (only with ``skip_invalid``)."""

    path: Path
    dataset: str
    examples: list[Example]
    skipped: list[DataError] = field(default_factory=list)


def load_examples(
    path: Path | str, dataset: str | None = None, *, skip_invalid: bool = False, labels: bool = True
) -> LoadResult:
    """Load and validate every record of a `.json` (array) or `.jsonl` file.

    ``dataset`` is ``hotpotqa`` or ``2wiki``; when None it is inferred from the records (2Wiki records
    carry ``evidences`` / ``entity_ids``, or a question type only 2Wiki has). ``labels=False`` reads
    records without ``answer`` too (questions to predict: their examples have no answers).
    """
    path = Path(path)
    if dataset is not None and dataset not in DATASETS:
        raise DataError(path, f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if not path.is_file():
        raise DataError(path, "no such file")
    records = list(_read_records(path))
    if dataset is None:
        dataset = _infer_dataset(records)
    result = LoadResult(path=path, dataset=dataset, examples=[])
    first_index_of_id: dict[str, int] = {}
    for index, line, raw in records:
        try:
            example = _parse_record(raw, dataset, path, index, line, labels=labels)
            if example.id in first_index_of_id:
                raise DataError(
                    path,
                    f"duplicate id: record {first_index_of_id[example.id]} has the same id",
                    index=index,
                    record_id=example.id,
                    field="_id",
                    line=line,
                )
        except DataError as error:
            if not skip_invalid:
                raise
            result.skipped.append(error)
            continue
        first_index_of_id[example.id] = index
        result.examples.append(example)
    return result


def _read_records(path: Path) -> Iterator[tuple[int, int | None, Any]]:
    """Yield (record index, line number or None, decoded JSON value) for each record of the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
    if path.suffix == ".jsonl":
        index = 0
        for line_number, line in lines(text):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    path, f"invalid JSON: {error.msg} (column {error.colno})", index=index, line=line_number
                ) from error
            yield index, line_number, value
            index += 1
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            path, f"invalid JSON: {error.msg} (column {error.colno})", line=error.lineno
        ) from error
    if not isinstance(value, list):
        raise DataError(path, f"expected a JSON array of records, found {_json_type(value)}")
    for index, record in enumerate(value):
        yield index, None, record


def _infer_dataset(records: list[tuple[int, int | None, Any]]) -> str:
    for _, _, raw in records:
        if isinstance(raw, dict) and (
            any(marker in raw for marker in _TWOWIKI_MARKERS) or raw.get("type") in _TWOWIKI_TYPES
        ):
            return "2wiki"
    return "hotpotqa"


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    if isinstance(value, bool) or value is None:
        return names[type(value)]
    if isinstance(value, int | float):
        return "a number"
    return names.get(type(value), type(value).__name__)


class _RecordParser:
    """Validates one raw record; every error names file, record and field."""

    def __init__(self, path: Path, index: int, line: int | None) -> None:
        self.path = path
        self.index = index
        self.line = line
        self.record_id: str | None = None

    def error(self, field_name: str | None, message: str) -> DataError:
        return DataError(
            self.path,
            message,
            index=self.index,
            record_id=self.record_id,
            field=field_name,
            line=self.line,
        )

    def require(self, raw: dict[str, Any], name: str) -> Any:
        if name not in raw:
            raise self.error(name, "missing field")
        return raw[name]

    def string(self, value: Any, name: str, *, allow_empty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.error(name, f"expected a string, found {_json_type(value)}")
        if not allow_empty and not value.strip():
            raise self.error(name, "empty")
        return value


def _parse_record(
    raw: Any, dataset: str, path: Path, index: int, line: int | None, *, labels: bool = True
) -> Example:
    parser = _RecordParser(path, index, line)
    if not isinstance(raw, dict):
        raise parser.error(None, f"expected a JSON object, found {_json_type(raw)}")
    id_field = "_id" if "_id" in raw or "id" not in raw else "id"
    parser.record_id = parser.string(parser.require(raw, id_field), id_field)
    question = parser.string(parser.require(raw, "question"), "question")
    if labels and "answer" not in raw:
        raise parser.error(
            "answer",
            "missing field: this command needs gold answers (`guidedcot predict` answers questions "
            "without labels)",
        )
    answers = _parse_answers(parser, raw["answer"]) if raw.get("answer") is not None or labels else ()
    question_type = parser.string(parser.require(raw, "type"), "type")
    level = parser.string(raw["level"], "level") if raw.get("level") is not None else None
    paragraphs, sentence_counts = _parse_context(parser, parser.require(raw, "context"))
    facts = _parse_supporting_facts(parser, raw.get("supporting_facts"), sentence_counts)
    extra = {key: value for key, value in raw.items() if key not in _KNOWN_FIELDS}
    return Example(
        id=parser.record_id,
        question=question.strip(),
        answers=answers,
        type=question_type,
        supporting_facts=facts,
        paragraphs=paragraphs,
        dataset=dataset,
        level=level,
        extra=extra,
    )


def _parse_answers(parser: _RecordParser, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (parser.string(value, "answer"),)
    if not isinstance(value, list):
        raise parser.error("answer", f"expected a string or a list of strings, found {_json_type(value)}")
    if not value:
        raise parser.error("answer", "empty alias list")
    return tuple(parser.string(alias, f"answer[{i}]") for i, alias in enumerate(value))


def _columns_to_rows(
    parser: _RecordParser, value: dict[str, Any], name: str, keys: tuple[str, str]
) -> list[Any]:
    """The Hugging Face ``datasets`` layout (a dict of two parallel lists) as a list of pairs."""
    first, second = keys
    for key in keys:
        if not isinstance(value.get(key), list):
            raise parser.error(f"{name}.{key}", f"expected a list, found {_json_type(value.get(key))}")
    if len(value[first]) != len(value[second]):
        raise parser.error(
            name, f"{first!r} has {len(value[first])} item(s) but {second!r} has {len(value[second])}"
        )
    return [[a, b] for a, b in zip(value[first], value[second], strict=True)]


def _parse_context(parser: _RecordParser, value: Any) -> tuple[tuple[Paragraph, ...], dict[str, int | None]]:
    """The paragraphs, and each title's sentence count (None where the paragraph is one string)."""
    if isinstance(value, dict):
        value = _columns_to_rows(parser, value, "context", ("title", "sentences"))
    if not isinstance(value, list):
        raise parser.error("context", f"expected a list of [title, sentences], found {_json_type(value)}")
    if not value:
        raise parser.error("context", "empty: no paragraphs")
    paragraphs = []
    sentence_counts: dict[str, int | None] = {}
    for i, item in enumerate(value):
        name = f"context[{i}]"
        if not isinstance(item, list) or len(item) != 2:
            raise parser.error(name, "expected a [title, sentences] pair")
        title = parser.string(item[0], f"{name}[0] (title)")
        body = item[1]
        if isinstance(body, str):
            sentences: tuple[str, ...] = (parser.string(body, f"{name}[1] (text)"),)
        elif isinstance(body, list):
            sentences = tuple(
                parser.string(sentence, f"{name}[1][{j}] (sentence)", allow_empty=True)
                for j, sentence in enumerate(body)
            )
            if not "".join(sentences).strip():
                raise parser.error(f"{name}[1] (sentences)", f"paragraph {title!r} has no text")
        else:
            raise parser.error(
                f"{name}[1]", f"expected a list of sentences or a string, found {_json_type(body)}"
            )
        paragraphs.append(Paragraph(title=title, sentences=sentences))
        sentence_counts.setdefault(title, None if isinstance(body, str) else len(sentences))
    return tuple(paragraphs), sentence_counts


def _parse_supporting_facts(
    parser: _RecordParser, value: Any, sentence_counts: dict[str, int | None]
) -> tuple[SupportingFact, ...]:
    """``[[title, sentence index], ...]``, or ``[title, ...]`` (gold per paragraph), or the Hugging Face
    columns; missing or null means the record gives no gold."""
    if value is None:
        return ()
    if isinstance(value, dict):
        value = _columns_to_rows(parser, value, "supporting_facts", ("title", "sent_id"))
    if not isinstance(value, list):
        raise parser.error(
            "supporting_facts",
            f"expected a list of [title, sentence index] pairs or of titles, found {_json_type(value)}",
        )
    facts = []
    for i, item in enumerate(value):
        name = f"supporting_facts[{i}]"
        if isinstance(item, str):
            title = parser.string(item, f"{name} (title)")
            if title not in sentence_counts:
                raise parser.error(name, f"points at paragraph {title!r}, which is not in the context")
            facts.append(SupportingFact(title=title, sentence_index=None))
            continue
        if not isinstance(item, list) or len(item) != 2:
            raise parser.error(name, "expected a [title, sentence index] pair or a title")
        title, sentence_index = item
        parser.string(title, f"{name}[0] (title)")
        if not isinstance(sentence_index, int) or isinstance(sentence_index, bool):
            raise parser.error(
                f"{name}[1] (sentence index)", f"expected an integer, found {_json_type(sentence_index)}"
            )
        if title not in sentence_counts:
            raise parser.error(name, f"points at paragraph {title!r}, which is not in the context")
        count = sentence_counts[title]
        if sentence_index < 0 or (count is not None and sentence_index >= count):
            raise parser.error(
                name,
                f"points at sentence {sentence_index} of {title!r}, which has {count} sentence(s)",
            )
        facts.append(SupportingFact(title=title, sentence_index=sentence_index))
    return tuple(facts)
