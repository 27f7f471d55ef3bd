"""The ``ratebook`` command line: the root command and its options, the command groups in
their help panels (setup, import, billing, review, service), and the entry point that turns
any failure into one line.

Each module holds one group of commands; a command parses its options, calls one workflow
and prints. Errors a user can act on print as ``file:line: field: CODE message`` on stderr
and exit 1.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperArgument, TyperOption

from ratebook.cli import audit, billing, intake, reports, review, service, setup, users
from ratebook.cli import reference as reference  # adds list and show to customers and rates
from ratebook.cli.common import DbOption, State, err

app = typer.Typer(
    help="Ratebook: ingest usage records, rate them, and bill them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for group in (setup, intake, billing, reports, review, audit, service, users):
    app.add_typer(group.commands)

#: Set by ``--debug``: a failure's traceback is shown instead of its one line.
_DEBUG = "RATEBOOK_DEBUG"


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"ratebook {version('ratebook')}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: DbOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage.")] = False,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            envvar="RATEBOOK_ACTOR",
            help="Who is acting, for the audit log (default: the system user).",
            metavar="NAME",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected failure.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # a lost connection is told once, as the command's one error line: the driver's
        # own note on the copy it abandoned is for --verbose
        logging.getLogger("psycopg").setLevel(logging.ERROR)
    if debug:
        os.environ[_DEBUG] = "1"
    found = State(db=db)
    ctx.obj = found
    ctx.call_on_close(found.close)
    if actor:
        from ratebook.model.actor import acting_as

        ctx.with_resource(acting_as(actor))


#: What an option's value is called in help, by its Python type, where no metavar is given.
_METAVARS = {"str": "TEXT", "int": "N", "Path": "PATH", "list[str]": "TEXT", "list[int]": "N"}


def _readable(command: Any) -> Any:
    """``command`` with help that names values (``PATH``, ``TEXT``, ``N``) instead of Python
    types (``<list[Path]>``), and shows no value for a flag (``--help`` included)."""
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _METAVARS.get(param.bare_type(), "VALUE")
        elif isinstance(param, TyperArgument):
            # its name column already reads FILES...; the type column says nothing more
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    help_option = command.get_help_option

    def flag_help(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = flag_help
    for sub in getattr(command, "commands", {}).values():
        _readable(sub)
    return command


def cli() -> Any:
    """The root command as Click runs it."""
    return _readable(typer.main.get_command(app))


def main() -> None:
    """Console-script entry point: no failure reaches the user as a traceback (unless
    ``--debug``); each is one line with a code, and exit status 1."""
    os.environ.setdefault("POLARS_MAX_THREADS", str(os.cpu_count() or 2))
    try:
        cli()(prog_name="ratebook")
    except KeyboardInterrupt:
        err.print("interrupted; nothing of the unfinished change was committed")
        sys.exit(130)
    except Exception as exc:  # every failure is told as one line
        if os.environ.get(_DEBUG):
            raise
        from ratebook.store.failures import describe

        error = describe(exc)
        err.print(f"error: {error.render()}", markup=False)
        if error.code in ("INTERNAL_ERROR", "STORE_ERROR"):
            err.print("(run again with --debug for the traceback)", style="dim")
        sys.exit(1)
