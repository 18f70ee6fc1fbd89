"""``/v1`` routes. Each biometric route runs inside the policy gate and declares its capability in the
OpenAPI document (``x-glasshouse-capability``), which a test uses to prove every one is gated."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from glasshouse.errors import InvalidParameterError
from glasshouse.faces.serialise import face_dict
from glasshouse.governance import policy as pol
from glasshouse.governance.gate import RequestContext
from glasshouse.http.body_limit import body_limit, image_request_bytes
from glasshouse.rest.auth import CurrentActor, HeadersFirstRoute, Operator, Svc
from glasshouse.review.leads import search_collection

router = APIRouter(prefix="/v1", route_class=HeadersFirstRoute)


def _capability(capability: pol.Capability) -> dict[str, Any]:
    return {"x-glasshouse-capability": capability.value}


def _image(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterError("image must be base64-encoded JPEG or PNG bytes") from None


class Obliged(BaseModel):
    purpose: str | None = Field(default=None, description="One of the policy's purposes.")
    case_number: str | None = None
    warrant: str | None = None
    warrant_expires: datetime | None = None

    def request(self, **inputs: Any) -> RequestContext:
        return RequestContext(self.purpose, self.case_number, self.warrant, self.warrant_expires, inputs)


# -- organisations (operators) -------------------------------------------------------------------------------
class OrganisationIn(BaseModel):
    name: str
    sector: str
    jurisdiction: str | None = None
    flags: list[str] = []
    is_operator: bool = False


class OrganisationPatch(BaseModel):
    sector: str | None = None
    jurisdiction: str | None = None
    add_flags: list[str] = []
    remove_flags: list[str] = []
    verified: bool | None = None
    reason: str = ""


class ApprovalIn(BaseModel):
    kind: str
    reference: str
    expires_at: datetime | None = None


@router.get("/organisations", tags=["organisations"])
def list_organisations(svc: Svc, _: Operator) -> list[dict[str, Any]]:
    return [o.view() for o in svc.organisations.get_all()]


@router.post("/organisations", status_code=201, tags=["organisations"])
def create_organisation(body: OrganisationIn, svc: Svc, by: Operator) -> dict[str, Any]:
    org = svc.organisations.create(
        by,
        body.name,
        sector=body.sector,
        jurisdiction=body.jurisdiction,
        flags=body.flags,
        is_operator=body.is_operator,
    )
    return org.view()


@router.patch("/organisations/{name}", tags=["organisations"])
def update_organisation(name: str, body: OrganisationPatch, svc: Svc, by: Operator) -> dict[str, Any]:
    org = svc.organisations.update(
        by,
        name,
        sector=body.sector,
        jurisdiction=body.jurisdiction,
        add_flags=body.add_flags,
        remove_flags=body.remove_flags,
        verified=body.verified,
        reason=body.reason,
    )
    return org.view()


@router.post("/organisations/{name}/approvals", status_code=201, tags=["organisations"])
def add_approval(name: str, body: ApprovalIn, svc: Svc, by: Operator) -> dict[str, Any]:
    record = svc.organisations.add_approval(
        by, name, kind=body.kind, reference=body.reference, expires_at=body.expires_at
    )
    return {
        "id": record.id,
        "kind": record.kind,
        "reference": record.reference,
        "expires_at": record.expires_at,
    }


# -- policy ------------------------------------------------------------------------------------------------
class PolicyChange(BaseModel):
    reason: str = Field(min_length=1)
    end: datetime | None = Field(
        default=None, description="extend/reimpose: until when (null: further notice)"
    )


class PolicyDocumentIn(BaseModel):
    document: Any = Field(description="The whole policy (as the YAML file, in JSON); checked on arrival.")
    reason: str = Field(min_length=1)


@router.get("/policy", tags=["policy"])
def get_policy(svc: Svc, _: CurrentActor) -> dict[str, Any]:
    version, document = svc.policies.active()
    return {"version": version, "document": document.model_dump(mode="json")}


@router.get("/policy/versions", tags=["policy"])
def policy_versions(svc: Svc, _: CurrentActor) -> list[dict[str, Any]]:
    return [
        {
            "version": v.version,
            "source": v.source,
            "author": v.author,
            "reason": v.reason,
            "created_at": v.created_at,
        }
        for v in svc.policies.versions()
    ]


@router.put("/policy", tags=["policy"])
def replace_policy(body: PolicyDocumentIn, svc: Svc, by: Operator) -> dict[str, Any]:
    document = pol.parse_policy(body.document)  # a typed 400 naming every problem
    return {"version": svc.policies.change(by, document, body.reason)}


@router.post("/policy/rules/{rule_id}/lift", tags=["policy"])
def lift(rule_id: str, body: PolicyChange, svc: Svc, by: Operator) -> dict[str, Any]:
    return {"version": svc.policies.lift(by, rule_id, body.reason)}


@router.post("/policy/rules/{rule_id}/reimpose", tags=["policy"])
def reimpose(rule_id: str, body: PolicyChange, svc: Svc, by: Operator) -> dict[str, Any]:
    return {"version": svc.policies.reimpose(by, rule_id, body.reason, end=body.end)}


@router.post("/policy/rules/{rule_id}/extend", tags=["policy"])
def extend(rule_id: str, body: PolicyChange, svc: Svc, by: Operator) -> dict[str, Any]:
    return {"version": svc.policies.extend(by, rule_id, body.reason, end=body.end)}


# -- gated face operations ---------------------------------------------------------------------------------
class DetectIn(Obliged):
    image: str


class CompareIn(Obliged):
    source: str
    target: str
    threshold: float = Field(default=80.0, ge=0, le=100)


class SearchIn(Obliged):
    image: str
    threshold: float = Field(default=80.0, ge=0, le=100)
    max_faces: int = Field(default=5, ge=1, le=4096)


@router.post("/faces/detect", tags=["faces"], openapi_extra=_capability(pol.Capability.FACE_DETECT))
@body_limit(image_request_bytes)
def detect(body: DetectIn, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    data = _image(body.image)
    with svc.gate.guard(actor, pol.Capability.FACE_DETECT, body.request()) as grant:
        result = svc.analyser.analyse(data, embed=False)
        grant.note(faces=len(result.faces))
    return {"width": result.width, "height": result.height, "faces": [face_dict(f) for f in result.faces]}


@router.post("/faces/compare", tags=["faces"], openapi_extra=_capability(pol.Capability.FACE_COMPARE))
@body_limit(image_request_bytes)
def compare(body: CompareIn, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    source, target = _image(body.source), _image(body.target)
    with svc.gate.guard(actor, pol.Capability.FACE_COMPARE, body.request()) as grant:
        threshold = grant.similarity_at_least(body.threshold)
        result = svc.analyser.compare(source, target, similarity_threshold=threshold)
        if result is None:
            raise InvalidParameterError("no face found in the source image")
        matches = result.matches[: grant.at_most(len(result.matches))]
        grant.note(matches=len(matches))
    return {
        "threshold": threshold,
        "source_face": face_dict(result.source),
        "matches": [{"similarity": m.similarity, "face": face_dict(m.face)} for m in matches],
    }


@router.post(
    "/collections/{collection}/search", tags=["faces"], openapi_extra=_capability(pol.Capability.FACE_SEARCH)
)
@body_limit(image_request_bytes)
def search(collection: str, body: SearchIn, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    data = _image(body.image)
    with svc.gate.guard(actor, pol.Capability.FACE_SEARCH, body.request(collection=collection)) as grant:
        found = search_collection(
            svc.collections,
            svc.reviews,
            grant,
            collection,
            data,
            threshold=body.threshold,
            max_faces=body.max_faces,
        )
    result, threshold, lead_id = found.result, found.threshold, found.lead_id
    return {
        "threshold": threshold,
        "lead_id": lead_id,
        "review": "pending" if lead_id else None,
        "searched_face": face_dict(result.probe) if result.probe else None,
        "matches": [
            {"face_id": m.face.id, "external_image_id": m.face.external_image_id, "similarity": m.similarity}
            for m in result.matches
        ],
    }


# -- review --------------------------------------------------------------------------------------------------
class ReviewIn(BaseModel):
    decision: str = Field(pattern="^(confirm|reject)$")
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/leads", tags=["review"])
def pending_leads(svc: Svc, actor: CurrentActor) -> list[dict[str, Any]]:
    """Leads waiting for the caller's review (never the caller's own searches)."""
    return [lead.as_dict() for lead in svc.reviews.pending_for(actor)]


@router.get("/leads/{lead_id}", tags=["review"])
def get_lead(lead_id: str, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    return svc.reviews.get(actor, lead_id).as_dict()


@router.post("/leads/{lead_id}/candidates/{candidate_id}/review", tags=["review"])
def review(lead_id: str, candidate_id: str, body: ReviewIn, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    return svc.reviews.review(actor, lead_id, candidate_id, body.decision, body.reason).as_dict()


@router.get("/leads/{lead_id}/export", tags=["review"])
def export_lead(lead_id: str, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """The case record of a reviewed lead (refused with 409 while any candidate awaits review)."""
    return svc.reviews.export(actor, lead_id)


# -- collections --------------------------------------------------------------------------------------------
class CollectionIn(BaseModel):
    name: str
    retention_days: int | None = None
    consent_required: bool = False
    #: Opt in to keeping each enrolled face's crop (encrypted) for reviewers: why (required to opt in).
    face_crops_reason: str | None = Field(default=None, max_length=2000)
    #: The face model every face of the collection is embedded with (an installed pack; default: the server's).
    model: str | None = Field(default=None, max_length=64)


@router.post("/collections", status_code=201, tags=["collections"])
def create_collection(body: CollectionIn, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """Create a collection in the default region; the crop opt-in is made here, once, and audited."""
    collection = svc.collections.create(
        actor.org_id,
        body.name,
        retention_days=body.retention_days,
        consent_required=body.consent_required,
        face_crops_reason=body.face_crops_reason,
        by=actor,
        model=body.model,
    )
    return {
        "collection": collection.name,
        "region": collection.region,
        "retention_days": collection.retention_days,
        "consent_required": collection.consent_required,
        "face_crops_kept": collection.keeps_face_crops,
        "face_model_version": collection.face_model_version,
    }


# -- consent and retention -----------------------------------------------------------------------------------
class SubjectDeletion(BaseModel):
    external_image_id: str | None = None
    user_id: str | None = None
    #: The region of a collection made through the Rekognition API (default: GLASSHOUSE_DEFAULT_REGION).
    region: str | None = None


@router.post("/collections/{collection}/subject-deletions", status_code=201, tags=["consent"])
def delete_subject(collection: str, body: SubjectDeletion, svc: Svc, actor: CurrentActor) -> dict[str, Any]:
    """Delete every face of a person on their request; returns the deletion certificate."""
    cert = svc.retention.delete_subject(
        actor, collection, external_image_id=body.external_image_id, user_id=body.user_id, region=body.region
    )
    return {
        "certificate_id": cert.id,
        "collection": cert.collection,
        "reason": cert.reason,
        "faces_deleted": cert.face_count,
        "face_ids_sha256": cert.face_ids_sha256,
        "face_crops_deleted": cert.crops_deleted,
        "created_at": cert.created_at,
    }


# -- audit ---------------------------------------------------------------------------------------------------
@router.get("/audit/verify", tags=["audit"])
def verify_audit(svc: Svc, _: Operator) -> dict[str, Any]:
    """The chain, checked against every signed checkpoint published to the checkpoint file."""
    checked = svc.checkpoints.verify()
    report = checked.report
    return {
        "ok": report.ok,
        "entries": report.entries,
        "first_bad_seq": report.first_bad_seq,
        "problem": report.problem,
        "checkpoints": checked.checkpoints,
    }
