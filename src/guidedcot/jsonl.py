"""JSON Lines, read and written one way everywhere: lines end at ``\\n`` alone (a raw U+2028, U+0085 or
form feed inside a string is text, as JSON allows, not a line end as ``str.splitlines`` would make it);
written as UTF-8 text (no ASCII escapes), appended whole and fsynced, so a killed writer leaves at
most one cut last line, which the readers of growing files drop."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from guidedcot.errors import DataError


def lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line of ``text``."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def read_objects(path: Path, *, tolerate_cut_end: bool = False) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of every line of the JSONL file at ``path``; a line that is not a JSON
    object raises `DataError` naming the file and line, except, with ``tolerate_cut_end``, a last line
    left unfinished by a killed writer (dropped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(path, f"cannot read it: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise DataError(path, f"is not UTF-8 text (byte {error.start})") from None
    found = list(lines(text))
    objects = []
    for position, (number, line) in enumerate(found):
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, RecursionError, ValueError) as error:
            if tolerate_cut_end and position == len(found) - 1 and not text.endswith("\n"):
                break
            reason = error.msg if isinstance(error, json.JSONDecodeError) else type(error).__name__
            raise DataError(path, f"not a JSON line ({reason})", line=number) from None
        if not isinstance(value, dict):
            raise DataError(path, f"expected a JSON object, got {type(value).__name__}", line=number)
        objects.append((number, value))
    return objects


def dumps(objects: Iterable[Any]) -> str:
    """The JSONL text of ``objects`` (JSON values), one line each; a line holding a lone surrogate (not
    UTF-8) is written with ASCII escapes instead."""
    return "".join(_line(value) for value in objects)


def _line(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value)
    return text + "\n"


def append(path: Path, objects: Iterable[Any]) -> None:
    """Append ``objects`` to ``path`` in one write, flushed and fsynced (a kill keeps every line before)."""
    text = dumps(objects)
    if not text:
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
