"""The `guidedcot` command line."""

from guidedcot.cli.app import main

__all__ = ["main"]
