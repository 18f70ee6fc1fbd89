"""``glasshouse media put|list|rm``: the CLI organisation's uploaded media (streamed from the file)."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from glasshouse.cli import common
from glasshouse.media.store import READ_CHUNK

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
