"""Retention: a clip is deleted ``retention_days`` (the owner's setting) after upload unless a request
still holds it (open, within its access period, or evidence)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from sqlalchemy import select

from glasshouse import db
from glasshouse.governance.actor import Actor
from glasshouse.media.models import MediaObject
from glasshouse.portal.common import PortalBase, pairs
from glasshouse.portal.models import Clip, OwnerSettings
from glasshouse.portal.views import SweepResult, aware

log = logging.getLogger(__name__)

#: A portal media object without a clip row (a crash between storing and recording) is removed by the
#: sweep once it is this old.
ORPHAN_AGE: Final = timedelta(hours=1)


class RetentionPortal(PortalBase):
    """The retention sweep."""

    def sweep_retention(self) -> SweepResult:
        """Delete clips (rows and files) older than their owner's retention unless a case holds them, and
        portal media objects left without a clip by a crash. Runs with ``serve``'s periodic sweep."""
        now = self.clock()
        deleted = kept = orphans = 0
        with db.transaction(self.sessions) as session:
            db.serialise(session, "portal-retention-sweep")  # every node sweeps; one at a time
            residents = self._residents(session)
            system = Actor(org_id=residents.id, org_name=residents.name, surface="job", person=None)
            retention = pairs(session.execute(select(OwnerSettings.owner_id, OwnerSettings.retention_days)))
            for clip in list(session.scalars(select(Clip).order_by(Clip.created_at))):
                days = retention.get(clip.owner_id, self.default_retention_days)
                if aware(clip.created_at) + timedelta(days=days) > now:
                    continue
                if self._held(session, clip.id, now):
                    kept += 1
                    continue
                self._delete_clip_row(session, system, clip, reason=f"retention ({days} days)")
                deleted += 1
            recorded = select(Clip.media_id)
            stale = session.scalars(
                select(MediaObject.name).where(
                    MediaObject.org_id == residents.id,
                    MediaObject.source == "portal",
                    MediaObject.created_at < now - ORPHAN_AGE,
                    MediaObject.id.not_in(recorded),
                )
            )
            for name in list(stale):
                self.media.delete(system, residents.id, name)
                orphans += 1
        if deleted or orphans:
            log.info(
                "portal retention sweep deleted %d clips and %d orphans (%d kept for cases)",
                deleted,
                orphans,
                kept,
            )
        return SweepResult(deleted, kept, orphans)
