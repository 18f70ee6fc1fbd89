"""Consent and retention: faces deleted when their collection's retention period ends, or on a data
subject's request (by ExternalImageId or UserId). Each deletion leaves a certificate and an audit entry,
in the transaction that deletes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit.service import AuditLog
from glasshouse.collections.index import SearchIndex
from glasshouse.collections.models import Collection, DeletionCertificate, Face, FaceCrop, FaceUser
from glasshouse.collections.service import CollectionService
from glasshouse.db import after_commit, transaction, utcnow
from glasshouse.errors import InvalidParameterError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event

SYSTEM = Actor(org_id="", org_name="glasshouse", surface="job")


@dataclass(frozen=True, slots=True)
class CertificateView:
    id: str
    collection: str
    reason: str
    face_count: int
    face_ids_sha256: str
    created_at: datetime
    #: How many of the faces had a crop kept for reviewers, deleted with them.
    crops_deleted: int = 0


class RetentionService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        collections: CollectionService,
        index: SearchIndex,
        audit: AuditLog,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.collections = collections
        self.index = index
        self.audit = audit
        self.clock = clock

    def sweep(self) -> list[CertificateView]:
        """Delete every face older than its collection's retention period; one certificate per collection."""
        now = self.clock()
        with self.sessions() as session:
            kept = list(session.scalars(select(Collection).where(Collection.retention_days.is_not(None))))
        out = []
        for collection in kept:
            assert collection.retention_days is not None
            cutoff = now - timedelta(days=collection.retention_days)
            with transaction(self.sessions) as session:
                # PostgreSQL: rows another node's sweep is deleting right now are skipped, so each face is
                # deleted (and certified) once; SQLite ignores the clause (one writer at a time anyway).
                expired = select(Face.id).where(Face.collection_id == collection.id, Face.created_at < cutoff)
                ids = list(session.scalars(expired.with_for_update(skip_locked=True)))
                if ids:
                    out.append(
                        self._delete(
                            session, SYSTEM, collection, ids, "retention", {"older_than": cutoff.isoformat()}
                        )
                    )
        return out

    def delete_subject(
        self,
        by: Actor,
        collection_name: str,
        *,
        external_image_id: str | None = None,
        user_id: str | None = None,
        region: str | None = None,
    ) -> CertificateView:
        """Delete every face of a person on their request, selected by ExternalImageId or UserId, in the
        collection of that name in ``region`` (default: the default region)."""
        if (external_image_id is None) == (user_id is None):
            raise InvalidParameterError("give exactly one of external_image_id and user_id")
        with transaction(self.sessions) as session:
            collection = self.collections.lookup(session, by.org_id, collection_name, region)
            query = select(Face.id).where(Face.collection_id == collection.id)
            if external_image_id is not None:
                query = query.where(Face.external_image_id == external_image_id)
                selector: dict[str, str] = {"external_image_id": external_image_id}
            else:
                assert user_id is not None
                query = query.join(FaceUser, Face.face_user_id == FaceUser.id).where(
                    FaceUser.user_id == user_id
                )
                selector = {"user_id": user_id}
            # Locked until commit: a concurrent deletion cannot make this certificate count faces twice.
            ids = list(session.scalars(query.with_for_update(of=Face)))
            return self._delete(session, by, collection, ids, "subject_request", selector)

    def certificates(self, org_id: str) -> list[CertificateView]:
        with self.sessions() as session:
            rows = session.scalars(
                select(DeletionCertificate)
                .where(DeletionCertificate.org_id == org_id)
                .order_by(DeletionCertificate.created_at)
            )
            return [_view(c) for c in rows]

    def _delete(
        self,
        session: Session,
        by: Actor,
        collection: Collection,
        ids: list[str],
        reason: str,
        selector: dict[str, str],
    ) -> CertificateView:
        crops = 0
        if ids:
            # The crops go with their faces (foreign key cascade); counted first, for the certificate.
            counted = select(func.count()).select_from(FaceCrop).where(FaceCrop.face_id.in_(ids))
            crops = int(session.scalar(counted) or 0)
            session.execute(delete(Face).where(Face.id.in_(ids)))
            after_commit(session, lambda: self.index.removed(collection.id, ids))
        certificate = DeletionCertificate(
            org_id=collection.org_id,
            collection_name=collection.name,
            reason=reason,
            selector=selector,
            face_count=len(ids),
            face_ids_sha256=hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest(),
            crops_deleted=crops,
            requested_by=by.principal,
            created_at=self.clock(),
        )
        session.add(certificate)
        session.flush()
        actor = by if by.org_id else Actor(org_id=collection.org_id, org_name=by.org_name, surface="job")
        self.audit.append(
            session,
            change_event(
                actor,
                "face.delete",
                {
                    "reason": reason,
                    "collection": collection.name,
                    "selector": selector,
                    "faces": len(ids),
                    "crops_deleted": crops,
                    "certificate": certificate.id,
                },
            ),
        )
        return _view(certificate)


def _view(c: DeletionCertificate) -> CertificateView:
    return CertificateView(
        c.id, c.collection_name, c.reason, c.face_count, c.face_ids_sha256, c.created_at, c.crops_deleted
    )
