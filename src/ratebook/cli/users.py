"""``users``: the web console's people and their role per entity."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Annotated

import typer

from ratebook.cli.common import EntityOption, FormatOption, err, out, run, state
from ratebook.render.listing import OutputFormat, render

PANEL = "Service"

commands = typer.Typer()
users_app = typer.Typer(
    help="Console users, each with a role per entity (viewer, reviewer, admin).",
    no_args_is_help=True,
)
commands.add_typer(users_app, name="users", rich_help_panel=PANEL)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input."
    ),
]
RoleOption = Annotated[
    str, typer.Option("--role", help="viewer, reviewer or admin.", metavar="ROLE")
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    text: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return text


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The name to sign in with.")],
    role: RoleOption = "viewer",
    entity: EntityOption = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a console user with a role in the entity; asks for the password."""
    from ratebook.workflows import manage_users

    engine = run(state(ctx).store)
    chosen = run(lambda: manage_users.parse_role(role))
    password = _password(password_stdin)
    user = run(
        lambda: manage_users.create_user(engine, username, password, chosen, entity_code=entity)
    )
    out.print(f"created user {user.username}: {_roles(user.roles)}", markup=False)


@users_app.command("grant")
def users_grant(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user.")],
    role: Annotated[
        str, typer.Option("--role", help="viewer, reviewer, admin, or none.", metavar="ROLE")
    ],
    entity: EntityOption = None,
) -> None:
    """Give a user a role in an entity (replacing their role there), or none."""
    from ratebook.workflows import manage_users

    engine = run(state(ctx).store)
    chosen = None if role.strip().lower() == "none" else run(lambda: manage_users.parse_role(role))
    user = run(lambda: manage_users.grant(engine, username, chosen, entity_code=entity))
    out.print(f"{user.username}: {_roles(user.roles)}", markup=False)


@users_app.command("list")
def users_list(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Every console user with their roles."""
    from ratebook.workflows import manage_users

    engine = run(state(ctx).reader)
    rows = [
        {
            "username": u.username,
            "roles": _roles(u.roles),
            "created_by": u.created_by,
            "created_at": u.created_at.isoformat(timespec="seconds"),
            "disabled_at": u.disabled_at.isoformat(timespec="seconds") if u.disabled_at else "",
        }
        for u in run(lambda: manage_users.list_users(engine))
    ]
    render(
        rows,
        ["username", "roles", "created_by", "created_at", "disabled_at"],
        fmt,
        out,
        title="Console users",
    )


@users_app.command("disable")
def users_disable(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user.")],
    enable: Annotated[bool, typer.Option("--enable", help="Let the user sign in again.")] = False,
) -> None:
    """Disable a user: their sessions end and they cannot sign in (--enable undoes it)."""
    from ratebook.workflows import manage_users

    engine = run(state(ctx).store)
    user = run(lambda: manage_users.set_disabled(engine, username, disabled=not enable))
    out.print(f"{'enabled' if enable else 'disabled'} user {user.username}", markup=False)


@users_app.command("passwd")
def users_passwd(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's password; their sessions end."""
    from ratebook.workflows import manage_users

    engine = run(state(ctx).store)
    password = _password(password_stdin)
    user = run(lambda: manage_users.change_password(engine, username, password))
    err.print(f"password of {user.username} changed; their sessions ended", markup=False)


def _roles(roles: Mapping[str, object]) -> str:
    return ", ".join(f"{code}:{role}" for code, role in roles.items()) or "(no entity)"
