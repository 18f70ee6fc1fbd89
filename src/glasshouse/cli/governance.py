"""``glasshouse org ...``, ``glasshouse policy ...`` and ``glasshouse retention ...``: operator commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from glasshouse.cli.common import print_json, services

org_app = typer.Typer(
    help="Organisations: sector, jurisdiction, exemption flags, approvals.", no_args_is_help=True
)
policy_app = typer.Typer(help="The responsible-use policy and its moratoria.", no_args_is_help=True)
retention_app = typer.Typer(
    help="Consent and retention: sweeps and deletion on request.", no_args_is_help=True
)

Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]


def _when(value: str | None) -> datetime | None:
    if value is None or value.lower() in ("", "further-notice", "until-further-notice"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 date or date-time") from None


@org_app.command("create")
def org_create(
    name: str,
    sector: Annotated[
        str, typer.Option(help="law_enforcement, other_government, commercial, nonprofit, research")
    ],
    jurisdiction: Annotated[str | None, typer.Option()] = None,
    flag: Annotated[
        list[str] | None, typer.Option("--flag", help="Exemption/attribute flag, repeatable.")
    ] = None,
    operator: Annotated[bool, typer.Option(help="An operators' organisation (runs the service).")] = False,
) -> None:
    """Create organisation NAME."""
    with services() as svc:
        org = svc.organisations.create(
            svc.cli_actor(),
            name,
            sector=sector,
            jurisdiction=jurisdiction,
            flags=flag or [],
            is_operator=operator,
        )
        print_json(org.view())


@org_app.command("list")
def org_list() -> None:
    """List organisations."""
    with services() as svc:
        print_json([o.view() for o in svc.organisations.get_all()])


@org_app.command("update")
def org_update(
    name: str,
    sector: Annotated[str | None, typer.Option()] = None,
    jurisdiction: Annotated[str | None, typer.Option()] = None,
    add_flag: Annotated[list[str] | None, typer.Option("--add-flag")] = None,
    remove_flag: Annotated[list[str] | None, typer.Option("--remove-flag")] = None,
    verified: Annotated[bool | None, typer.Option("--verified/--unverified")] = None,
    reason: Reason = "",
) -> None:
    """Change an organisation's sector, jurisdiction, flags or verification."""
    with services() as svc:
        org = svc.organisations.update(
            svc.cli_actor(),
            name,
            sector=sector,
            jurisdiction=jurisdiction,
            add_flags=add_flag or [],
            remove_flags=remove_flag or [],
            verified=verified,
            reason=reason,
        )
        print_json(org.view())


@org_app.command("approve")
def org_approve(
    name: str,
    kind: Annotated[str, typer.Option(help="accountability_report or governing_body_approval")],
    reference: Annotated[str, typer.Option(help="Document reference.")],
    expires: Annotated[str | None, typer.Option(help="ISO date the approval expires.")] = None,
) -> None:
    """Record an approval (accountability report on file, governing-body approval) for NAME."""
    with services() as svc:
        record = svc.organisations.add_approval(
            svc.cli_actor(), name, kind=kind, reference=reference, expires_at=_when(expires)
        )
        print_json(
            {
                "id": record.id,
                "kind": record.kind,
                "reference": record.reference,
                "expires_at": record.expires_at,
            }
        )


@policy_app.command("show")
def policy_show() -> None:
    """Print the active policy (version and document)."""
    with services() as svc:
        version, document = svc.policies.active()
        print_json({"version": version, "document": document.model_dump(mode="json")})


@policy_app.command("versions")
def policy_versions() -> None:
    """Every policy version: who changed it, when and why."""
    with services() as svc:
        print_json(
            [
                {
                    "version": v.version,
                    "source": v.source,
                    "author": v.author,
                    "reason": v.reason,
                    "at": v.created_at,
                }
                for v in svc.policies.versions()
            ]
        )


@policy_app.command("lift")
def policy_lift(rule: str, reason: Reason) -> None:
    """Lift moratorium RULE now (takes effect at once, on every node)."""
    with services() as svc:
        print_json({"version": svc.policies.lift(svc.cli_actor(), rule, reason)})


@policy_app.command("reimpose")
def policy_reimpose(
    rule: str,
    reason: Reason,
    until: Annotated[str | None, typer.Option(help="ISO date; default: further notice")] = None,
) -> None:
    """Re-impose moratorium RULE from now."""
    with services() as svc:
        print_json({"version": svc.policies.reimpose(svc.cli_actor(), rule, reason, end=_when(until))})


@policy_app.command("extend")
def policy_extend(
    rule: str,
    reason: Reason,
    until: Annotated[str | None, typer.Option(help="ISO date; default: further notice")] = None,
) -> None:
    """Extend moratorium RULE until a date, or until further notice."""
    with services() as svc:
        print_json({"version": svc.policies.extend(svc.cli_actor(), rule, reason, end=_when(until))})


@retention_app.command("sweep")
def retention_sweep() -> None:
    """Delete faces past their collection's retention period now (``serve`` also does it hourly)."""
    with services() as svc:
        print_json(
            [
                {
                    "collection": c.collection,
                    "faces_deleted": c.face_count,
                    "face_crops_deleted": c.crops_deleted,
                    "certificate": c.id,
                }
                for c in svc.retention.sweep()
            ]
        )


@retention_app.command("forget")
def retention_forget(
    collection: str,
    external_image_id: Annotated[str | None, typer.Option("--external-image-id")] = None,
    user_id: Annotated[str | None, typer.Option("--user-id")] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="Region of a collection made through the Rekognition API."),
    ] = None,
) -> None:
    """Delete a person's faces on their request, by ExternalImageId or UserId; prints the certificate."""
    with services() as svc:
        c = svc.retention.delete_subject(
            svc.cli_actor(), collection, external_image_id=external_image_id, user_id=user_id, region=region
        )
        print_json(
            {
                "certificate": c.id,
                "collection": c.collection,
                "faces_deleted": c.face_count,
                "face_ids_sha256": c.face_ids_sha256,
                "face_crops_deleted": c.crops_deleted,
            }
        )
