"""Console users, their roles per entity, and their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ratebook.model.users import Role, UserRow
from ratebook.store.tables import console_sessions, entities, user_roles, users


def add_user(
    conn: Connection, *, username: str, password_hash: str, created_by: str, now: datetime
) -> int:
    """Store a new user; returns their id."""
    result = conn.execute(
        insert(users).values(
            username=username,
            password_hash=password_hash,
            created_by=created_by,
            created_at=now,
            password_changed_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def password_row(conn: Connection, username: str) -> dict[str, Any] | None:
    """The user's id, password hash and disabled time, or None for an unknown name."""
    u = users.c
    row = conn.execute(
        select(u.id, u.password_hash, u.disabled_at).where(u.username == username)
    ).first()
    return None if row is None else dict(row._mapping)


def roles_of(conn: Connection, user_ids: list[int]) -> dict[int, dict[str, Role]]:
    """Each user's roles, by entity code."""
    r = user_roles.c
    found: dict[int, dict[str, Role]] = {i: {} for i in user_ids}
    rows = conn.execute(
        select(r.user_id, entities.c.code, r.role)
        .join(entities, entities.c.id == r.entity_id)
        .where(r.user_id.in_(user_ids))
        .order_by(entities.c.code)
    )
    for user_id, code, role in rows:
        found[user_id][code] = Role(role)
    return found


def _users(conn: Connection, where: Any = None) -> list[UserRow]:
    u = users.c
    statement = select(u.id, u.username, u.created_by, u.created_at, u.disabled_at).order_by(
        u.username
    )
    if where is not None:
        statement = statement.where(where)
    rows = [dict(row._mapping) for row in conn.execute(statement)]
    roles = roles_of(conn, [row["id"] for row in rows])
    return [UserRow(**row, roles=roles[row["id"]]) for row in rows]


def all_users(conn: Connection) -> list[UserRow]:
    """Every user, by name."""
    return _users(conn)


def user_named(conn: Connection, username: str) -> UserRow | None:
    """The user of that name, or None."""
    found = _users(conn, users.c.username == username)
    return found[0] if found else None


def set_role(conn: Connection, user_id: int, entity_id: int, role: Role | None) -> None:
    """Give the user ``role`` in the entity (replacing any other), or none (``None``)."""
    r = user_roles.c
    conn.execute(delete(user_roles).where(r.user_id == user_id, r.entity_id == entity_id))
    if role is not None:
        conn.execute(
            insert(user_roles).values(user_id=user_id, entity_id=entity_id, role=role.value)
        )


def set_password(conn: Connection, user_id: int, password_hash: str, now: datetime) -> None:
    """Replace the user's password hash."""
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, password_changed_at=now)
    )


def set_disabled(conn: Connection, user_id: int, at: datetime | None) -> None:
    """Disable the user from ``at``, or enable them again (``None``)."""
    conn.execute(update(users).where(users.c.id == user_id).values(disabled_at=at))


def add_session(
    conn: Connection,
    *,
    token_sha256: str,
    csrf_token: str,
    user_id: int,
    now: datetime,
    expires_at: datetime,
) -> int:
    """Store a new session; returns its id."""
    result = conn.execute(
        insert(console_sessions).values(
            token_sha256=token_sha256,
            csrf_token=csrf_token,
            user_id=user_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def live_session(conn: Connection, token_sha256: str, now: datetime) -> dict[str, Any] | None:
    """The session of that token with its user's id, while neither it has ended or expired
    nor its user is disabled; else None (one indexed read)."""
    s = console_sessions.c
    row = conn.execute(
        select(s.id, s.csrf_token, s.user_id, s.expires_at)
        .join(users, users.c.id == s.user_id)
        .where(
            s.token_sha256 == token_sha256,
            s.ended_at.is_(None),
            s.expires_at > now,
            users.c.disabled_at.is_(None),
        )
    ).first()
    return None if row is None else dict(row._mapping)


def user_by_id(conn: Connection, user_id: int) -> UserRow | None:
    """The user of that id, or None."""
    found = _users(conn, users.c.id == user_id)
    return found[0] if found else None


def end_sessions(
    conn: Connection, now: datetime, *, session_id: int | None = None, user_id: int | None = None
) -> None:
    """End one session, or every live session of a user."""
    s = console_sessions.c
    statement = update(console_sessions).where(s.ended_at.is_(None)).values(ended_at=now)
    if session_id is not None:
        statement = statement.where(s.id == session_id)
    if user_id is not None:
        statement = statement.where(s.user_id == user_id)
    conn.execute(statement)
