"""``glasshouse audit verify|export``: check the audit chain and export entries as JSON lines."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.service import AuditFilter
from glasshouse.cli.common import err_console, print_json, services
from glasshouse.errors import NotFoundError
from glasshouse.organisations import service as organisations

audit_app = typer.Typer(help="Verify and export the tamper-evident audit log.", no_args_is_help=True)


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date or time: {text!r}", param_hint=option) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _anchor(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, sep, hash_ = text.partition(":")
    if not sep or not seq.isdigit() or len(hash_) != 64:
        raise typer.BadParameter("expected SEQ:HASH, e.g. 1200:3fa9…", param_hint="--anchor")
    return int(seq), hash_.lower()


@audit_app.command("verify")
def verify(
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH from an earlier verify (last_seq:last_hash), kept outside the database."),
    ] = None,
) -> None:
    """Recompute the whole chain; prints the verdict as JSON and exits 1 if the log was tampered with."""
    expected = _anchor(anchor)
    with services() as svc:
        report = svc.audit.verify(anchor=expected)
    print_json(report.to_json())
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def export(
    out: Annotated[Path | None, typer.Option("--out", help="Write to FILE instead of stdout.")] = None,
    org: Annotated[
        str | None, typer.Option("--org", help="Only entries of this organisation (name).")
    ] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, or a prefix ending in '.'.")] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO time (inclusive; UTC if no zone).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO time (exclusive).")] = None,
) -> None:
    """Export entries, oldest first, as JSON lines."""
    prefix = action if action is not None and action.endswith(".") else None
    filters = AuditFilter(
        action=None if prefix else action,
        action_prefix=prefix,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
    )
    with services() as svc:
        if org is not None:
            filters = _with_org(svc.sessions, filters, org)
        log = svc.audit
        if out is None:
            count = log.export(sys.stdout, filters)
        else:
            with out.open("w", encoding="utf-8", newline="\n") as stream:
                count = log.export(stream, filters)
    err_console.print(f"exported {count} audit entries" + (f" to {out}" if out else ""))


def _with_org(sessions: sessionmaker[Session], filters: AuditFilter, org: str) -> AuditFilter:
    """By id when the organisation exists; by the recorded name when it has since been deleted."""
    try:
        with db.transaction(sessions) as session:
            org_id = organisations.get_by_name(session, org).id
    except NotFoundError:
        return replace(filters, org_name=org)
    return replace(filters, org_id=org_id)
