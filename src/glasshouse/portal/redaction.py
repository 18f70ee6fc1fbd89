"""Sharing with bystanders' faces redacted, and agencies' requests for the unredacted original.

An owner answering a request previews the redacted copy of a clip first (:meth:`preview_redacted`: a
stored copy, made inside a ``media.redact`` grant, held by the residents' organisation and known to be
this owner's by its maker), then shares it (``OwnerPortal.share(redacted=...)``) or cancels (the copy is
deleted). A redacted share gives the agency only the copy, on every path (``RequestPortal._served``).

An agency may ask for the original of a redacted share, with a reason and a case number; the clip's owner
accepts (the agency then gets the original for that share) or refuses. All audited; the report counts them.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import BinaryIO, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from glasshouse import db
from glasshouse.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import event
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.media.models import MediaObject
from glasshouse.organisations.models import Organisation
from glasshouse.portal import rules
from glasshouse.portal.common import RequestClosedError, clip_not_found
from glasshouse.portal.models import ACCEPTED, PENDING, REFUSED, Clip, Share, UnredactionRequest
from glasshouse.portal.owners import OwnerPortal
from glasshouse.portal.requests import RequestPortal, unredaction_view
from glasshouse.portal.views import UnredactionView
from glasshouse.redaction.copies import CopyView, RedactedCopy
from glasshouse.redaction.record import RedactionSettings

#: An unredaction request's reason: long enough to say why a face matters to the case.
MIN_REASON: Final = 20


def _preview_not_found(copy_id: str) -> NotFoundError:
    return NotFoundError(f"redacted preview {copy_id!r} not found")


class RedactionPortal(OwnerPortal, RequestPortal):
    """Redacted sharing (owners' previews) and unredaction requests (agencies ask, owners answer)."""

    # -- owners' previews ----------------------------------------------------------------------------------
    def preview_redacted(
        self, owner_id: str, request_id: str, clip_id: str, *, surface: str = "ui"
    ) -> CopyView:
        """Make the redacted copy of the owner's clip that would be shared into ``request_id`` (default
        settings: every face blurred), for the owner to watch before sharing. Runs as long as redacting
        the clip takes (a few seconds for a doorbell clip)."""
        actor = self.owner_actor(owner_id, surface)
        with self.sessions() as session:
            self._owner(session, owner_id)
            _, request = self._recipient(session, owner_id, request_id)
            if clip_id not in {c.id for c, _ in self._matching_clips(session, owner_id, request)}:
                raise clip_not_found(clip_id)
            residents = self._residents(session).id
            case_number = request.case_number
        context = RequestContext(
            case_number=case_number, inputs={"request_id": request_id, "clip_id": clip_id}
        )
        with self.gate.guard(actor, Capability.MEDIA_REDACT, context):
            return self.copies.make(
                actor,
                source_org_id=residents,
                source_name=f"portal/{clip_id}",
                settings=RedactionSettings(),
                purpose="portal_share",
            )

    def _own_preview(self, session: Session, owner_id: str, copy_id: str) -> tuple[RedactedCopy, Clip]:
        row = session.get(RedactedCopy, copy_id)
        clip = (
            session.scalar(select(Clip).where(Clip.media_id == row.source_media_id))
            if row is not None
            else None
        )
        if row is None or clip is None or clip.owner_id != owner_id or row.made_by != f"person:{owner_id}":
            raise _preview_not_found(copy_id)
        return row, clip

    def preview(self, owner_id: str, copy_id: str) -> tuple[CopyView, str]:
        """The owner's redacted preview and the id of the clip it was made from."""
        with self.sessions() as session:
            self._owner(session, owner_id)
            _, clip = self._own_preview(session, owner_id, copy_id)
            clip_id = clip.id
        view = self.copies.find(copy_id)
        if view is None:
            raise _preview_not_found(copy_id)
        return view, clip_id

    def open_preview(self, owner_id: str, copy_id: str) -> tuple[CopyView, BinaryIO]:
        """The owner's redacted preview and a stream of its bytes (the caller closes it)."""
        view, _ = self.preview(owner_id, copy_id)
        try:
            return view, self.media.open(view.org_id, view.name)[1]
        except NotFoundError:
            raise _preview_not_found(copy_id) from None

    def cancel_preview(self, owner_id: str, copy_id: str, *, surface: str = "ui") -> None:
        """Delete a redacted preview the owner decided not to share (refused once it was shared)."""
        with self.sessions() as session:
            self._owner(session, owner_id)
            self._own_preview(session, owner_id, copy_id)
            if session.scalar(select(Share.id).where(Share.redacted_copy_id == copy_id).limit(1)):
                raise RequestClosedError("this redacted copy was shared; it stays while the share does")
        self.copies.delete(self.owner_actor(owner_id, surface), copy_id)

    # -- unredaction requests --------------------------------------------------------------------------------
    def request_unredaction(
        self, actor: Actor, request_id: str, clip_id: str, reason: str, case_number: str
    ) -> UnredactionView:
        """An agency asks the owner for the original of a clip it was given redacted."""
        reason = reason.strip()
        if not MIN_REASON <= len(reason) <= rules.MAX_DESCRIPTION:
            raise InvalidParameterError(
                f"say why the faces are needed ({MIN_REASON}-{rules.MAX_DESCRIPTION} characters)"
            )
        case_number = case_number.strip()
        if not case_number or len(case_number) > rules.MAX_CASE_NUMBER or not case_number.isprintable():
            raise InvalidParameterError(
                f"an unredaction request needs a case number (1-{rules.MAX_CASE_NUMBER})"
            )
        with db.transaction(self.sessions) as session:
            _, share, _ = self._accessible_share(session, actor.org_id, request_id, clip_id)
            db.serialise(session, f"unredaction-share:{share.id}")  # one pending request per share
            if share.redacted_copy_id is None or share.unredacted_at is not None:
                raise InvalidParameterError("this clip was shared unredacted: there is nothing to ask for")
            pending = session.scalar(
                select(UnredactionRequest.id).where(
                    UnredactionRequest.share_id == share.id, UnredactionRequest.status == PENDING
                )
            )
            if pending is not None:
                raise AlreadyExistsError("an unredaction request for this clip awaits the owner's answer")
            row = UnredactionRequest(
                share_id=share.id,
                agency_org_id=actor.org_id,
                owner_id=share.owner_id,
                case_number=case_number,
                reason=reason,
                filed_by=actor.principal,
                filed_at=self.clock(),
                status=PENDING,
            )
            session.add(row)
            session.flush()
            details = {
                "unredaction_id": row.id,
                "request_id": request_id,
                "clip_id": clip_id,
                "reason": reason,
            }
            self.audit.append(
                session,
                event(
                    actor, "footage.unredaction_request", "record", case_number=case_number, details=details
                ),
            )
            return unredaction_view(row, share, actor.org_name)

    def unredaction_requests(self, owner_id: str) -> list[UnredactionView]:
        """Requests for the originals of the owner's redacted shares, newest first."""
        with self.sessions() as session:
            self._owner(session, owner_id)
            rows = session.execute(
                select(UnredactionRequest, Share, Organisation.name)
                .join(Share, UnredactionRequest.share_id == Share.id)
                .join(Organisation, UnredactionRequest.agency_org_id == Organisation.id)
                .where(UnredactionRequest.owner_id == owner_id)
                .order_by(UnredactionRequest.filed_at.desc(), UnredactionRequest.id)
            )
            return [unredaction_view(row, share, name) for row, share, name in rows]

    def answer_unredaction(
        self, owner_id: str, unredaction_id: str, accept: bool, *, surface: str = "ui"
    ) -> UnredactionView:
        """The owner accepts (the agency gets the original for that share; gated as ``footage.share``) or
        refuses. Only the clip's owner may answer; anyone else's request answers not found."""
        actor = self.owner_actor(owner_id, surface)
        with self.sessions() as session:
            self._owner(session, owner_id)
            found = self._unredaction(session, owner_id, unredaction_id)
            case_number = found[0].case_number
        inputs = {"unredaction_id": unredaction_id, "accept": accept}
        with (
            self.gate.guard(
                actor, Capability.FOOTAGE_SHARE, RequestContext(case_number=case_number, inputs=inputs)
            )
            if accept
            else nullcontext(),
            db.transaction(self.sessions) as session,
        ):
            # An accept and a refuse racing (two tabs): the second waits, then finds the request answered.
            db.serialise(session, f"unredaction:{unredaction_id}")
            row, share, agency = self._unredaction(session, owner_id, unredaction_id)
            if row.status != PENDING:
                raise RequestClosedError(f"this request was already {row.status}")
            now = self.clock()
            row.status = ACCEPTED if accept else REFUSED
            row.answered_at = now
            if accept:
                share.unredacted_at = now
            session.flush()
            original = session.scalar(
                select(MediaObject.sha256)
                .join(Clip, Clip.media_id == MediaObject.id)
                .where(Clip.id == share.clip_id)
            )
            details = {
                "unredaction_id": row.id,
                "request_id": share.request_id,
                "clip_id": share.clip_id,
                "original_sha256": original,
            }
            action = "footage.unredaction_accept" if accept else "footage.unredaction_refuse"
            self.audit.append(
                session, event(actor, action, "record", case_number=row.case_number, details=details)
            )
            return unredaction_view(row, share, agency)

    @staticmethod
    def _unredaction(
        session: Session, owner_id: str, unredaction_id: str
    ) -> tuple[UnredactionRequest, Share, str]:
        found = session.execute(
            select(UnredactionRequest, Share, Organisation.name)
            .join(Share, UnredactionRequest.share_id == Share.id)
            .join(Organisation, UnredactionRequest.agency_org_id == Organisation.id)
            .where(UnredactionRequest.id == unredaction_id)
        ).one_or_none()
        if found is None or found[0].owner_id != owner_id or found[1].owner_id != owner_id:
            raise NotFoundError(f"unredaction request {unredaction_id!r} not found")
        return found[0], found[1], found[2]
