"""Console users and their roles: who may look at an entity, and who may act on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """A user's role in one entity; each role may do what the one before it may.

    ``viewer`` reads; ``reviewer`` also works the exception queue and disputes; ``admin``
    (billing admin) also uploads usage files.
    """

    VIEWER = "viewer"
    REVIEWER = "reviewer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for reviewer, 2 for admin."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRow:
    """A console user as the store knows them, without the password hash.

    Attributes:
        id: store key.
        username: the name they sign in with.
        roles: entity code → role.
        created_by: who created them.
        created_at: when.
        disabled_at: when they were disabled, or None while they may sign in.
    """

    id: int
    username: str
    roles: dict[str, Role]
    created_by: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedIn:
    """A live console session and its user.

    Attributes:
        session_id: store key of the session.
        user: the signed-in user.
        csrf_token: the token every form and change of this session must carry.
        expires_at: when the session ends unless renewed by signing in again.
    """

    session_id: int
    user: UserRow
    csrf_token: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        """The name the audit log records this user's changes under."""
        return f"user:{self.user.username}"
