"""``glasshouse people create|list|roles``: accounts for the web UI (the first operator is made here)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from glasshouse.cli.common import print_json, services
from glasshouse.people.models import ROLES
from glasshouse.people.service import PersonInfo

people_app = typer.Typer(help="People who sign in to the web UI, and their roles.", no_args_is_help=True)

RoleOption = Annotated[
    list[str] | None, typer.Option("--role", help=f"Repeatable; one of: {', '.join(ROLES)}.")
]


def _row(person: PersonInfo) -> dict[str, Any]:
    return {
        "id": person.id,
        "email": person.email,
        "name": person.name,
        "org": person.org_name,
        "roles": sorted(person.roles),
        "disabled": person.disabled,
        "created": person.created_at.isoformat(),
    }


@people_app.command("create")
def create(
    email: str,
    org: Annotated[str, typer.Option("--org", help="The person's organisation (must exist).")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    role: RoleOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a person who signs in as EMAIL. The password is read from stdin or prompted for, never
    taken from the command line (it would show in the process list and shell history)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with services() as svc:
        person = svc.people.create(svc.cli_actor(), org, email, name, password, role or [])
        print_json(_row(person))


@people_app.command("list")
def list_(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's people.")] = None,
) -> None:
    """List people (never their passwords)."""
    with services() as svc:
        org_id = svc.organisations.get(org).id if org else None
        print_json([_row(p) for p in svc.people.list(org_id)])


@people_app.command("roles")
def roles(email: str, role: RoleOption = None) -> None:
    """Replace the roles of EMAIL (no --role: remove every role)."""
    with services() as svc:
        person = svc.people.get_by_email(email)
        print_json(_row(svc.people.set_roles(svc.cli_actor(), person.id, role or [])))
