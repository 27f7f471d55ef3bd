"""What every command shares: the consoles, the store a command opens (to write, or only to
read), the common options, the runner that prints a ``RatebookError`` as one line, and
progress bars.

Command modules import only this, Typer and Rich at their top; workflows and everything they
pull in (Polars, SQLAlchemy) are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from ratebook.errors import RatebookError
from ratebook.render.listing import OutputFormat

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ratebook.intake.tally import ImportProgress
    from ratebook.settings import Settings

# piped output (files, pagers) gets wide tables instead of Rich's 80-column default
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")


@dataclass(slots=True)
class State:
    """What the root options chose, and the store once a command opens it.

    Attributes:
        db: the ``--db`` path or URL, if given (else the settings' database URL).
    """

    db: str | None = None
    _settings: Settings | None = None
    _engine: Engine | None = field(default=None)

    @property
    def settings(self) -> Settings:
        """The settings, read from the environment on first use (``--db`` wins)."""
        if self._settings is None:
            from ratebook.settings import Settings

            settings = Settings()
            if self.db:
                settings = settings.model_copy(update={"database_url": self.db})
            self._settings = settings
        return self._settings

    def store(self) -> Engine:
        """The store, created and migrated if need be, for a command that writes."""
        from ratebook.store.engine import open_store

        if self._engine is None:
            self._engine = open_store(self.settings.database_url)
        return self._engine

    def reader(self) -> Engine:
        """The store for a command that only reads: never created nor migrated, and on SQLite
        read beside any writer (a WAL snapshot), never waiting for its lock."""
        from ratebook.store.engine import open_reader

        if self._engine is None:
            self._engine = open_reader(self.settings.database_url)
        return self._engine

    def close(self) -> None:
        """Release the store's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def state(ctx: typer.Context) -> State:
    """The root command's state."""
    found = ctx.find_root().obj
    if not isinstance(found, State):
        raise RuntimeError("CLI state missing")
    return found


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store: a SQLite file path or a database URL"
        " (default: $RATEBOOK_DATABASE_URL or ./ratebook.db).",
        metavar="PATH|URL",
    ),
]
EntityOption = Annotated[
    str | None,
    typer.Option("--entity", help="Entity code (default: the only entity).", metavar="CODE"),
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", help="Output format.", case_sensitive=False, metavar="table|json|csv"),
]
PeriodOption = Annotated[
    str, typer.Option("--period", help="Billing month, YYYY-MM.", metavar="PERIOD")
]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Processes sharing the work by customer (PostgreSQL gains; SQLite has one writer).",
        metavar="N",
    ),
]
FeedsOption = Annotated[
    Path | None,
    typer.Option(
        "--feeds",
        help="Feeds file (default: $RATEBOOK_FEEDS_FILE or ./feeds.yaml).",
        metavar="PATH",
    ),
]


def fail(error: RatebookError) -> None:
    """Print ``error`` as one line on stderr and exit 1."""
    err.print(f"error: {error.render()}", markup=False)
    raise typer.Exit(code=1)


def run(call: Callable[[], T]) -> T:
    """``call()``, a ``RatebookError`` printed as one line (exit 1)."""
    try:
        return call()
    except RatebookError as error:
        fail(error)
        raise  # unreachable; fail exits


def feed_list(settings_state: State, path: Path | None) -> list[Any]:
    """The feeds of ``path`` (default: the settings' feeds file)."""
    from ratebook.workflows.schedule_feeds import read_feeds

    return run(lambda: read_feeds(path or settings_state.settings.feeds_file))


def _bar(*columns: Any) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        *columns,
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


class Advance(Protocol):
    """Moves a progress bar: ``done`` of ``total``, under a new label when one is given."""

    def __call__(self, done: int, total: int, label: str | None = None) -> None: ...


@contextmanager
def progress_bar(label: str) -> Iterator[Advance]:
    """A progress bar on stderr (when it is a terminal) for long work that reports
    ``(done, total)``; the callable it yields moves it."""
    progress = _bar(TextColumn("{task.completed}/{task.total}"))
    with progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int, label: str | None = None) -> None:
            if label is None:
                progress.update(task, completed=done, total=total)
            else:
                progress.update(task, completed=done, total=total, description=label)

        yield advance


@contextmanager
def import_progress(label: str) -> Iterator[ImportProgress]:
    """Progress of one file's import: the bytes read, then the held charges placed."""
    from rich.filesize import decimal

    from ratebook.intake.tally import ImportProgress

    progress = _bar(TextColumn("{task.fields[detail]}"))
    with progress:
        reading = progress.add_task(label, total=None, detail="")
        placing: list[TaskID] = []

        def read(done: int, total: int) -> None:
            detail = f"{decimal(done)}/{decimal(total)}"
            progress.update(reading, completed=done, total=total, detail=detail)

        def place(done: int, total: int) -> None:
            if not placing:
                placing.append(progress.add_task("placing charges", total=total, detail=""))
            detail = f"{done}/{total} partitions"
            progress.update(placing[0], completed=done, total=total, detail=detail)

        yield ImportProgress(read=read, place=place)
