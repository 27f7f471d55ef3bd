"""Who is at the console: the session cookie, the entity a page is about and the user's role
there, and the form token (CSRF) every change must carry.

A page is at ``/e/{entity}/...``. A user without a role in that entity gets 404, as for an
object that does not exist, so the console does not tell which entities exist.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from ratebook.errors import RatebookError
from ratebook.model.actor import acting_as
from ratebook.model.parties import Entity
from ratebook.model.users import Role, SignedIn
from ratebook.workflows.init_entity import entity_named
from ratebook.workflows.manage_users import session

#: The session cookie: a random token, HttpOnly, SameSite=Lax, Secure over TLS.
COOKIE = "ratebook_session"
#: The sign-in form's token, as a cookie and a field (double submit): a sign-in cannot be
#: posted from another site into this one.
SIGN_IN_COOKIE = "ratebook_sign_in"
#: Where a change's form token travels: a form field, or this header (htmx requests).
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class SignInNeeded(Exception):  # noqa: N818 - an answer, not a fault
    """No live session: the page answers with the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in")
        self.next_url = next_url


class Refused(Exception):  # noqa: N818 - an answer, not a fault
    """The user may look at the entity but not do this (403), or the form token is wrong."""

    def __init__(self, message: str, *, code: str = "FORBIDDEN") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Unseen(Exception):  # noqa: N818 - an answer, not a fault
    """The user has no role in the entity: 404, as for an entity that does not exist."""


@dataclass(frozen=True, slots=True)
class Desk:
    """A signed-in user at one entity's pages.

    Attributes:
        signed_in: the session and its user.
        role: the user's role there.
        facts: the entity (currency, zone, places, masking).
    """

    signed_in: SignedIn
    role: Role
    facts: Entity

    @property
    def entity(self) -> str:
        """The entity's code."""
        return self.facts.code

    def may(self, needed: Role | str) -> bool:
        """Whether the user's role here allows what ``needed`` may do."""
        return self.role.allows(Role(needed))

    def require(self, needed: Role) -> None:
        """Refuse (403) unless the user's role here allows what ``needed`` may do."""
        if not self.may(needed):
            raise Refused(f"this needs the {needed.value} role in {self.entity}")

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Attribute the changes made inside the block to this user."""
        with acting_as(self.signed_in.actor):
            yield


def same_token(sent: str, expected: str) -> bool:
    """Whether a form's token is the one expected, compared in constant time (as bytes:
    a token sent with characters beyond ASCII is simply wrong)."""
    return hmac.compare_digest(
        sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def secure(request: Request) -> bool:
    """Whether the console is served over TLS (cookies are then Secure)."""
    return request.url.scheme == "https"


async def signed_in(request: Request) -> SignedIn:
    """The request's live session, or ``SignInNeeded``."""
    engine: Engine = request.app.state.engine
    token = request.cookies.get(COOKIE, "")
    found = await run_in_threadpool(session, engine, token) if token else None
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(quote(target, safe="/?=&"))
    return found


async def desk(
    request: Request,
    signed: Annotated[SignedIn, Depends(signed_in)],
    entity: Annotated[str, PathParam(max_length=32)],
) -> Desk:
    """The user at ``entity``'s pages (404 without a role there)."""
    role = signed.user.roles.get(entity)
    if role is None:
        raise Unseen(entity)
    facts = await run_in_threadpool(entity_named, request.app.state.engine, entity)
    return Desk(signed, role, facts)


def acting(needed: Role) -> Callable[..., Coroutine[Any, Any, Desk]]:
    """The dependency of a change that needs the ``needed`` role: the role is checked
    before the form is read (403), then the form's token against the session's (403
    ``CSRF_FAILED``), and a field holding a NUL is refused (400)."""

    async def dependency(request: Request, at: Annotated[Desk, Depends(desk)]) -> Desk:
        at.require(needed)
        form = await request.form()
        if any(isinstance(v, str) and "\x00" in v for _, v in form.multi_items()):
            raise RatebookError("BAD_REQUEST", "a field of the form holds a NUL character")
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if not sent or not same_token(sent, at.signed_in.csrf_token):
            raise Refused(
                "the form is out of date or not this session's: reload the page",
                code="CSRF_FAILED",
            )
        return at

    return dependency


Viewing = Annotated[Desk, Depends(desk)]
#: A change any role may ask for (a quote, which stores nothing).
Asking = Annotated[Desk, Depends(acting(Role.VIEWER))]
#: A change to the exception queue or the disputes.
Reviewing = Annotated[Desk, Depends(acting(Role.REVIEWER))]
#: An upload, or a check of the whole deployment.
Administering = Annotated[Desk, Depends(acting(Role.ADMIN))]
