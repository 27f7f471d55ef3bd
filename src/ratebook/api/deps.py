"""Dependencies every route declares: the store, the settings and the calling key, each as
an ``Annotated`` alias so a route's signature says what it needs."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from ratebook.api.key_cache import KeyCache
from ratebook.api.problems import Problem
from ratebook.errors import InputError
from ratebook.model.actor import acting_as
from ratebook.model.keys import KeyRow
from ratebook.model.ledger import Period
from ratebook.settings import Settings
from ratebook.store.reference import ReferenceCache
from ratebook.workflows.manage_keys import authenticate, digest, well_formed

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rbk_...`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a live key, confined to its entity.

    Attributes:
        key: the key (without its secret).
    """

    key: KeyRow

    @property
    def entity(self) -> str:
        """The code of the entity every query of this caller is scoped to."""
        return self.key.entity_code

    @property
    def actor(self) -> str:
        """The name the audit log records changes under."""
        return f"key:{self.key.name}"

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Attribute the changes made inside the block to this key."""
        with acting_as(self.actor):
            yield


# The getters below are async only so that FastAPI calls them on the event loop: a plain
# ``def`` dependency is run in a worker thread, a hand-off that costs far more than reading
# ``app.state``.


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_references(request: Request) -> ReferenceCache:
    references: ReferenceCache = request.app.state.references
    return references


Store = Annotated[Engine, Depends(get_engine)]
Config = Annotated[Settings, Depends(get_settings)]
References = Annotated[ReferenceCache, Depends(get_references)]


def _caller(scope: str) -> Callable[..., Caller]:
    def dependency(
        engine: Store,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None:
            raise Problem(
                401, "UNAUTHENTICATED", "send an API key as a Bearer token", headers=_CHALLENGE
            )
        key = authenticate(engine, credentials.credentials)
        if key is None:
            raise Problem(
                401, "UNAUTHENTICATED", "the API key is unknown or revoked", headers=_CHALLENGE
            )
        if scope not in key.scopes and "admin" not in key.scopes:
            raise Problem(403, "FORBIDDEN", f"the API key lacks the {scope!r} scope")
        return Caller(key)

    return dependency


def _kept_caller(scope: str) -> Callable[..., Coroutine[Any, Any, Caller]]:
    """A caller taken from the app's ``KeyCache`` without a store read, for a route whose
    workflow checks the key again in its own transaction (see ``api.key_cache``); a key not
    kept yet is checked in the store as on every other route."""

    async def dependency(
        request: Request,
        engine: Store,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        if credentials is None:
            raise Problem(
                401, "UNAUTHENTICATED", "send an API key as a Bearer token", headers=_CHALLENGE
            )
        keys: KeyCache = request.app.state.keys
        presented = credentials.credentials
        wanted = digest(presented) if well_formed(presented) else None
        key = keys.get(wanted) if wanted else None
        if key is None:
            key = await run_in_threadpool(authenticate, engine, presented)
            if key is None or wanted is None:
                raise Problem(
                    401, "UNAUTHENTICATED", "the API key is unknown or revoked", headers=_CHALLENGE
                )
            keys.keep(wanted, key)
        if scope not in key.scopes and "admin" not in key.scopes:
            raise Problem(403, "FORBIDDEN", f"the API key lacks the {scope!r} scope")
        return Caller(key)

    return dependency


def _period(text: str, where: str) -> str:
    try:
        Period.parse(text, option=where)
    except InputError as bad:
        raise Problem(422, "BAD_PERIOD", bad.message) from None
    return text


def _period_query(
    period: Annotated[
        str | None, Query(max_length=32, description="A billing month, YYYY-MM.")
    ] = None,
) -> str | None:
    return None if period is None else _period(period, "period")


def _period_path(
    period: Annotated[str, PathParam(max_length=32, description="A billing month, YYYY-MM.")],
) -> str:
    return _period(period, "period")


#: ``?period=YYYY-MM``, and the ``{period}`` of a path: anything but a month Ratebook bills is
#: 422 ``BAD_PERIOD`` on every route.
PeriodQuery = Annotated[str | None, Depends(_period_query)]
PeriodPath = Annotated[str, Depends(_period_path)]


Ingester = Annotated[Caller, Depends(_caller("ingest"))]
#: ``Ingester`` for the route whose writer checks the key again in its transaction.
EventIngester = Annotated[Caller, Depends(_kept_caller("ingest"))]
#: ``Reader`` for the quote, whose workflow checks the key again in its snapshot.
QuoteReader = Annotated[Caller, Depends(_kept_caller("read"))]
Reader = Annotated[Caller, Depends(_caller("read"))]
Reviewer = Annotated[Caller, Depends(_caller("review"))]
Admin = Annotated[Caller, Depends(_caller("admin"))]
