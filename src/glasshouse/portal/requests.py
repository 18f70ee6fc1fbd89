"""Agencies' footage requests: filing (rules, then the gate), matching owners, and access to what was shared.

Filing: the rules are checked first (a refusal is audited as a ``footage.request`` denial naming the rule,
so the transparency report counts it), then the policy gate decides ``footage.request`` (audited by the
gate, in the same commit as the request). Matching happens once, at filing: owners who have not opted out,
with a camera inside the area and a clip of that camera overlapping the window.

Agency access: only shared clips, while the request is open and for ``access_days`` after it closes
(``access_until``); a clip marked as evidence stays available. Everything else answers the same
:class:`NotFoundError` as a clip that does not exist.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from glasshouse import db
from glasshouse.errors import NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event, event
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability, Sector
from glasshouse.media.models import MediaObject
from glasshouse.media.service import MediaInfo
from glasshouse.organisations.models import Organisation
from glasshouse.people.models import Person
from glasshouse.portal import rules
from glasshouse.portal.common import (
    NotAnAgencyError,
    PortalBase,
    RequestClosedError,
    clip_not_found,
    request_not_found,
)
from glasshouse.portal.models import (
    CLOSED,
    CONSENT,
    OPEN,
    PENDING,
    Camera,
    Clip,
    FootageRequest,
    OwnerSettings,
    RequestRecipient,
    Share,
    UnredactionRequest,
)
from glasshouse.portal.views import (
    AgencyClipView,
    FootageRequestInput,
    RedactedCopyRecord,
    RequestView,
    SharedClip,
    ShareView,
    UnredactionView,
    aware,
    aware_or_none,
)
from glasshouse.redaction.copies import RedactedCopy

ACTION_REQUEST: Final = "footage.request"
#: The owners a request reached (a count), recorded for the operator's auditors, not the agency's.
ACTION_MATCH: Final = "footage.request_match"


class RequestPortal(PortalBase):
    """An agency's side of the portal: its requests and the clips shared into them."""

    # -- requests ------------------------------------------------------------------------------------------
    def _refuse(self, actor: Actor, rule: str, message: str, case_number: str | None) -> None:
        """Audit a refused request as a ``footage.request`` denial under the portal rule it broke."""
        self.audit.record(
            event(
                actor, ACTION_REQUEST, "deny", rule=rule, case_number=case_number, details={"reason": message}
            )
        )

    def file_request(self, actor: Actor, data: FootageRequestInput) -> RequestView:
        """File a footage request for ``actor``'s agency (rules, then the gate), and ask the matching owners."""
        now = self.clock()
        try:
            case_number, incident_type, description, contact = rules.check_text(
                data.case_number, data.incident_type, data.description, data.contact
            )
            if not data.purpose.strip():  # never assumed: the investigator declares it
                raise rules.RequestRuleError(
                    "purpose-required", "choose the purpose the footage is requested for"
                )
            area = rules.parse_area(data.area)
            size = rules.check_area_size(area)
            rules.check_window(data.window_start, data.window_end, now)
            rules.check_respond_by(data.respond_by, now)
        except rules.RequestRuleError as exc:
            self._refuse(actor, exc.rule, exc.message, data.case_number.strip()[:64] or None)
            raise
        with self.sessions() as session:
            org = session.get(Organisation, actor.org_id)
            if org is None:
                raise NotFoundError("organisation not found")
            unverified_agency = org.sector == Sector.LAW_ENFORCEMENT.value and not org.verified
        if unverified_agency:
            message = f"organisation {org.name!r} is not a verified agency: an operator must verify it first"
            self._refuse(actor, "agency-not-verified", message, case_number)
            raise NotAnAgencyError(message)
        window_start = data.window_start.astimezone(UTC)
        window_end = data.window_end.astimezone(UTC)
        inputs = {"incident_type": incident_type, "area_sq_mi": round(size, 4)}
        request = RequestContext(purpose=data.purpose, case_number=case_number, inputs=inputs)
        with self.gate.guard(actor, Capability.FOOTAGE_REQUEST, request) as grant:
            if org.sector != Sector.LAW_ENFORCEMENT.value:  # a policy may allow others; the portal does not
                raise NotAnAgencyError(f"organisation {org.name!r} is not a law-enforcement agency")
            with db.transaction(self.sessions) as session:
                row = FootageRequest(
                    kind=CONSENT,
                    agency_org_id=org.id,
                    created_by=actor.principal,
                    incident_type=incident_type,
                    case_number=case_number,
                    description=description,
                    contact=contact,
                    area=area.to_json(),
                    area_sq_mi=size,
                    window_start=window_start,
                    window_end=window_end,
                    respond_by=data.respond_by.astimezone(UTC),
                    status=OPEN,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                owners = self._matching_owners(session, area, window_start, window_end)
                for owner_id in owners:
                    session.add(RequestRecipient(request_id=row.id, owner_id=owner_id, status=PENDING))
                session.flush()
                grant.note(request_id=row.id)
                # How many owners were asked is not the agency's to know (filing areas and reading counts
                # would map cameras): recorded under the residents' organisation, out of the agency's view.
                residents = self._residents(session)
                by = Actor(org_id=residents.id, org_name=residents.name, surface=actor.surface)
                details = {"request_id": row.id, "recipients": len(owners)}
                self.audit.append(session, change_event(by, ACTION_MATCH, details))
                return RequestView.of(row, org.name, len(owners), 0, 0)

    def _matching_owners(
        self, session: Session, area: rules.Area, start: datetime, end: datetime
    ) -> list[str]:
        """Owners not opted out with a camera inside ``area`` that has a clip overlapping [start, end]."""
        opted_out = select(OwnerSettings.owner_id).where(OwnerSettings.opted_out.is_(True))
        rows = session.execute(
            select(Camera.owner_id, Camera.latitude, Camera.longitude)
            .join(Clip, Clip.camera_id == Camera.id)
            .join(Person, Person.id == Camera.owner_id)
            .where(
                Clip.started_at <= end,
                Clip.ends_at >= start,
                Person.disabled.is_(False),
                Camera.owner_id.not_in(opted_out),
            )
            .distinct()
        )
        return sorted({owner for owner, lat, lon in rows if rules.contains(area, lat, lon)})

    def _agency_request(self, session: Session, actor: Actor, request_id: str) -> FootageRequest:
        row = session.get(FootageRequest, request_id)
        if row is None or row.agency_org_id != actor.org_id:
            raise request_not_found(request_id)
        return row

    def get_request(self, actor: Actor, request_id: str) -> RequestView:
        """One of the actor's agency's requests."""
        with self.sessions() as session:
            return self._views(session, [self._agency_request(session, actor, request_id)])[0]

    def agency_requests(self, actor: Actor) -> list[RequestView]:
        """The actor's agency's requests, newest first."""
        with self.sessions() as session:
            rows = list(
                session.scalars(
                    select(FootageRequest)
                    .where(FootageRequest.agency_org_id == actor.org_id)
                    .order_by(FootageRequest.created_at.desc(), FootageRequest.id)
                )
            )
            return self._views(session, rows)

    # -- agency access -------------------------------------------------------------------------------------
    def _accessible(self, request: FootageRequest, share: Share, now: datetime) -> bool:
        if share.evidence or request.status == OPEN:
            return True
        return request.access_until is not None and aware(request.access_until) > now

    def shared_clips(self, actor: Actor, request_id: str) -> list[SharedClip]:
        """Clips shared into the actor's agency's request, each with its share record (and, when shared
        redacted, the copy's record and any unredaction request)."""
        now = self.clock()
        with self.sessions() as session:
            request = self._agency_request(session, actor, request_id)
            agency = session.get(Organisation, request.agency_org_id)
            rows = session.execute(
                select(Share, Clip)
                .join(Clip, Share.clip_id == Clip.id)
                .where(Share.request_id == request_id)
                .order_by(Share.shared_at, Share.id)
            )
            out = []
            for share, clip in rows:
                record = self._copy_record(session, share.redacted_copy_id)
                asked = session.scalar(
                    select(UnredactionRequest)
                    .where(UnredactionRequest.share_id == share.id)
                    .order_by(UnredactionRequest.filed_at.desc())
                    .limit(1)
                )
                unredaction = (
                    unredaction_view(asked, share, agency.name if agency else "?") if asked else None
                )
                out.append(
                    SharedClip(
                        AgencyClipView.of(clip),
                        ShareView.of(share),
                        self._accessible(request, share, now),
                        record,
                        unredaction,
                    )
                )
            return out

    @staticmethod
    def _copy_record(session: Session, copy_id: str | None) -> RedactedCopyRecord | None:
        copy = session.get(RedactedCopy, copy_id) if copy_id else None
        media = session.get(MediaObject, copy.copy_media_id) if copy else None
        if copy is None or media is None:
            return None
        return RedactedCopyRecord(
            sha256=copy.sha256,
            source_sha256=copy.source_sha256,
            size=media.size,
            content_type=media.content_type,
            settings=dict(copy.settings),
            engine=copy.engine,
            summary=dict(copy.summary),
            created_at=aware(copy.created_at),
        )

    @staticmethod
    def _served(session: Session, share: Share, clip: Clip) -> tuple[MediaObject, bool]:
        """The media object the agency gets for ``share``, and whether it is the redacted copy: the copy
        while the share is redacted and no unredaction was accepted, else the original. A redacted share
        whose copy is gone serves nothing (never the original in its place)."""
        if share.serves_copy:
            copy = session.get(RedactedCopy, share.redacted_copy_id)
            media = session.get(MediaObject, copy.copy_media_id) if copy is not None else None
            if media is None:
                raise clip_not_found(clip.id)
            return media, True
        media = session.get(MediaObject, clip.media_id)
        if media is None:
            raise clip_not_found(clip.id)
        return media, False

    def _accessible_share(
        self, session: Session, agency_org_id: str, request_id: str, clip_id: str
    ) -> tuple[FootageRequest, Share, Clip]:
        """The share of ``clip_id`` in the agency's request, if the agency may read it now; else the same
        not-found error whatever the reason (no such clip, not shared, another request, access over)."""
        request = session.get(FootageRequest, request_id)
        found = session.execute(
            select(Share, Clip)
            .join(Clip, Share.clip_id == Clip.id)
            .where(Share.request_id == request_id, Share.clip_id == clip_id)
        ).one_or_none()
        if (
            request is None
            or request.agency_org_id != agency_org_id
            or found is None
            or not self._accessible(request, found[0], self.clock())
        ):
            raise clip_not_found(clip_id)
        return request, found[0], found[1]

    def download(self, actor: Actor, request_id: str, clip_id: str) -> tuple[AgencyClipView, BinaryIO]:
        """A shared clip's metadata and bytes for the agency (the redacted copy of a redacted share);
        audited as ``footage.download``."""
        with db.transaction(self.sessions) as session:
            request, share, clip = self._accessible_share(session, actor.org_id, request_id, clip_id)
            media, redacted = self._served(session, share, clip)
            view = AgencyClipView.of(clip)
            if redacted:
                view = replace(
                    view, content_type=media.content_type, size=media.size, sha256=media.sha256, redacted=True
                )
            details = {
                "request_id": request_id,
                "clip_id": clip_id,
                "sha256": clip.sha256,
                "share_kind": share.kind,
                "served": "redacted" if redacted else "original",
                "served_sha256": media.sha256,
            }
            self.audit.append(
                session,
                event(actor, "footage.download", "record", case_number=request.case_number, details=details),
            )
            org_id, name = media.org_id, media.name
        try:
            return view, self.media.open(org_id, name)[1]
        except NotFoundError:
            raise clip_not_found(clip_id) from None

    def shared_media(self, agency_org_id: str, name: str) -> MediaInfo:
        """Rekognition's ``S3Object {Bucket: "portal-shared", Name: "<request id>/<clip id>"}`` for the
        agency: the media object it may read (exactly as :meth:`download`: the redacted copy of a redacted
        share), else not found. Analysing it still passes the gate (``video.face_search`` stays under the
        moratorium), and that decision's audit entry names the object, so the chain of custody records
        every use."""
        request_id, _, clip_id = name.partition("/")
        with self.sessions() as session:
            _, share, clip = self._accessible_share(session, agency_org_id, request_id, clip_id)
            return MediaInfo.of(self._served(session, share, clip)[0])

    def mark_evidence(self, actor: Actor, request_id: str, clip_id: str, evidence: bool = True) -> ShareView:
        """Mark (or unmark) a shared clip as evidence in the case: it is then kept and stays available."""
        with db.transaction(self.sessions) as session:
            request, share, _ = self._accessible_share(session, actor.org_id, request_id, clip_id)
            share.evidence = evidence
            session.flush()
            details = {"request_id": request_id, "clip_id": clip_id, "evidence": evidence}
            self.audit.append(
                session,
                event(actor, "footage.evidence", "record", case_number=request.case_number, details=details),
            )
            return ShareView.of(share)

    def close_request(self, actor: Actor, request_id: str) -> RequestView:
        """Close the request: no more answers; access to non-evidence clips ends ``access_days`` later."""
        now = self.clock()
        with db.transaction(self.sessions) as session:
            request = self._agency_request(session, actor, request_id)
            if request.status == CLOSED:
                raise RequestClosedError("this request is already closed")
            request.status = CLOSED
            request.closed_at = now
            request.access_until = now + timedelta(days=self.access_days)
            session.flush()
            details = {"request_id": request_id, "access_until": request.access_until.isoformat()}
            self.audit.append(
                session,
                event(
                    actor, "footage.request_close", "record", case_number=request.case_number, details=details
                ),
            )
            return self._views(session, [request])[0]


def unredaction_view(row: UnredactionRequest, share: Share, agency_name: str) -> UnredactionView:
    return UnredactionView(
        id=row.id,
        request_id=share.request_id,
        clip_id=share.clip_id,
        agency_name=agency_name,
        case_number=row.case_number,
        reason=row.reason,
        filed_at=aware(row.filed_at),
        status=row.status,
        answered_at=aware_or_none(row.answered_at),
    )
