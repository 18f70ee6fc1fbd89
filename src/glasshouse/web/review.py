"""The review queue: leads from other people's searches, confirmed or rejected with a reason, and the
case record of a reviewed lead (printable HTML and JSON), always marked as an investigative lead.

The service enforces the rules (never one's own search, distinct reviewers, export only after review);
these pages only show what it allows and pass the decisions on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from glasshouse.errors import InvalidParameterError
from glasshouse.people.models import INVESTIGATOR, ORG_ADMIN, REVIEWER
from glasshouse.review.service import (
    LEAD_NOTICE,
    CandidateFace,
    CandidateView,
    LeadImages,
    LeadView,
)
from glasshouse.services import Services
from glasshouse.web import areas
from glasshouse.web.annotate import jpeg_data_uri
from glasshouse.web.deps import CsrfForm, Svc, WebUser, render, require_roles

router = APIRouter(prefix="/ui/review", include_in_schema=False)

#: Who reviews: reviewers, and organisation admins.
Reviewer = Annotated[WebUser, Depends(require_roles(*areas.REVIEW.roles))]
#: Who may open a lead and its case record: also the investigator who searched.
LeadReader = Annotated[WebUser, Depends(require_roles(REVIEWER, ORG_ADMIN, INVESTIGATOR))]
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class CandidateCard:
    candidate: CandidateView
    face: CandidateFace | None
    #: The enrolled face's crop route, where one is kept and this user may see it.
    image: str | None
    can_review: bool


@dataclass(frozen=True, slots=True)
class LeadCard:
    lead: LeadView
    probe_image: str | None
    probe_box: dict[str, Any] | None
    candidates: list[CandidateCard]
    own: bool
    #: Whether the searched collection keeps enrolled faces' crops (None: unknown, e.g. deleted since).
    crops_kept: bool | None = None
    #: Whether this user may see kept crops (a reviewer of the lead, not its searcher).
    may_see_crops: bool = False

    @property
    def exportable(self) -> bool:
        return self.lead.status == "confirmed"


def lead_card(svc: Services, user: WebUser, lead: LeadView, images: LeadImages) -> LeadCard:
    """What a page shows of a lead: the images, and which candidates this user may still review (the
    service decides; this only hides buttons it would refuse)."""
    principal = user.actor.principal
    own = lead.requested_by == principal
    may_review = svc.duties.may(user.roles, "review")
    cards = []
    for c in lead.candidates:
        face = images.candidates.get(c.id)
        reviewed = any(r["reviewer"] == principal for r in c.reviews)
        can = may_review and not own and not reviewed and c.status == "pending"
        image = crop_href(lead.id, c.id) if face and face.has_crop and may_review and not own else None
        cards.append(CandidateCard(c, face, image, can))
    probe = jpeg_data_uri(images.probe_jpeg) if images.probe_jpeg else None
    return LeadCard(lead, probe, images.probe_box, cards, own, images.crops_kept, may_review and not own)


def crop_href(lead_id: str, candidate_id: str) -> str:
    return f"/ui/review/leads/{quote(lead_id, safe='')}/candidates/{quote(candidate_id, safe='')}/crop"


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def queue(request: Request, svc: Svc, user: Reviewer) -> Response:
    """Leads waiting for this reviewer (never their own searches, nor those they already reviewed)."""
    leads = svc.reviews.pending_for(user.actor)
    cards = [lead_card(svc, user, lead, svc.reviews.images(user.actor, lead.id)) for lead in leads]
    return render(request, "review/queue.html", {"cards": cards, "notice_text": LEAD_NOTICE})


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(request: Request, lead_id: str, svc: Svc, user: LeadReader) -> Response:
    lead = svc.reviews.get(user.actor, lead_id)  # another organisation's lead: 404
    card = lead_card(svc, user, lead, svc.reviews.images(user.actor, lead_id))
    reviewed = request.query_params.get("reviewed")
    notice = "Your review was recorded." if reviewed in ("confirm", "reject") else None
    return render(request, "review/lead.html", {"card": card, "notice": notice, "notice_text": LEAD_NOTICE})


@router.post("/leads/{lead_id}/candidates/{candidate_id}")
def review_candidate(lead_id: str, candidate_id: str, svc: Svc, user: Reviewer, form: CsrfForm) -> Response:
    """Confirm or reject one candidate, with a reason (own searches and second reviews: 409)."""
    decision = str(form.get("decision") or "")
    reason = str(form.get("reason") or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidParameterError(f"a reason is at most {MAX_REASON} characters")
    lead = svc.reviews.review(user.actor, lead_id, candidate_id, decision, reason)
    if lead.status == "rejected":
        svc.reviews.discard_probe_image(user.actor, lead_id)  # nothing left to look at: drop the crop
    return RedirectResponse(f"/ui/review/leads/{lead.id}?reviewed={decision}", status_code=303)


@router.get("/leads/{lead_id}/candidates/{candidate_id}/crop")
def candidate_crop(lead_id: str, candidate_id: str, svc: Svc, user: Reviewer) -> Response:
    """A candidate's enrolled-face crop (collections that keep them), only for a reviewer of the lead;
    each view audited, never cached. Every other case is one 404 that says nothing more."""
    jpeg = svc.reviews.candidate_crop(user.actor, lead_id, candidate_id)
    return Response(
        jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/leads/{lead_id}/record", response_class=HTMLResponse)
def case_record(request: Request, lead_id: str, svc: Svc, user: LeadReader) -> Response:
    """The printable case record; 409 until every candidate is reviewed and one is confirmed."""
    record = svc.reviews.export(user.actor, lead_id)
    card = lead_card(svc, user, svc.reviews.get(user.actor, lead_id), svc.reviews.images(user.actor, lead_id))
    return render(request, "review/record.html", {"record": record, "card": card})


@router.get("/leads/{lead_id}/record.json")
def case_record_json(lead_id: str, svc: Svc, user: LeadReader) -> Response:
    record = svc.reviews.export(user.actor, lead_id)
    return Response(
        json.dumps(record, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="lead-{lead_id}.json"',
            "Cache-Control": "no-store",
        },
    )
