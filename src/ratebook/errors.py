"""The error tree for failures that stop a command, each with a stable UPPER_SNAKE code.

Bad data inside a feed is not an error: it becomes an exception record (see
``ratebook.model.rejections``). These classes are for what stops a whole command::

    RatebookError                 code, message
    ├── InputError                a user file is unusable: ``file:line: field: CODE message``
    ├── NotFoundError             a named entity, customer, rate table, ... does not exist
    ├── ConfigError               settings or set-up that cannot work (no entity, two entities, ...)
    ├── StoreError                the database cannot be reached or migrated
    ├── ConflictError             what was asked conflicts with what the store holds
    └── AccessError               the caller may not do it (an API key revoked meanwhile)

A code is never renamed or reused.
"""

from __future__ import annotations

from pathlib import Path


class RatebookError(Exception):
    """Base of every error a Ratebook command reports to its user.

    Attributes:
        code: stable UPPER_SNAKE code.
        message: a sentence the user can act on.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message

    def render(self) -> str:
        """The one-line form printed by the CLI."""
        return f"{self.code} {self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # pickled whole (a parallel worker's error reaches its coordinator as raised), not
        # rebuilt from ``args``, which every subclass's ``__init__`` takes otherwise
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(
    cls: type[RatebookError], args: tuple[object, ...], state: dict[str, object]
) -> RatebookError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InputError(RatebookError):
    """A file given by the user cannot be used, located as precisely as is known.

    Attributes:
        path: the file, as the user named it.
        line: 1-based physical line, or None when the problem is the whole file.
        field: the column at fault, or None.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        path: Path | str,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(code, message)
        self.path = str(path)
        self.line = line
        self.field = field

    def render(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.code} {self.message}"


class NotFoundError(RatebookError):
    """A named object does not exist in the entity."""


class ConfigError(RatebookError):
    """Settings or set-up that cannot work as given."""


class StoreError(RatebookError):
    """The database cannot be reached, opened or migrated."""


class ConflictError(RatebookError):
    """What was asked conflicts with what the store holds (a closed cycle, a change that
    would leave records unbilled)."""


class AccessError(RatebookError):
    """The caller may not do what it asked: an API key that was revoked after the request
    was let in (the store checks it again in the transaction that writes)."""
