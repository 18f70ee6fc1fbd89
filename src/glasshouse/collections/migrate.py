"""Moving a collection to another face model: re-enrol its faces from the source images (Glasshouse keeps
no images) into a staging collection on the new model, carry each image's ExternalImageId, consent reference
and user associations over, then switch names in one transaction. Resumable like ``index`` (the staging
collection persists; images already re-enrolled are skipped); the old collection is untouched until the
switch and kept afterwards under a new name, for the operator to delete."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from glasshouse.audit.service import AuditLog
from glasshouse.collections.bulk import bulk_index
from glasshouse.collections.models import Collection, Face, FaceUser
from glasshouse.collections.service import CollectionService
from glasshouse.config import Settings
from glasshouse.db import new_id, transaction
from glasshouse.engine.quality import QualityFilter
from glasshouse.errors import InvalidParameterError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.tags.service import TagService

#: How much a re-detected face must overlap the old one (IoU) to inherit its user association.
MIN_IOU = 0.3


@dataclass(slots=True)
class MigrationReport:
    staging: str
    model_version: str
    old_images: int = 0
    files_found: int = 0
    images_enrolled: int = 0
    missing_images: int = 0
    users_carried: int = 0
    faces_associated: int = 0
    switched: bool = False
    kept_as: str | None = None
    errors: dict[str, str] = field(default_factory=dict)


def staging_name(name: str, model: str) -> str:
    return f"{name[:200]}.to-{model}"


def _iou(a: Face, b: Face) -> float:
    ax1, ay1, bx1, by1 = a.box_left, a.box_top, b.box_left, b.box_top
    ax2, ay2 = ax1 + a.box_width, ay1 + a.box_height
    bx2, by2 = bx1 + b.box_width, by1 + b.box_height
    w, h = max(0.0, min(ax2, bx2) - max(ax1, bx1)), max(0.0, min(ay2, by2) - max(ay1, by1))
    union = a.box_width * a.box_height + b.box_width * b.box_height - w * h
    return w * h / union if union > 0 else 0.0


def migrate(
    collections: CollectionService,
    settings: Settings,
    audit: AuditLog,
    by: Actor,
    name: str,
    model: str,
    files: list[Path],
    *,
    workers: int = 2,
    switch: bool = True,
    progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Re-enrol collection ``name`` on ``model`` from ``files`` (only images whose SHA-256 the collection
    holds are used); switch when every image of the old collection has been re-enrolled."""
    org = by.org_id
    old = collections.get(org, name)
    target = collections.models.analyser(model).engine  # ModelNotInstalledError unless installed
    if old.face_model_version == target.model_version:
        raise InvalidParameterError(f"collection {name!r} is already on {target.model_version}")
    staged = staging_name(name, model)
    report = MigrationReport(staged, target.model_version)
    with collections.sessions() as session:
        old_faces = list(session.scalars(select(Face).where(Face.collection_id == old.id)))
        rows = session.execute(select(FaceUser.id, FaceUser.user_id).where(FaceUser.collection_id == old.id))
        users: dict[str, str] = {r[0]: r[1] for r in rows}
    tags = TagService(collections.sessions).get("collection", old.id)
    wanted = {f.image_sha256 for f in old_faces}
    report.old_images = len(wanted)
    if staged not in {c.name for c in collections.get_all(org)}:
        collections.create(
            org,
            staged,
            tags=tags or None,
            retention_days=old.retention_days,
            consent_required=old.consent_required,
            model=model,
        )
    staging = collections.get(org, staged)
    per_image = max((sum(1 for f in old_faces if f.image_sha256 == s) for s in wanted), default=1)
    chosen = []
    for path in files:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            report.errors[str(path)] = str(exc)
            continue
        if digest in wanted:
            chosen.append(path)
            wanted.discard(digest)  # each image once
    report.files_found = len(chosen)
    result = bulk_index(
        collections,
        settings,
        staging,
        chosen,
        workers=workers,
        max_faces=per_image,
        quality_filter=QualityFilter.NONE,
        progress=progress,
    )
    report.images_enrolled = result.images_indexed
    report.errors.update(result.errors)
    extra = _carry(collections, staging, old_faces, users, report)
    if extra:  # faces the old enrolment did not take (e.g. a background face): not carried over
        collections.delete_faces(org, staged, extra)
    report.missing_images = report.old_images - len(collections.indexed_digests(staging))
    if switch and report.missing_images == 0:
        report.kept_as = f"{name[:200]}.before-{model}-{new_id()[:8]}"
        with transaction(collections.sessions) as session:
            session.get(Collection, old.id).name = report.kept_as  # type: ignore[union-attr]
            session.flush()
            session.get(Collection, staging.id).name = name  # type: ignore[union-attr]
        report.switched = True
    audit.record(
        change_event(
            by,
            "collection.migrate",
            {
                "collection": name,
                "from": old.face_model_version,
                "to": target.model_version,
                "images": report.old_images,
                "missing_images": report.missing_images,
                "users": report.users_carried,
                "switched": report.switched,
                "old_kept_as": report.kept_as,
            },
        )
    )
    return report


def _carry(
    collections: CollectionService,
    staging: Collection,
    old_faces: list[Face],
    users: dict[str, str],
    report: MigrationReport,
) -> list[str]:
    """Each re-enrolled face takes the ExternalImageId, consent reference and user of the old face it
    overlaps most (idempotent: a resumed run does the same again). Returns the faces overlapping none."""
    extra: list[str] = []
    by_image: dict[str, list[Face]] = defaultdict(list)
    for f in old_faces:
        by_image[f.image_sha256].append(f)
    with transaction(collections.sessions) as session:
        new_users = dict(
            session.execute(
                select(FaceUser.user_id, FaceUser.id).where(FaceUser.collection_id == staging.id)
            ).all()
        )
        for user_id in sorted(set(users.values()) - set(new_users)):
            row = FaceUser(collection_id=staging.id, user_id=user_id)
            session.add(row)
            session.flush()
            new_users[user_id] = row.id
        report.users_carried = len(set(users.values()))
        for face in session.scalars(select(Face).where(Face.collection_id == staging.id)):
            olds = by_image.get(face.image_sha256, [])
            if not olds:
                continue
            best = max(olds, key=lambda o: _iou(o, face))
            if _iou(best, face) < MIN_IOU:
                extra.append(face.id)
                continue
            face.external_image_id = best.external_image_id
            face.consent_reference = best.consent_reference
            if best.face_user_id is not None:
                face.face_user_id = new_users[users[best.face_user_id]]
                report.faces_associated += 1
    return extra
