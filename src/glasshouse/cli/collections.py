"""``glasshouse collection ...``, ``glasshouse index`` and ``glasshouse search``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glasshouse.cli.common import Case, Purpose, err_console, gated, print_json, progress_bar, services
from glasshouse.collections.bulk import bulk_index, discover
from glasshouse.engine.quality import QualityFilter
from glasshouse.faces.serialise import face_dict
from glasshouse.governance.policy import Capability
from glasshouse.review.leads import search_collection

collection_app = typer.Typer(help="Create, list and delete face collections.", no_args_is_help=True)


@collection_app.command("create")
def create(
    name: str,
    retention_days: Annotated[
        int | None, typer.Option(min=1, max=36500, help="Delete each face this many days after enrolment.")
    ] = None,
    consent_required: Annotated[
        bool, typer.Option("--consent-required", help="Every enrolment must name a consent record.")
    ] = False,
    keep_face_crops: Annotated[
        str | None,
        typer.Option(
            metavar="REASON",
            help="Keep each enrolled face's crop, encrypted, for reviewers; REASON says why (audited).",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Face model (glasshouse models list) [default: GLASSHOUSE_FACE_MODEL].")
    ] = None,
) -> None:
    """Create collection NAME; its faces are all embedded with one face model, chosen now."""
    with services() as svc:
        actor = svc.cli_actor()
        collection = svc.collections.create(
            actor.org_id,
            name,
            retention_days=retention_days,
            consent_required=consent_required,
            face_crops_reason=keep_face_crops,
            by=actor,
            model=model,
        )
    print_json(
        {
            "collection": collection.name,
            "id": collection.id,
            "face_model_version": collection.face_model_version,
            "face_crops_kept": collection.keeps_face_crops,
        }
    )


@collection_app.command("list")
def list_() -> None:
    """List collections with their face counts."""
    with services() as svc:
        rows = [
            {
                "collection": c.name,
                "faces": svc.collections.face_count(c),
                "created": c.created_at.isoformat(),
            }
            for c in svc.collections.get_all(svc.cli_actor().org_id)
        ]
    print_json(rows)


@collection_app.command("migrate")
def migrate_cmd(
    name: str,
    model: Annotated[str, typer.Option(help="The face model to move to (glasshouse models list).")],
    source: Annotated[
        list[Path],
        typer.Option("--from", exists=True, help="Folders/files holding the collection's source images."),
    ],
    workers: Annotated[int, typer.Option(min=1, help="Analysis processes.")] = 2,
    switch: Annotated[bool, typer.Option(help="Switch once every image is re-enrolled.")] = True,
    purpose: Purpose = None,
    case: Case = None,
) -> None:
    """Move collection NAME to another face model: re-enrol from the source images into NAME.to-MODEL
    (ExternalImageIds, consent references and users carried over), then switch names; rerun to resume.
    The old collection is untouched until the switch and kept afterwards as NAME.before-MODEL-…"""
    from dataclasses import asdict

    from glasshouse.collections.migrate import migrate

    files = discover(source)
    with services() as svc, gated(svc, Capability.FACE_INDEX, purpose, case) as grant:
        with progress_bar() as bar:
            task = bar.add_task(f"re-enrolling {name} on {model}", total=len(files))
            report = migrate(
                svc.collections,
                svc.settings,
                svc.audit,
                grant.actor,
                name,
                model,
                files,
                workers=workers,
                switch=switch,
                progress=lambda n: bar.advance(task, n),
            )
        grant.note(migrate=name, model=model, images=report.images_enrolled)
    print_json({k: v for k, v in asdict(report).items() if k != "errors"} | {"errors": len(report.errors)})


@collection_app.command("delete")
def delete(name: str) -> None:
    """Delete collection NAME and every face in it."""
    with services() as svc:
        svc.collections.delete(svc.cli_actor().org_id, name)
    print_json({"deleted": name})


def index(
    collection: str,
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Image files or folders (recursive).")],
    workers: Annotated[int, typer.Option(min=1, help="Analysis processes.")] = 2,
    external_id: Annotated[
        str, typer.Option(help="ExternalImageId from the file's 'stem', 'name' or 'parent' folder.")
    ] = "stem",
    max_faces: Annotated[
        int, typer.Option(min=1, max=100, help="Faces enrolled per image, largest first.")
    ] = 1,
    quality_filter: Annotated[QualityFilter, typer.Option(case_sensitive=False)] = QualityFilter.AUTO,
    create: Annotated[bool, typer.Option(help="Create the collection if it does not exist.")] = True,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Images written per database transaction.")
    ] = 64,
    purpose: Purpose = None,
    case: Case = None,
) -> None:
    """Enrol faces from images into COLLECTION; rerun to resume (already indexed files are skipped)."""
    if external_id not in ("stem", "name", "parent"):
        raise typer.BadParameter("--external-id must be stem, name or parent")
    files = discover(paths)
    with services() as svc, gated(svc, Capability.FACE_INDEX, purpose, case) as grant:
        org = grant.actor.org_id
        names = {c.name for c in svc.collections.get_all(org)}
        if collection not in names and create:
            svc.collections.create(org, collection)
        target = svc.collections.get(org, collection)
        with progress_bar() as bar:
            task = bar.add_task(f"indexing into {collection}", total=len(files))
            report = bulk_index(
                svc.collections,
                svc.settings,
                target,
                files,
                workers=workers,
                external_id=external_id,
                max_faces=max_faces,
                quality_filter=quality_filter,
                batch_size=batch_size,
                progress=lambda n: bar.advance(task, n),
            )
        grant.note(
            files=report.files, images_indexed=report.images_indexed, faces_indexed=report.faces_indexed
        )
    for path, message in list(report.errors.items())[:20]:
        err_console.print(f"[yellow]skipped[/yellow] {path}: {message}")
    print_json(
        {
            "collection": collection,
            "files": report.files,
            "images_indexed": report.images_indexed,
            "faces_indexed": report.faces_indexed,
            "skipped_already_indexed": report.skipped_already_indexed,
            "unreadable": report.unreadable,
            "no_face": report.no_face,
        }
    )


def search(
    collection: str,
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    threshold: Annotated[float, typer.Option(min=0, max=100)] = 80.0,
    max_faces: Annotated[int, typer.Option(min=1, max=4096)] = 5,
    purpose: Purpose = None,
    case: Case = None,
) -> None:
    """Search COLLECTION for the largest face in IMAGE."""
    with services() as svc, gated(svc, Capability.FACE_SEARCH, purpose, case) as grant:
        found = search_collection(
            svc.collections,
            svc.reviews,
            grant,
            collection,
            image.read_bytes(),
            threshold=threshold,
            max_faces=max_faces,
        )
    result, lead_id = found.result, found.lead_id
    print_json(
        {
            "lead_id": lead_id,
            "review": "pending" if lead_id else None,
            "searched_face": face_dict(result.probe) if result.probe else None,
            "matches": [
                {
                    "face_id": m.face.id,
                    "external_image_id": m.face.external_image_id,
                    "similarity": m.similarity,
                }
                for m in result.matches
            ],
        }
    )
