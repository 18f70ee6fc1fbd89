"""``glasshouse keys create|list|revoke``: access keys for the Rekognition-compatible API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import select

from glasshouse import db
from glasshouse.cli.common import err_console, print_json, services
from glasshouse.errors import NotFoundError
from glasshouse.keys.service import KeyInfo
from glasshouse.organisations import service as organisations
from glasshouse.organisations.models import Organisation

keys_app = typer.Typer(help="Issue, list and revoke API access keys.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organisation name.")]


def _row(info: KeyInfo, org_name: str) -> dict[str, Any]:
    return {
        "access_key_id": info.access_key_id,
        "org": org_name,
        "label": info.label,
        "status": "active" if info.active else "revoked",
        "created": info.created_at.isoformat(),
        "last_used": info.last_used_at.isoformat() if info.last_used_at else None,
        "revoked": info.revoked_at.isoformat() if info.revoked_at else None,
    }


@keys_app.command("create")
def create(
    org: OrgOption,
    label: Annotated[str | None, typer.Option(help="A note to recognise the key by.")] = None,
) -> None:
    """Issue a key for ORG, which must exist (``glasshouse org create`` makes one, with its sector). The
    secret is printed once and cannot be shown again."""
    with services() as svc:
        with db.transaction(svc.sessions) as session:
            found = session.scalar(select(Organisation).where(Organisation.name == org))
            if found is None:  # never created here: a typo would yield a key outside every sector's rules
                raise NotFoundError(
                    f"organisation {org!r} not found; create it first with "
                    f"'glasshouse org create {org} --sector SECTOR', then issue its key"
                )
            org_id = found.id
        new = svc.keys.create(org_id, label, by=svc.cli_actor())
    print_json({"access_key_id": new.access_key_id, "secret_access_key": new.secret, "org": org})
    err_console.print("Store the secret now: Glasshouse shows it only this once.")


@keys_app.command("list")
def list_(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's keys.")] = None,
) -> None:
    """List keys (never their secrets), revoked ones included."""
    with services() as svc:
        with db.transaction(svc.sessions) as session:
            if org is not None:
                found = organisations.get_by_name(session, org)
                names = {found.id: found.name}
            else:
                names = {o.id: o.name for o in session.scalars(select(Organisation))}
        infos = svc.keys.list(None if org is None else next(iter(names)))
    print_json([_row(info, names.get(info.org_id, info.org_id)) for info in infos])


@keys_app.command("revoke")
def revoke(access_key_id: str, org: OrgOption) -> None:
    """Revoke ACCESS_KEY_ID of ORG; requests signed with it are refused from now on."""
    with services() as svc:
        with db.transaction(svc.sessions) as session:
            org_id = organisations.get_by_name(session, org).id
        info = svc.keys.revoke(org_id, access_key_id, by=svc.cli_actor())
    print_json(_row(info, org))
