"""``glasshouse audit verify|checkpoint|export``: check the audit chain (against its signed checkpoints),
publish a checkpoint, and export entries as JSON lines."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.checkpoints import Checkpoint, CheckpointError, parse_checkpoints
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


def _kept(paths: list[Path]) -> list[tuple[str, list[Checkpoint]]]:
    out = []
    for path in paths:
        try:
            out.append((str(path), parse_checkpoints(path.read_text(encoding="utf-8"), str(path))))
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {path}: {exc.strerror}", param_hint="--checkpoint"
            ) from None
        except CheckpointError as exc:
            raise typer.BadParameter(exc.message, param_hint="--checkpoint") from None
    return out


@audit_app.command("verify")
def verify(
    anchor: Annotated[
        str | None,
        typer.Option(help="SEQ:HASH from an earlier verify (last_seq:last_hash), kept outside the database."),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A file of checkpoints kept outside this server (from /transparency/checkpoint.json); "
            "repeatable. The server's own checkpoint file is always read.",
        ),
    ] = None,
) -> None:
    """Recompute the whole chain and check it against every signed checkpoint found (the checkpoint file
    and any --checkpoint): a log shorter than a checkpoint, or whose entry at a checkpoint's size has
    another hash, fails. Prints the verdict as JSON and exits 1 if the log was tampered with."""
    expected = _anchor(anchor)
    kept = _kept(checkpoint or [])
    with services() as svc:
        report = svc.checkpoints.verify(kept, anchor=expected)
    print_json(report.to_json())
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint_now() -> None:
    """Sign the audit chain's head now and append it to the checkpoint file (`serve` does so every
    GLASSHOUSE_AUDIT_CHECKPOINT_SECONDS); prints the checkpoint. Refused if the log no longer extends
    the largest checkpoint published."""
    with services() as svc:
        published = svc.checkpoints.publish()
        print_json({**published.to_json(), "file": str(svc.checkpoints.file.path)})


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
