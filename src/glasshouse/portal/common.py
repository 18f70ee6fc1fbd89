"""What the portal's parts share: its errors, input checks, and :class:`PortalBase` (the service's
configuration and the private helpers more than one part uses)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.service import AuditLog
from glasshouse.errors import InvalidInputError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event, event
from glasshouse.governance.duties import Duties
from glasshouse.governance.gate import Gate, PolicyDenied
from glasshouse.governance.policy import Sector
from glasshouse.media.service import MediaService
from glasshouse.organisations import service as organisations
from glasshouse.organisations.models import Organisation
from glasshouse.people.service import PeopleService
from glasshouse.portal.models import (
    CONSENT,
    EMERGENCY,
    OPEN,
    RESIDENTS_ORG,
    Clip,
    FootageRequest,
    RequestRecipient,
    Share,
)
from glasshouse.portal.views import RequestView
from glasshouse.redaction.copies import RedactedCopies

#: Sector of the residents' organisation (the policy's baseline lets every sector share footage).
RESIDENTS_SECTOR: Final = Sector.NONPROFIT.value
#: The Rekognition ``S3Object.Bucket`` of clips shared with the caller; ``Name`` is ``<request id>/<clip id>``.
PORTAL_SHARED_BUCKET: Final = "portal-shared"


class NotAnAgencyError(PolicyDenied):
    """Footage requests are for law-enforcement organisations an operator has verified."""

    code = "NotAnAgency"


class PortalForbiddenError(PolicyDenied):
    """The caller's role does not allow this (not a camera owner, not an operator, the same operator)."""

    code = "Forbidden"


class RequestClosedError(InvalidInputError):
    """The request no longer takes answers (closed, past its deadline, or an emergency disclosure)."""

    code = "RequestClosed"


class ClipHeldError(InvalidInputError):
    """The clip is held for a case: shared into an open request, within its access period, or evidence."""

    code = "ClipHeld"


def pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    """``{first: second}`` of two-column rows."""
    return {row[0]: row[1] for row in rows}


def utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidParameterError(f"{what} must carry a time zone (e.g. 2026-01-01T10:00:00Z)")
    return moment.astimezone(UTC)


def text(value: str, what: str, *, most: int, least: int = 1) -> str:
    value = value.strip()
    if not least <= len(value) <= most or not value.isprintable():
        raise InvalidParameterError(f"{what} needs {least} to {most} printable characters")
    return value


def clip_not_found(clip_id: str) -> NotFoundError:
    # The message repeats only what the caller sent: the same for a missing, foreign or unshared clip.
    return NotFoundError(f"clip {clip_id!r} not found")


def request_not_found(request_id: str) -> NotFoundError:
    return NotFoundError(f"footage request {request_id!r} not found")


def camera_not_found(camera_id: str) -> NotFoundError:
    return NotFoundError(f"camera {camera_id!r} not found")


class PortalBase:
    """The portal's collaborators and settings, and the helpers its parts share."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        media: MediaService,
        audit: AuditLog,
        gate: Gate,
        people: PeopleService,
        duties: Duties,
        *,
        spool_dir: Path,
        max_clip_bytes: int,
        default_retention_days: int = 60,
        access_days: int = 30,
        clock: Callable[[], datetime] = db.utcnow,
        copies: RedactedCopies | None = None,
    ) -> None:
        self.sessions = sessions
        #: Redacted copies of clips (shared in place of the originals); required to share redacted.
        self._copies = copies
        self.media = media
        self.audit = audit
        self.gate = gate
        self.people = people
        self.duties = duties
        self.spool_dir = spool_dir
        self.max_clip_bytes = max_clip_bytes
        self.default_retention_days = default_retention_days
        self.access_days = access_days
        self.clock = clock

    @property
    def copies(self) -> RedactedCopies:
        if self._copies is None:
            raise InvalidParameterError("redaction is not available on this server")
        return self._copies

    # -- residents -----------------------------------------------------------------------------------------
    def residents(self) -> Organisation:
        """The residents' organisation, created on first use."""
        with db.transaction(self.sessions) as session:
            return self._residents(session)

    @staticmethod
    def _residents(session: Session) -> Organisation:
        return organisations.get_or_create(session, RESIDENTS_ORG, sector=RESIDENTS_SECTOR)

    def _open_bytes(self, org_id: str, clip_id: str) -> BinaryIO:
        try:
            return self.media.open(org_id, f"portal/{clip_id}")[1]
        except NotFoundError:
            raise clip_not_found(clip_id) from None

    # -- clips (owners delete them, the retention sweep too) ----------------------------------------------
    def _delete_clip_row(self, session: Session, actor: Actor, clip: Clip, reason: str = "owner") -> None:
        """Delete the clip row and its media object (the file goes after the commit)."""
        details = {"clip_id": clip.id, "sha256": clip.sha256, "reason": reason}
        session.execute(delete(Share).where(Share.clip_id == clip.id))
        session.delete(clip)
        session.flush()
        self.media.delete(actor, actor.org_id, f"portal/{clip.id}")  # joins this transaction
        self.audit.append(session, change_event(actor, "portal.clip_delete", details))

    def _record_share(self, session: Session, actor: Actor, share: Share, case_number: str) -> None:
        """One audit entry per clip handed over: redacted or as recorded (transparency report figures)."""
        action = "footage.share_redacted" if share.redacted_copy_id else "footage.share_unredacted"
        details = {
            "request_id": share.request_id,
            "clip_id": share.clip_id,
            "kind": share.kind,
            "redacted_copy_id": share.redacted_copy_id,
        }
        self.audit.append(session, event(actor, action, "record", case_number=case_number, details=details))

    @staticmethod
    def _held(session: Session, clip_id: str, now: datetime) -> bool:
        query = (
            select(Share.id)
            .join(FootageRequest, Share.request_id == FootageRequest.id)
            .where(
                Share.clip_id == clip_id,
                or_(
                    Share.evidence.is_(True),
                    FootageRequest.status == OPEN,
                    FootageRequest.access_until > now,
                ),
            )
            .limit(1)
        )
        return session.scalar(query) is not None

    # -- requests as views (agencies, owners' inboxes, the public) ------------------------------------------
    def _counts(self, session: Session, request_ids: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """(recipients, owners who shared, clips shared, owners disclosed, clips disclosed) per request:
        consented shares and emergency disclosures are counted apart."""
        if not request_ids:
            return {}
        recipients = pairs(
            session.execute(
                select(RequestRecipient.request_id, func.count())
                .where(RequestRecipient.request_id.in_(request_ids))
                .group_by(RequestRecipient.request_id)
            )
        )
        shares: dict[tuple[str, str], tuple[int, int]] = {
            (rid, kind): (owners, clips)
            for rid, kind, owners, clips in session.execute(
                select(Share.request_id, Share.kind, func.count(func.distinct(Share.owner_id)), func.count())
                .where(Share.request_id.in_(request_ids))
                .group_by(Share.request_id, Share.kind)
            )
        }
        return {
            rid: (
                recipients.get(rid, 0),
                *shares.get((rid, CONSENT), (0, 0)),
                *shares.get((rid, EMERGENCY), (0, 0)),
            )
            for rid in request_ids
        }

    def _views(self, session: Session, rows: Sequence[FootageRequest]) -> list[RequestView]:
        counts = self._counts(session, [r.id for r in rows])
        names = pairs(
            session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_({r.agency_org_id for r in rows})
                )
            )
        )
        return [RequestView.of(r, names.get(r.agency_org_id, "?"), *counts[r.id]) for r in rows]
