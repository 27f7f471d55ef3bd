"""Console users on both stores: a password is kept only as an argon2 hash, a session is a
token whose digest alone is stored, and disabling a user or changing their password ends
their sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from ratebook.errors import ConfigError, ConflictError, NotFoundError
from ratebook.model.users import Role
from ratebook.store.tables import audit_log, console_sessions, users
from ratebook.workflows import manage_users
from ratebook.workflows.init_entity import init_entity

PASSWORD = "correct horse battery"
HOUR = timedelta(hours=1)


def _second_entity(engine: Engine) -> None:
    init_entity(
        engine,
        code="SG1",
        name="Other Pte Ltd",
        currency="SGD",
        timezone="Asia/Singapore",
        region="SG",
        floor="1.00",
    )


def test_a_user_signs_in_with_their_password_only(my_engine: Engine) -> None:
    made = manage_users.create_user(my_engine, "Alice", PASSWORD, Role.REVIEWER)
    assert (made.username, made.roles) == ("alice", {"MY1": Role.REVIEWER})
    with my_engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert PASSWORD not in stored
    assert stored.startswith("$argon2id$")

    assert manage_users.sign_in(my_engine, "alice", "wrong password!", lifetime=HOUR) is None
    assert manage_users.sign_in(my_engine, "nobody", PASSWORD, lifetime=HOUR) is None
    started = manage_users.sign_in(my_engine, "ALICE", PASSWORD, lifetime=HOUR)
    assert started is not None
    with my_engine.connect() as conn:
        kept = conn.execute(select(console_sessions.c.token_sha256)).scalar_one()
    assert kept != started.token
    assert kept == manage_users.token_digest(started.token)

    found = manage_users.session(my_engine, started.token)
    assert found is not None
    assert found.user.username == "alice"
    assert found.csrf_token == started.signed_in.csrf_token
    assert manage_users.session(my_engine, started.token + "x") is None

    manage_users.sign_out(my_engine, found)
    assert manage_users.session(my_engine, started.token) is None


def test_a_session_ends_with_its_lifetime(my_engine: Engine) -> None:
    manage_users.create_user(my_engine, "bob", PASSWORD, Role.VIEWER)
    started = manage_users.sign_in(my_engine, "bob", PASSWORD, lifetime=-HOUR)
    assert started is not None
    assert manage_users.session(my_engine, started.token) is None


def test_disabling_or_a_new_password_ends_sessions(my_engine: Engine) -> None:
    manage_users.create_user(my_engine, "carol", PASSWORD, Role.ADMIN)
    first = manage_users.sign_in(my_engine, "carol", PASSWORD, lifetime=HOUR)
    assert first is not None
    manage_users.set_disabled(my_engine, "carol")
    assert manage_users.session(my_engine, first.token) is None
    assert manage_users.sign_in(my_engine, "carol", PASSWORD, lifetime=HOUR) is None

    manage_users.set_disabled(my_engine, "carol", disabled=False)
    second = manage_users.sign_in(my_engine, "carol", PASSWORD, lifetime=HOUR)
    assert second is not None
    manage_users.change_password(my_engine, "carol", "a new long password")
    assert manage_users.session(my_engine, second.token) is None
    assert manage_users.sign_in(my_engine, "carol", PASSWORD, lifetime=HOUR) is None
    assert manage_users.sign_in(my_engine, "carol", "a new long password", lifetime=HOUR)


def test_roles_are_per_entity(my_engine: Engine) -> None:
    _second_entity(my_engine)
    manage_users.create_user(my_engine, "dave", PASSWORD, Role.VIEWER, entity_code="MY1")
    manage_users.grant(my_engine, "dave", Role.ADMIN, entity_code="SG1")
    manage_users.grant(my_engine, "dave", Role.REVIEWER, entity_code="MY1")
    [dave] = manage_users.list_users(my_engine)
    assert dave.roles == {"MY1": Role.REVIEWER, "SG1": Role.ADMIN}
    manage_users.grant(my_engine, "dave", None, entity_code="SG1")
    [dave] = manage_users.list_users(my_engine)
    assert dave.roles == {"MY1": Role.REVIEWER}

    assert Role.ADMIN.allows(Role.REVIEWER)
    assert Role.REVIEWER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.REVIEWER)
    assert not Role.REVIEWER.allows(Role.ADMIN)


def test_changes_to_users_are_audited(my_engine: Engine) -> None:
    manage_users.create_user(my_engine, "erin", PASSWORD, Role.VIEWER)
    manage_users.grant(my_engine, "erin", Role.REVIEWER)
    manage_users.change_password(my_engine, "erin", "another long password")
    manage_users.set_disabled(my_engine, "erin")
    with my_engine.connect() as conn:
        actions = (
            conn.execute(
                select(audit_log.c.action)
                .where(audit_log.c.object_type == "user")
                .order_by(audit_log.c.id)
            )
            .scalars()
            .all()
        )
    assert actions == ["user.create", "user.role", "user.password", "user.disable"]


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("ok-name", "short", "WEAK_PASSWORD"),
        ("has space", PASSWORD, "BAD_USERNAME"),
        ("", PASSWORD, "BAD_USERNAME"),
        ("x" * 65, PASSWORD, "BAD_USERNAME"),
        ("<script>", PASSWORD, "BAD_USERNAME"),
    ],
)
def test_bad_names_and_passwords_are_refused(
    my_engine: Engine, username: str, password: str, code: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        manage_users.create_user(my_engine, username, password, Role.VIEWER)
    assert refused.value.code == code
    assert manage_users.list_users(my_engine) == []


def test_a_name_is_taken_once(my_engine: Engine) -> None:
    manage_users.create_user(my_engine, "frank", PASSWORD, Role.VIEWER)
    with pytest.raises(ConflictError) as taken:
        manage_users.create_user(my_engine, "Frank", PASSWORD, Role.ADMIN)
    assert taken.value.code == "USER_EXISTS"
    with pytest.raises(NotFoundError) as missing:
        manage_users.grant(my_engine, "nobody", Role.ADMIN)
    assert missing.value.code == "USER_NOT_FOUND"
