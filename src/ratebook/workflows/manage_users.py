"""Console users: create them, give them a role per entity, change their password, disable
them; and sign them in and out.

Passwords are kept as argon2id hashes (``argon2-cffi``'s defaults, rehashed when those grow).
A session is a random token in an HttpOnly cookie; the store keeps its SHA-256, so a copy of
the store cannot be replayed as a cookie, and sessions hold across server processes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine

from ratebook.errors import ConfigError, ConflictError, NotFoundError
from ratebook.model.actor import current_actor
from ratebook.model.users import Role, SignedIn, UserRow
from ratebook.store import audit, users
from ratebook.store.engine import reading
from ratebook.store.entities import get_entity

_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_hasher = PasswordHasher()
# verified against when the name is unknown, so that an unknown name costs what a known one
# does and the answer's time does not tell which names exist
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def parse_role(text: str) -> Role:
    """``viewer``, ``reviewer`` or ``admin``.

    Raises:
        ConfigError: ``UNKNOWN_ROLE``.
    """
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ConfigError(
            "UNKNOWN_ROLE", f"unknown role {text!r} (roles: {', '.join(r.value for r in Role)})"
        ) from None


def _username(text: str) -> str:
    name = text.strip().lower()
    if not _NAME.fullmatch(name):
        raise ConfigError(
            "BAD_USERNAME",
            f"{text!r} is not a user name: letters, digits and . _ @ -, at most 64",
        )
    return name


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ConfigError(
            "WEAK_PASSWORD",
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD:,} characters",
        )


def _named(conn: Connection, username: str) -> UserRow:
    found = users.user_named(conn, _username(username))
    if found is None:
        raise NotFoundError("USER_NOT_FOUND", f"no console user {username!r}")
    return found


def create_user(
    engine: Engine, username: str, password: str, role: Role, *, entity_code: str | None = None
) -> UserRow:
    """A new user with ``role`` in the entity.

    Raises:
        ConfigError: ``BAD_USERNAME``, ``WEAK_PASSWORD``.
        ConflictError: ``USER_EXISTS``.
    """
    name = _username(username)
    _check_password(password)
    hashed = _hasher.hash(password)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        if users.password_row(conn, name) is not None:
            raise ConflictError("USER_EXISTS", f"a console user {name!r} exists")
        user_id = users.add_user(
            conn, username=name, password_hash=hashed, created_by=current_actor(), now=now
        )
        users.set_role(conn, user_id, entity.id, role)
        audit.record(
            conn,
            entity_id=entity.id,
            action="user.create",
            object_type="user",
            object_id=user_id,
            after={"username": name, "role": role.value},
            at=now,
        )
        return _named(conn, name)


def grant(
    engine: Engine, username: str, role: Role | None, *, entity_code: str | None = None
) -> UserRow:
    """Give the user ``role`` in the entity, replacing their role there; ``None`` takes
    their role there away.

    Raises:
        NotFoundError: ``USER_NOT_FOUND``.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        entity = get_entity(conn, entity_code)
        user = _named(conn, username)
        users.set_role(conn, user.id, entity.id, role)
        audit.record(
            conn,
            entity_id=entity.id,
            action="user.role",
            object_type="user",
            object_id=user.id,
            before={"role": user.roles[entity.code].value} if entity.code in user.roles else None,
            after={"role": role.value if role else None},
            at=now,
        )
        return _named(conn, username)


def list_users(engine: Engine) -> list[UserRow]:
    """Every console user, by name, with their roles."""
    with reading(engine).connect() as conn:
        return users.all_users(conn)


def change_password(engine: Engine, username: str, password: str) -> UserRow:
    """Set the user's password; their sessions end.

    Raises:
        NotFoundError: ``USER_NOT_FOUND``.
        ConfigError: ``WEAK_PASSWORD``.
    """
    _check_password(password)
    hashed = _hasher.hash(password)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        user = _named(conn, username)
        users.set_password(conn, user.id, hashed, now)
        users.end_sessions(conn, now, user_id=user.id)
        audit.record(
            conn,
            entity_id=None,
            action="user.password",
            object_type="user",
            object_id=user.id,
            after={"username": user.username},
            at=now,
        )
        return user


def set_disabled(engine: Engine, username: str, *, disabled: bool = True) -> UserRow:
    """Disable the user (their sessions end, they cannot sign in) or enable them again.

    Raises:
        NotFoundError: ``USER_NOT_FOUND``.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn:
        user = _named(conn, username)
        users.set_disabled(conn, user.id, now if disabled else None)
        if disabled:
            users.end_sessions(conn, now, user_id=user.id)
        audit.record(
            conn,
            entity_id=None,
            action="user.disable" if disabled else "user.enable",
            object_type="user",
            object_id=user.id,
            after={"username": user.username},
            at=now,
        )
        return _named(conn, username)


def token_digest(token: str) -> str:
    """The SHA-256 the store keeps of a session token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just started: the cookie's token (shown once) and the session."""

    token: str
    signed_in: SignedIn


def sign_in(
    engine: Engine, username: str, password: str, *, lifetime: timedelta
) -> NewSession | None:
    """A new session for the user, or None when the name, the password or the user's
    state does not let them in (which of these is not said)."""
    try:
        name = _username(username)
    except ConfigError:
        name = None
    now = datetime.now(UTC)
    with engine.begin() as conn:
        row = users.password_row(conn, name) if name else None
        try:
            _hasher.verify(row["password_hash"] if row else _DUMMY, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled_at"] is not None:
            return None
        if _hasher.check_needs_rehash(row["password_hash"]):
            users.set_password(conn, row["id"], _hasher.hash(password), now)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + lifetime
        session_id = users.add_session(
            conn,
            token_sha256=token_digest(token),
            csrf_token=csrf,
            user_id=row["id"],
            now=now,
            expires_at=expires,
        )
        user = users.user_by_id(conn, row["id"])
        if user is None:
            raise RuntimeError(f"user {name!r} not found right after it was read")
        audit.record(
            conn,
            entity_id=None,
            action="user.sign_in",
            object_type="user",
            object_id=user.id,
            actor=f"user:{user.username}",
            at=now,
        )
    return NewSession(
        token, SignedIn(session_id=session_id, user=user, csrf_token=csrf, expires_at=expires)
    )


def session(engine: Engine, token: str) -> SignedIn | None:
    """The live session a cookie's token names, or None."""
    if not token or len(token) > 100:
        return None
    with reading(engine).connect() as conn:
        row = users.live_session(conn, token_digest(token), datetime.now(UTC))
        if row is None:
            return None
        user = users.user_by_id(conn, row["user_id"])
    if user is None:
        return None
    return SignedIn(
        session_id=row["id"], user=user, csrf_token=row["csrf_token"], expires_at=row["expires_at"]
    )


def sign_out(engine: Engine, signed_in: SignedIn) -> None:
    """End the session."""
    with engine.begin() as conn:
        users.end_sessions(conn, datetime.now(UTC), session_id=signed_in.session_id)
