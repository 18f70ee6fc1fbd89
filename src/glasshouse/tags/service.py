"""Set, remove and list tags on a resource. Callers resolve the resource (and its owner) first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.db import transaction
from glasshouse.errors import GlasshouseError
from glasshouse.tags.models import ResourceTag

#: Rekognition's limit on tags per resource.
MAX_TAGS = 50


class TooManyTagsError(GlasshouseError):
    code = "ServiceQuotaExceeded"


class TagService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def set(self, org_id: str, resource_type: str, resource_id: str, tags: Mapping[str, str]) -> None:
        with transaction(self.sessions) as session:
            self.set_in(session, org_id, resource_type, resource_id, tags)

    @staticmethod
    def set_in(
        session: Session, org_id: str, resource_type: str, resource_id: str, tags: Mapping[str, str]
    ) -> None:
        """Upsert ``tags`` inside an open transaction (so a resource and its tags are created together)."""
        existing = {
            t.key: t
            for t in session.scalars(
                select(ResourceTag).where(
                    ResourceTag.resource_type == resource_type, ResourceTag.resource_id == resource_id
                )
            )
        }
        for key, value in tags.items():
            if key in existing:
                existing[key].value = value
            else:
                session.add(
                    ResourceTag(
                        org_id=org_id,
                        resource_type=resource_type,
                        resource_id=resource_id,
                        key=key,
                        value=value,
                    )
                )
        session.flush()
        count = session.scalar(
            select(func.count(ResourceTag.id)).where(
                ResourceTag.resource_type == resource_type, ResourceTag.resource_id == resource_id
            )
        )
        if (count or 0) > MAX_TAGS:
            raise TooManyTagsError(f"a resource can have at most {MAX_TAGS} tags")

    def remove(self, resource_type: str, resource_id: str, keys: Iterable[str]) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                delete(ResourceTag).where(
                    ResourceTag.resource_type == resource_type,
                    ResourceTag.resource_id == resource_id,
                    ResourceTag.key.in_(list(keys)),
                )
            )

    def get(self, resource_type: str, resource_id: str) -> dict[str, str]:
        with self.sessions() as session:
            rows = session.scalars(
                select(ResourceTag).where(
                    ResourceTag.resource_type == resource_type, ResourceTag.resource_id == resource_id
                )
            )
            return {t.key: t.value for t in rows}

    @staticmethod
    def drop(session: Session, resource_type: str, resource_id: str) -> None:
        """Delete a resource's tags inside the transaction that deletes the resource."""
        session.execute(
            delete(ResourceTag).where(
                ResourceTag.resource_type == resource_type, ResourceTag.resource_id == resource_id
            )
        )
