"""The `guidedcot` command line (`guidedcot.cli.app`)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """The `guidedcot` script's entry point: `guidedcot.cli.app.main`, imported when called, so that
    ``python -m guidedcot.cli.app`` (how `accelerate launch` runs it) does not import the module twice."""
    from guidedcot.cli.app import main as run

    return run(argv)


__all__ = ["main"]
