"""JSON Lines, read one way everywhere: lines end at ``\\n`` alone (a raw U+2028, U+0085 or form feed
inside a string is text, as JSON allows, not a line end as ``str.splitlines`` would make it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
