"""Errors that the command line turns into a one-paragraph message instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class GuidedCotError(Exception):
    """Base class for every error a user can cause and fix (bad input, missing model, bad config)."""


class DataError(GuidedCotError):
    """A dataset file or record is invalid; names the file, the record (index and id) and the field."""

    def __init__(
        self,
        path: Path | str,
        message: str,
        *,
        index: int | None = None,
        record_id: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.index = index
        self.record_id = record_id
        self.field = field
        self.line = line
        self.reason = message
        where = [str(self.path)]
        if line is not None:
            where.append(f"line {line}")
        if index is not None:
            where.append(f"record {index}" + (f" (id {record_id!r})" if record_id else ""))
        elif record_id is not None:
            where.append(f"record id {record_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(GuidedCotError):
    """A configuration file or a --set override is invalid."""


class ModelSourceError(GuidedCotError):
    """A named model cannot be located, verified or converted."""
