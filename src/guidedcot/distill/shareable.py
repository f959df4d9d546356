"""A teacher store without its dataset text, and back.

A record's ``context`` is the dataset's own text (its licence stays with the data, and it is most of a
store's bytes), so a store to commit or share keeps every field but that one: `strip_contexts` empties
it and marks the manifest; `fill_contexts` rebuilds each context from the data files, with the mode and
token budget the manifest records, exactly as the teacher saw it, and clears the mark. Training refuses
a stripped store (`check_not_stripped`).

Run: ``python -m guidedcot.distill.shareable {strip,fill} STORE [--data DIR] [--reader MODEL]``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from guidedcot import jsonl
from guidedcot.atomic import write_json_atomic, write_text_atomic
from guidedcot.data.context import TokenCounter, context_texts
from guidedcot.data.selection import data_root_for, select_examples
from guidedcot.distill.store import load_records, read_manifest
from guidedcot.errors import DataError, GuidedCotError

logger = logging.getLogger(__name__)
STRIPPED = "contexts_stripped"
"""The manifest key that marks a store whose records lack their contexts."""


def strip_contexts(store: Path) -> int:
    """Empty the ``context`` of every record of ``store`` (in place, atomically) and mark its manifest;
    the number of records."""
    manifest = read_manifest(store)
    records = [replace(record, context="") for record in load_records(store / "rationales.jsonl")]
    # The mark first: a kill between the two writes leaves a marked store with its contexts (fill
    # rebuilds the same), never an unmarked one without them (training would not refuse it).
    write_json_atomic(store / "manifest.json", {**manifest, STRIPPED: True})
    write_text_atomic(store / "rationales.jsonl", jsonl.dumps(asdict(r) for r in records))
    return len(records)


def fill_contexts(store: Path, data_dir: Path | None, count_tokens: TokenCounter | None) -> int:
    """Rebuild every record's ``context`` of a stripped ``store`` from the datasets its manifest names
    (in place, atomically) and clear the mark; the number of records. A record whose question is in none
    of those datasets is a `DataError` naming the store, line and id."""
    manifest = read_manifest(store)
    if not manifest.get(STRIPPED):
        raise GuidedCotError(f"teacher store {store} has its contexts (its manifest has no {STRIPPED!r})")
    settings = manifest["context"]
    examples = {}
    root = data_root_for(data_dir, [d["spec"] for d in manifest["datasets"]])
    for dataset in manifest["datasets"]:
        for example in select_examples(dataset["spec"], root, split="train", limit=None).examples:
            examples[(dataset["name"], example.id)] = example
    path = store / "rationales.jsonl"
    records = load_records(path)
    for line, record in enumerate(records, start=1):
        if (record.dataset, record.id) not in examples:
            raise DataError(
                path,
                f"question of {record.dataset} in none of the manifest's datasets",
                record_id=record.id,
                line=line,
            )
    wanted = sorted({(r.dataset, r.id) for r in records})
    texts = context_texts(
        [examples[key] for key in wanted],
        settings["mode"],
        max_tokens=settings["max_tokens"],
        count_tokens=count_tokens,
    )
    context = dict(zip(wanted, texts, strict=True))
    filled = [replace(r, context=context[(r.dataset, r.id)]) for r in records]
    write_text_atomic(path, jsonl.dumps(asdict(r) for r in filled))
    write_json_atomic(store / "manifest.json", {k: v for k, v in manifest.items() if k != STRIPPED})
    return len(filled)


def check_not_stripped(store: Path, manifest: Mapping[str, Any]) -> None:
    """Refuse a store (its ``manifest``) whose records lack their contexts: training on them would learn
    from empty ones."""
    if manifest.get(STRIPPED):
        raise GuidedCotError(
            f"teacher store {store} was stripped of its contexts (dataset text); rebuild them first: "
            f"python -m guidedcot.distill.shareable fill {store}"
        )


def counting_model(teacher: str, reader: str | None) -> str:
    """The model whose tokenizer counts a context's token budget as the teacher run did: ``reader`` when
    given, else the name in a llama.cpp ``teacher`` identity (``llamacpp:NAME@sha256:...``). Any other
    identity (a server's model name need not be a tokenizer one can load) needs ``reader``."""
    if reader:
        return reader
    backend, _, rest = teacher.partition(":")
    if backend != "llamacpp" or not rest:
        raise GuidedCotError(
            f"the store's teacher {teacher!r} is not a llama.cpp model: pass --reader with the model "
            "(name or path) whose tokenizer counted its contexts"
        )
    return rest.split("@", 1)[0]


def main(argv: list[str] | None = None) -> None:
    """Strip or fill a store's contexts; fill counts tokens with the teacher's (the reader's) tokenizer."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["strip", "fill"])
    parser.add_argument("store", type=Path)
    parser.add_argument("--data", type=Path, default=None, help="Data folder (default: $GUIDEDCOT_DATA).")
    parser.add_argument(
        "--reader",
        default=None,
        help="fill: the model whose tokenizer counts the context budget (default: the llama.cpp model "
        "the manifest's teacher names).",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.action == "strip":
        logger.info("%s: %d records stripped of their contexts", args.store, strip_contexts(args.store))
        return
    from guidedcot.llm.config import ModelConfig
    from guidedcot.llm.factory import token_counter

    model = counting_model(read_manifest(args.store)["teacher"], args.reader)
    counter = token_counter(ModelConfig(model=model))
    logger.info("%s: %d records' contexts rebuilt", args.store, fill_contexts(args.store, args.data, counter))


if __name__ == "__main__":
    main()
