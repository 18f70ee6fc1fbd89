"""Emergency disclosure: one operator asks (with a written reason), a different operator approves.

Both are people holding the role the policy's ``duties`` name (``governance.duties``): a key issued to a
person acts as that person, an organisation-wide key can neither ask nor approve, and the approver is never
the person who asked, whichever keys or sessions they use.

The approval creates an ``emergency`` request holding the clips, notifies each owner (their inbox), and is
audited as ``footage.emergency_disclosure`` (a transparency report figure). The agency gets redacted
copies of the clips unless the approving operator records why it needs them unredacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Final

from sqlalchemy import select

from glasshouse import db
from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import event
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability, Sector
from glasshouse.organisations.models import Organisation
from glasshouse.portal import rules
from glasshouse.portal.common import (
    NotAnAgencyError,
    PortalBase,
    PortalForbiddenError,
    RequestClosedError,
    clip_not_found,
)
from glasshouse.portal.models import (
    APPROVED,
    DISCLOSED,
    DISCLOSURE_DESCRIPTION,
    EMERGENCY,
    OPEN,
    PENDING,
    Camera,
    Clip,
    EmergencyDisclosure,
    FootageRequest,
    RequestRecipient,
    Share,
)
from glasshouse.portal.views import DisclosureView
from glasshouse.redaction.record import RedactionSettings

ACTION_EMERGENCY: Final = "footage.emergency_disclosure"


class EmergencyPortal(PortalBase):
    """Disclosure without consent, by two operators."""

    @staticmethod
    def _operator(actor: Actor) -> None:
        if not actor.is_operator:
            raise PortalForbiddenError("emergency disclosure is an operator's action")

    def emergency_request(
        self, operator: Actor, agency: str, clip_ids: Sequence[str], reason: str, case_number: str
    ) -> DisclosureView:
        """Ask to disclose clips to ``agency`` (name or id) without the owners' consent; a second,
        different operator must approve."""
        self._operator(operator)
        reason = reason.strip()
        if len(reason) < 20:
            raise InvalidParameterError(
                "write the reason for the emergency disclosure (20 characters at least)"
            )
        if len(reason) > rules.MAX_DESCRIPTION:
            raise InvalidParameterError(f"a reason is at most {rules.MAX_DESCRIPTION} characters")
        case_number = case_number.strip()
        if not case_number or len(case_number) > rules.MAX_CASE_NUMBER:
            raise InvalidParameterError(
                f"an emergency disclosure needs a case number (1-{rules.MAX_CASE_NUMBER})"
            )
        wanted = list(dict.fromkeys(clip_ids))
        if not wanted:
            raise InvalidParameterError("name at least one clip")
        with (
            self.duties.step(
                operator, "emergency_request", "footage.emergency_request", agency=agency, clips=len(wanted)
            ) as check,
            db.transaction(self.sessions) as session,
        ):
            requested_by = check.require_distinct_person(session)
            org = session.get(Organisation, agency) or session.scalar(
                select(Organisation).where(Organisation.name == agency)
            )
            if org is None or org.sector != Sector.LAW_ENFORCEMENT.value or not org.verified:
                raise NotAnAgencyError(f"{agency!r} is not a verified law-enforcement agency")
            found = set(session.scalars(select(Clip.id).where(Clip.id.in_(wanted))))
            for clip_id in wanted:
                if clip_id not in found:
                    raise clip_not_found(clip_id)
            row = EmergencyDisclosure(
                agency_org_id=org.id,
                clip_ids=wanted,
                case_number=case_number,
                reason=reason,
                requested_by=requested_by,
                requested_at=self.clock(),
                status=PENDING,
            )
            session.add(row)
            session.flush()
            details = {"disclosure_id": row.id, "agency": org.name, "clips": len(wanted), "reason": reason}
            self.audit.append(
                session,
                event(
                    operator, "footage.emergency_request", "record", case_number=case_number, details=details
                ),
            )
            return DisclosureView.of(row, org.name)

    def emergency_disclosures(self, operator: Actor) -> list[DisclosureView]:
        self._operator(operator)
        with self.sessions() as session:
            rows = session.execute(
                select(EmergencyDisclosure, Organisation.name)
                .join(Organisation, EmergencyDisclosure.agency_org_id == Organisation.id)
                .order_by(EmergencyDisclosure.requested_at.desc())
            )
            return [DisclosureView.of(row, name) for row, name in rows]

    def emergency_approve(
        self, operator: Actor, disclosure_id: str, *, unredacted_reason: str | None = None
    ) -> DisclosureView:
        """Approve (as a second operator): the clips are shared (kind ``emergency``) into a new emergency
        request of the agency, each owner is notified in their inbox, and the disclosure is audited.

        The agency gets redacted copies (every face blurred) unless the approver records why it needs the
        originals (``unredacted_reason``)."""
        self._operator(operator)
        if unredacted_reason is not None:
            unredacted_reason = unredacted_reason.strip()
            if not 20 <= len(unredacted_reason) <= rules.MAX_DESCRIPTION:
                raise InvalidParameterError(
                    "write why the agency needs the clips unredacted (20 characters at least)"
                )
        copies = {} if unredacted_reason is not None else self._emergency_copies(operator, disclosure_id)
        try:
            return self._approve(operator, disclosure_id, copies, unredacted_reason)
        except BaseException:
            holder = self._copy_holder(operator)
            for copy_id in copies.values():
                with suppress(NotFoundError):
                    self.copies.delete(holder, copy_id)
            raise

    def _copy_holder(self, operator: Actor) -> Actor:
        """Emergency copies are held by the residents' organisation (with the clips), made by the operator."""
        residents = self.residents()
        return Actor(
            org_id=residents.id,
            org_name=residents.name,
            surface=operator.surface,
            key_id=operator.key_id,
            person=operator.person,
        )

    def _emergency_copies(self, operator: Actor, disclosure_id: str) -> dict[str, str]:
        """Redacted copies of a pending disclosure's clips (clip id -> copy id), made before the approval
        (redaction takes seconds; no transaction stays open meanwhile). Refused early to the operator who
        asked (the four-eyes check runs first here too), so nobody makes copies who could not approve."""
        with (
            self.duties.step(
                operator, "emergency_approval", ACTION_EMERGENCY, disclosure_id=disclosure_id
            ) as check,
            self.sessions() as session,
        ):
            row = session.get(EmergencyDisclosure, disclosure_id)
            if row is None:
                raise NotFoundError(f"emergency disclosure {disclosure_id!r} not found")
            if row.status != PENDING:
                raise RequestClosedError("this emergency disclosure was already approved")
            check.require_distinct_person(session, requested_by=row.requested_by)
            clip_ids = list(session.scalars(select(Clip.id).where(Clip.id.in_(row.clip_ids))))
            case_number = row.case_number
        holder = self._copy_holder(operator)
        made: dict[str, str] = {}
        try:
            for clip_id in clip_ids:
                context = RequestContext(
                    case_number=case_number, inputs={"disclosure_id": disclosure_id, "clip_id": clip_id}
                )
                with self.gate.guard(operator, Capability.MEDIA_REDACT, context):
                    copy = self.copies.make(
                        holder,
                        source_org_id=holder.org_id,
                        source_name=f"portal/{clip_id}",
                        settings=RedactionSettings(),
                        purpose="portal_share",
                    )
                made[clip_id] = copy.id
        except BaseException:
            for copy_id in made.values():
                self.copies.delete(holder, copy_id)
            raise
        return made

    def _approve(
        self, operator: Actor, disclosure_id: str, copies: dict[str, str], unredacted_reason: str | None
    ) -> DisclosureView:
        now = self.clock()
        with (
            self.duties.step(
                operator, "emergency_approval", ACTION_EMERGENCY, disclosure_id=disclosure_id
            ) as check,
            db.transaction(self.sessions) as session,
        ):
            # Two approvals racing (a double submit, two keys): the second waits, then finds it approved.
            db.serialise(session, f"emergency-disclosure:{disclosure_id}")
            row = session.get(EmergencyDisclosure, disclosure_id)
            if row is None:
                raise NotFoundError(f"emergency disclosure {disclosure_id!r} not found")
            if row.status != PENDING:
                raise RequestClosedError("this emergency disclosure was already approved")
            approved_by = check.require_distinct_person(session, requested_by=row.requested_by)
            org = session.get(Organisation, row.agency_org_id)
            assert org is not None
            clips = list(
                session.execute(
                    select(Clip, Camera)
                    .join(Camera, Clip.camera_id == Camera.id)
                    .where(Clip.id.in_(row.clip_ids))
                )
            )
            if not clips:
                raise NotFoundError("the clips of this disclosure no longer exist")
            # Never the cameras' own position: the grid cells holding them (see rules.disclosure_area).
            area = rules.disclosure_area([(cam.latitude, cam.longitude) for _, cam in clips])
            request = FootageRequest(
                kind=EMERGENCY,
                agency_org_id=org.id,
                created_by=row.requested_by,
                incident_type="other",
                case_number=row.case_number,
                # Public (the feed): the operators' reason may name people or places, so it stays out;
                # the owners read it in their inbox (from the disclosure row).
                description=DISCLOSURE_DESCRIPTION,
                contact="",
                area=area.to_json(),
                area_sq_mi=rules.area_sq_mi(area),
                window_start=min(c.started_at for c, _ in clips),
                window_end=max(c.ends_at for c, _ in clips),
                respond_by=now,
                status=OPEN,
                created_at=now,
            )
            session.add(request)
            session.flush()
            owners = sorted({c.owner_id for c, _ in clips})
            for owner_id in owners:
                session.add(
                    RequestRecipient(
                        request_id=request.id,
                        owner_id=owner_id,
                        status=DISCLOSED,
                        responded_at=None,
                        notified_at=now,
                    )
                )
            redacted = unredacted_reason is None
            for clip, _ in clips:
                if redacted and clip.id not in copies:  # a clip uploaded again since? never the original
                    raise NotFoundError(f"no redacted copy of clip {clip.id!r}: approve again")
                share = Share(
                    request_id=request.id,
                    clip_id=clip.id,
                    owner_id=clip.owner_id,
                    shared_at=now,
                    contact=None,
                    evidence=False,
                    kind=EMERGENCY,
                    redacted_copy_id=copies.get(clip.id) if redacted else None,
                )
                session.add(share)
                session.flush()
                self._record_share(session, operator, share, row.case_number)
            row.redacted = redacted
            row.unredacted_reason = unredacted_reason
            row.status = APPROVED
            row.approved_by = approved_by
            row.approved_at = now
            row.request_id = request.id
            row.notified_at = now
            session.flush()
            details = {
                "disclosure_id": row.id,
                "request_id": request.id,
                "agency": org.name,
                "clips": len(clips),
                "owners": len(owners),
                "requested_by": row.requested_by,
                "reason": row.reason,
                "redacted": redacted,
                "unredacted_reason": unredacted_reason,
            }
            self.audit.append(
                session,
                event(operator, ACTION_EMERGENCY, "record", case_number=row.case_number, details=details),
            )
            return DisclosureView.of(row, org.name)
