"""Leads: created by the gate's obligations, reviewed by people who did not search, exported only after.

A candidate is *confirmed* once the required number of distinct reviewers confirmed it, *rejected* as
soon as any reviewer rejects it, otherwise *pending*. A lead may be exported once no candidate is
pending and at least one is confirmed; the export states that it is an investigative lead, not an
identification, and never the sole basis for action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from glasshouse.audit.service import AuditLog
from glasshouse.collections.models import Collection, Face, FaceCrop
from glasshouse.collections.service import crop_context
from glasshouse.db import transaction, utcnow
from glasshouse.errors import GlasshouseError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.governance.duties import Duties
from glasshouse.keys.crypto import SecretBox
from glasshouse.review.images import MAX_CROP_BYTES, LeadProbeImage
from glasshouse.review.models import Lead, LeadCandidate, Review

LEAD_NOTICE = (
    "INVESTIGATIVE LEAD - NOT AN IDENTIFICATION. A face-recognition similarity is a lead for human "
    "investigation and must never be the sole basis for any action."
)


#: The one answer to a crop that cannot be shown, whatever the reason (another organisation's lead, a
#: collection without the opt-in, a deleted face, a user candidate): it reveals nothing.
NO_CROP = "no enrolled image is available for this candidate"


class ReviewConflict(GlasshouseError):
    """The review is not allowed: own search, already reviewed, or not yet exportable."""

    code = "Conflict"


@dataclass(frozen=True, slots=True)
class CandidateView:
    id: str
    rank: int
    reference: str
    external_image_id: str | None
    similarity: float
    status: str
    reviews: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class CandidateFace:
    """What a reviewer may see of a candidate's enrolled face: its box, and whether a crop was kept (the
    crop itself only through :meth:`ReviewService.candidate_crop`)."""

    box: dict[str, float]
    image_width: int
    image_height: int
    has_crop: bool


@dataclass(frozen=True, slots=True)
class LeadImages:
    """The probe's crop (console leads only) and the candidates' enrolled faces, by candidate id.
    ``crops_kept`` says whether the searched collection keeps enrolled faces' crops (None: it is gone)."""

    probe_jpeg: bytes | None
    probe_box: dict[str, Any] | None
    candidates: dict[str, CandidateFace]
    crops_kept: bool | None = None


@dataclass(frozen=True, slots=True)
class LeadView:
    id: str
    org_id: str
    capability: str
    requested_by: str
    purpose: str | None
    case_number: str | None
    reviewers_required: int
    created_at: datetime
    candidates: list[CandidateView]

    @property
    def status(self) -> str:
        states = {c.status for c in self.candidates}
        if "pending" in states:
            return "pending"
        return "confirmed" if "confirmed" in states else "rejected"

    def as_dict(self) -> dict[str, Any]:
        return {
            "lead_id": self.id,
            "status": self.status,
            "capability": self.capability,
            "requested_by": self.requested_by,
            "purpose": self.purpose,
            "case_number": self.case_number,
            "reviewers_required": self.reviewers_required,
            "created_at": self.created_at.isoformat(),
            "candidates": [
                {
                    "candidate_id": c.id,
                    "rank": c.rank,
                    "reference": c.reference,
                    "external_image_id": c.external_image_id,
                    "similarity": c.similarity,
                    "status": c.status,
                    "reviews": c.reviews,
                }
                for c in self.candidates
            ],
        }


def _status(candidate: LeadCandidate, required: int) -> str:
    if any(r.decision == "reject" for r in candidate.reviews):
        return "rejected"
    confirmations = {r.reviewer for r in candidate.reviews if r.decision == "confirm"}
    return "confirmed" if len(confirmations) >= max(required, 1) else "pending"


def _view(lead: Lead) -> LeadView:
    return LeadView(
        id=lead.id,
        org_id=lead.org_id,
        capability=lead.capability,
        requested_by=lead.requested_by,
        purpose=lead.purpose,
        case_number=lead.case_number,
        reviewers_required=lead.reviewers_required,
        created_at=lead.created_at,
        candidates=[
            CandidateView(
                id=c.id,
                rank=c.rank,
                reference=c.reference,
                external_image_id=c.external_image_id,
                similarity=c.similarity,
                status=_status(c, lead.reviewers_required),
                reviews=[
                    {
                        "reviewer": r.reviewer,
                        "decision": r.decision,
                        "reason": r.reason,
                        "at": r.created_at.isoformat(),
                    }
                    for r in c.reviews
                ],
            )
            for c in lead.candidates
        ],
    )


class ReviewService:
    def __init__(
        self, sessions: sessionmaker[Session], audit: AuditLog, duties: Duties, box: SecretBox | None = None
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.duties = duties
        #: Opens enrolled faces' crops (collections that opted in to keeping them).
        self.box = box

    def create(
        self,
        session: Session,
        actor: Actor,
        *,
        capability: str,
        purpose: str | None,
        case_number: str | None,
        collection_id: str | None,
        probe_digest: str,
        reviewers_required: int,
        policy_version: int | None,
        candidates: Sequence[tuple[str, str | None, float]],
    ) -> str:
        """Record a lead inside the gate's transaction; returns its id."""
        lead = Lead(
            org_id=actor.org_id,
            capability=capability,
            requested_by=actor.principal,
            purpose=purpose,
            case_number=case_number,
            collection_id=collection_id,
            probe_digest=probe_digest,
            reviewers_required=reviewers_required,
            policy_version=policy_version,
            candidates=[
                LeadCandidate(rank=i, reference=ref, external_image_id=ext, similarity=sim)
                for i, (ref, ext, sim) in enumerate(candidates, start=1)
            ],
        )
        session.add(lead)
        session.flush()
        return lead.id

    def get(self, actor: Actor, lead_id: str) -> LeadView:
        """A lead of the actor's own organisation; another organisation's answers like a missing one."""
        with self.sessions() as session:
            return _view(self._get(session, actor, lead_id))

    def pending_for(self, actor: Actor) -> list[LeadView]:
        """Leads waiting for this reviewer: own organisation, not their own searches, not yet reviewed by them."""
        with self.sessions() as session:
            leads = session.scalars(
                select(Lead)
                .options(selectinload(Lead.candidates).selectinload(LeadCandidate.reviews))
                .where(Lead.org_id == actor.org_id, Lead.requested_by != actor.principal)
                .order_by(Lead.created_at)
            )
            out = []
            for lead in leads:
                view = _view(lead)
                mine = {r["reviewer"] for c in view.candidates for r in c.reviews}
                if view.status == "pending" and actor.principal not in mine:
                    out.append(view)
            return out

    def review(self, actor: Actor, lead_id: str, candidate_id: str, decision: str, reason: str) -> LeadView:
        """Confirm or reject a candidate: only a person holding the policy's review role (never an
        organisation-wide key), never the searcher, and each reviewer of a candidate a different person."""
        if decision not in ("confirm", "reject"):
            raise InvalidParameterError("decision must be 'confirm' or 'reject'")
        if not reason.strip():
            raise InvalidParameterError("a review needs a reason")
        details = {"lead_id": lead_id, "candidate_id": candidate_id}
        with (
            self.duties.step(actor, "review", f"review.{decision}", **details) as check,
            transaction(self.sessions) as session,
        ):
            lead = self._get(session, actor, lead_id)
            candidate = next((c for c in lead.candidates if c.id == candidate_id), None)
            if candidate is None:
                raise NotFoundError("candidate not found")
            principal = check.require_distinct_person(
                session,
                requested_by=lead.requested_by,
                already=[r.reviewer for r in candidate.reviews],
            )
            if _status(candidate, lead.reviewers_required) != "pending":
                raise ReviewConflict("this candidate's review is complete")
            candidate.reviews.append(
                Review(reviewer=principal, decision=decision, reason=reason, created_at=utcnow())
            )
            session.flush()
            self.audit.append(
                session, change_event(actor, f"review.{decision}", {**details, "reason": reason})
            )
            view = _view(lead)
        return view

    def export(self, actor: Actor, lead_id: str) -> dict[str, Any]:
        """The case record (JSON) of a fully reviewed lead; refused while any candidate is pending."""
        view = self.get(actor, lead_id)
        if view.status == "pending":
            raise ReviewConflict("a lead cannot be exported before every candidate has been reviewed")
        if view.status == "rejected":
            raise ReviewConflict("every candidate of this lead was rejected: there is nothing to export")
        record = {
            "notice": LEAD_NOTICE,
            **view.as_dict(),
            "confirmed_candidates": [c.reference for c in view.candidates if c.status == "confirmed"],
            "exported_by": actor.principal,
            "exported_at": utcnow().isoformat(),
        }
        self.audit.record(
            change_event(actor, "review.export", {"lead_id": lead_id, "case_number": view.case_number})
        )
        return record

    # -- what reviewers look at (see glasshouse.review.images) -----------------------------------------
    def keep_probe_image(
        self, actor: Actor, lead_id: str, jpeg: bytes, *, box: dict[str, Any], width: int, height: int
    ) -> None:
        """Keep the probe's small face crop beside a lead of the actor's organisation."""
        if not jpeg or len(jpeg) > MAX_CROP_BYTES:
            raise InvalidParameterError(f"a lead's face crop must be 1 to {MAX_CROP_BYTES} bytes")
        with transaction(self.sessions) as session:
            lead = self._get(session, actor, lead_id)
            session.merge(
                LeadProbeImage(lead_id=lead.id, jpeg=jpeg, box=box, image_width=width, image_height=height)
            )

    def discard_probe_image(self, actor: Actor, lead_id: str) -> bool:
        """Delete a lead's probe crop (once every candidate is rejected nobody needs it); True if one was kept."""
        with transaction(self.sessions) as session:
            lead = self._get(session, actor, lead_id)
            kept = session.get(LeadProbeImage, lead.id)
            if kept is None:
                return False
            session.delete(kept)
            return True

    def images(self, actor: Actor, lead_id: str) -> LeadImages:
        """The probe crop and the candidates' enrolled faces of a lead of the actor's organisation."""
        with self.sessions() as session:
            lead = self._get(session, actor, lead_id)
            probe = session.get(LeadProbeImage, lead.id)
            by_face = {c.reference: c.id for c in lead.candidates}
            rows = session.execute(
                select(Face, FaceCrop.face_id)
                .join(Collection, Collection.id == Face.collection_id)
                .outerjoin(FaceCrop, FaceCrop.face_id == Face.id)
                .where(Face.id.in_(list(by_face)), Collection.org_id == actor.org_id)
            ).all()
            faces = {
                by_face[face.id]: CandidateFace(
                    box={
                        "left": round(face.box_left, 1),
                        "top": round(face.box_top, 1),
                        "width": round(face.box_width, 1),
                        "height": round(face.box_height, 1),
                    },
                    image_width=face.image_width,
                    image_height=face.image_height,
                    has_crop=crop is not None,
                )
                for face, crop in rows
            }
            collection = (
                session.scalar(
                    select(Collection).where(
                        Collection.id == lead.collection_id, Collection.org_id == actor.org_id
                    )
                )
                if lead.collection_id
                else None
            )
            return LeadImages(
                probe_jpeg=probe.jpeg if probe else None,
                probe_box=dict(probe.box) if probe else None,
                candidates=faces,
                crops_kept=collection.keeps_face_crops if collection is not None else None,
            )

    def candidate_crop(self, actor: Actor, lead_id: str, candidate_id: str) -> bytes:
        """A candidate's enrolled-face crop, for a person who may review this lead: holding the policy's
        review role, of the lead's organisation, not the searcher (separation of duties: a refusal is a
        ``deny`` audit entry). Each view is audited (``review.crop_view``, ids only, never the image).
        Anything else (another organisation's lead, no crop kept, the face deleted) is one NotFoundError."""
        details = {"lead_id": lead_id, "candidate_id": candidate_id}
        with (
            self.duties.step(actor, "review", "review.crop_view", **details) as check,
            transaction(self.sessions) as session,
        ):
            lead = session.scalar(select(Lead).where(Lead.id == lead_id, Lead.org_id == actor.org_id))
            if lead is None:
                check.require_distinct_person(session)
                raise NotFoundError(NO_CROP)
            check.require_distinct_person(session, requested_by=lead.requested_by)
            candidate = session.scalar(
                select(LeadCandidate).where(
                    LeadCandidate.id == candidate_id, LeadCandidate.lead_id == lead.id
                )
            )
            crop = (
                session.scalar(
                    select(FaceCrop)
                    .join(Face, Face.id == FaceCrop.face_id)
                    .join(Collection, Collection.id == Face.collection_id)
                    .where(
                        FaceCrop.face_id == candidate.reference,
                        Collection.org_id == actor.org_id,
                        Collection.face_crops_reason.is_not(None),
                    )
                )
                if candidate is not None
                else None
            )
            if crop is None or self.box is None:
                raise NotFoundError(NO_CROP)
            jpeg = self.box.open_bytes(crop.sealed, crop_context(crop.face_id))
            self.audit.append(session, change_event(actor, "review.crop_view", details))
        return jpeg

    @staticmethod
    def _get(session: Session, actor: Actor, lead_id: str) -> Lead:
        lead = session.scalar(
            select(Lead)
            .options(selectinload(Lead.candidates).selectinload(LeadCandidate.reviews))
            .where(Lead.id == lead_id, Lead.org_id == actor.org_id)
        )
        if lead is None:
            raise NotFoundError("lead not found")
        return lead
