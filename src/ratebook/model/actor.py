"""Who is acting, for the audit log: set around a command (``--actor``) or a request (the
API key's name), else the operating-system user."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_actor: ContextVar[str | None] = ContextVar("ratebook_actor", default=None)


def current_actor() -> str:
    """Who is acting: set by :func:`acting_as` (the CLI's ``--actor``, an API key), else the
    operating-system user."""
    name = _actor.get()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        return "unknown"


@contextmanager
def acting_as(name: str | None) -> Iterator[None]:
    """Attribute the changes made inside the block to ``name`` (no-op for None)."""
    token = _actor.set(name) if name else None
    try:
        yield
    finally:
        if token is not None:
            _actor.reset(token)
