"""``glasshouse media put|list|rm|redact``: the CLI organisation's uploaded media (streamed from the file),
and release exports of it (``redact``: a redacted copy kept beside it, under the policy gate)."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from glasshouse.cli import common
from glasshouse.cli.redact import phases
from glasshouse.governance.policy import Capability
from glasshouse.media.store import READ_CHUNK
from glasshouse.redaction.cover import Method
from glasshouse.redaction.exports import PURPOSE, Source, checked_reason, resolve, settings_of

media_app = typer.Typer(help="Uploaded media (video clips) of the acting organisation.", no_args_is_help=True)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(READ_CHUNK):
            yield chunk


@media_app.command("put")
def put(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file to upload.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Object name [default: the file's name].")
    ] = None,
    content_type: Annotated[
        str | None, typer.Option("--content-type", help="[default: guessed from the file name]")
    ] = None,
) -> None:
    """Upload FILE (replacing an object of the same name); prints its size and SHA-256."""
    object_name = name or file.name
    kind = content_type or mimetypes.guess_type(file.name)[0]
    with common.services() as svc:
        info = svc.media.upload(svc.cli_actor(), object_name, _chunks(file), kind)
    common.print_json(info.view())


@media_app.command("list")
def list_media() -> None:
    """The organisation's objects, by name."""
    with common.services() as svc:
        objects = svc.media.list(svc.cli_actor().org_id)
    common.print_json([info.view() for info in objects])


@media_app.command("rm")
def rm(name: Annotated[str, typer.Argument(help="Object name.")]) -> None:
    """Delete an object (audited)."""
    with common.services() as svc:
        actor = svc.cli_actor()
        svc.media.delete(actor, actor.org_id, name)
    typer.echo(f"deleted {name}")


@media_app.command("redact")
def redact(
    name: Annotated[str, typer.Argument(help="The media object to copy redacted.")],
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket", help="A shared bucket (portal-shared) for footage shared with the organisation."
        ),
    ] = None,
    keep_person: Annotated[
        list[int] | None,
        typer.Option("--keep-person", min=0, help="Person.Index left visible (repeatable; needs --reason)."),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why faces are left visible.")] = None,
    method: Annotated[Method, typer.Option("--method", help="Blur faces or paint them over.")] = Method.BLUR,
    copy_name: Annotated[
        str | None, typer.Option("--copy-name", help="[default: redacted/<copy id><suffix>]")
    ] = None,
    purpose: common.Purpose = None,
    case: common.Case = None,
) -> None:
    """A redacted copy of stored media NAME for public release, kept as a media object of the organisation
    with its chain-of-custody record (printed as JSON)."""
    settings = settings_of(method.value, keep_person or [])
    with common.services() as svc:
        why = checked_reason(settings, reason)
        with common.gated(svc, Capability.MEDIA_REDACT, purpose, case), common.progress_bar() as bar:
            actor = svc.cli_actor()
            info = resolve(svc, actor.org_id, Source(name, bucket))
            copy = svc.redacted_copies.make(
                actor,
                source_org_id=info.org_id,
                source_name=info.name,
                settings=settings,
                purpose=PURPOSE,
                copy_name=copy_name,
                reason=why,
                progress=phases(bar),
            )
    common.print_json(copy.to_json())
