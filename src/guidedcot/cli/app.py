"""The `guidedcot` application: subcommands and the one-paragraph error handler."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from guidedcot import __version__
from guidedcot.cli.common import console, setup_logging
from guidedcot.cli.compare_cmd import compare_command
from guidedcot.cli.data_cmd import data_command
from guidedcot.cli.demo_cmd import demo_command
from guidedcot.cli.distill_cmd import distill_app
from guidedcot.cli.evaluate_cmd import evaluate_command
from guidedcot.cli.models_cmd import models_app
from guidedcot.cli.predict_cmd import predict_command, score_command
from guidedcot.cli.rl_cmd import rl_app
from guidedcot.cli.serve_cmd import serve_command
from guidedcot.cli.study_cmd import study_command
from guidedcot.errors import GuidedCotError

logger = logging.getLogger(__name__)
app = typer.Typer(
    name="guidedcot",
    help="LM-Guided Chain-of-Thought: a small student LM writes rationales that a frozen reader LM answers from.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("data")(data_command)
app.add_typer(models_app, name="models")
app.command("evaluate")(evaluate_command)
app.command("compare")(compare_command)
app.command("predict")(predict_command)
app.command("score")(score_command)
app.add_typer(distill_app, name="distill")
app.add_typer(rl_app, name="rl")
app.command("demo")(demo_command)
app.command("study")(study_command)
app.command("serve")(serve_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"guidedcot {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """LM-Guided Chain-of-Thought."""
    setup_logging(verbose)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a user error becomes a one-paragraph message and exit status 2."""
    try:
        # Outside standalone mode click returns the code of a typer.Exit instead of raising it.
        result = app(args=argv, standalone_mode=False)
    except GuidedCotError as error:
        console.print(f"[bold red]error:[/bold red] {_printable(str(error))}", highlight=False)
        return 2
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        console.print("aborted")
        return 130
    except Exception as error:  # click's usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            return error.exit_code
        if logging.getLogger().isEnabledFor(logging.DEBUG):  # --verbose: the whole traceback
            raise
        console.print(
            f"[bold red]internal error:[/bold red] {_printable(f'{type(error).__name__}: {error}')} "
            "(a bug, or an input no check knows yet: run again with --verbose for the traceback)",
            highlight=False,
        )
        return 2
    return result if isinstance(result, int) else 0


MESSAGE_CHARS = 4000


def _printable(message: str) -> str:
    """A message as the console can print it: rich markup escaped (a ``[b]`` in a path stays text),
    characters the terminal cannot encode (a lone surrogate) as escapes, and cut to 4,000 characters."""
    from rich.markup import escape

    if len(message) > MESSAGE_CHARS:
        message = f"{message[:MESSAGE_CHARS]}... ({len(message)} characters)"
    return escape(message.encode("utf-8", "backslashreplace").decode("utf-8"))


if __name__ == "__main__":
    sys.exit(main())
