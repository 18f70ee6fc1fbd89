"""The organisation console: detect, compare and search on uploaded images, through the policy gate.

Each form declares a purpose and a case number as the policy's obligations ask; a denial (the moratorium,
a missing purpose) is shown in the page with status 403 instead of results. Results come back as the
image with boxes and landmarks drawn on an in-memory copy (a ``data:`` URI); nothing is written to disk.
A reviewed search keeps the probe's small face crop with its lead, for the reviewers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from glasshouse.audit.service import digest
from glasshouse.errors import InvalidInputError, InvalidParameterError
from glasshouse.faces.serialise import face_dict
from glasshouse.governance.decision import obligations_in_words
from glasshouse.governance.gate import PolicyDenied, RequestContext
from glasshouse.governance.policy import PURPOSES, Capability
from glasshouse.http.body_limit import body_limit, image_request_bytes
from glasshouse.review.leads import search_collection
from glasshouse.services import Services
from glasshouse.web import annotate, areas
from glasshouse.web.annotate import MATCH_COLOUR, OTHER_COLOUR, PROBE_COLOUR, Mark
from glasshouse.web.deps import CsrfForm, Svc, WebUser, form_values, render, require_roles

router = APIRouter(prefix="/ui/console", include_in_schema=False)

Investigator = Annotated[WebUser, Depends(require_roles(*areas.CONSOLE.roles))]
#: The forms of the console, with the capability each one uses.
FORMS: tuple[tuple[str, Capability, str], ...] = (
    ("detect", Capability.FACE_DETECT, "Detect faces"),
    ("compare", Capability.FACE_COMPARE, "Compare two faces"),
    ("search", Capability.FACE_SEARCH, "Search a collection"),
)


@dataclass(frozen=True, slots=True)
class FormState:
    """Whether the policy allows a form's capability now, and what it obliges (shown before submitting)."""

    name: str
    capability: str
    title: str
    allowed: bool
    message: str
    obligations: list[str]


def _obligations(svc: Services, user: WebUser, capability: Capability) -> FormState:
    name, _, title = next(f for f in FORMS if f[1] == capability)
    decision = svc.gate.decide(user.actor, capability)
    needs = obligations_in_words(decision.obligations)
    return FormState(name, capability.value, title, decision.allowed, decision.message, needs)


def _page(
    request: Request,
    svc: Services,
    user: WebUser,
    *,
    status_code: int = 200,
    result: dict[str, Any] | None = None,
    denial: str | None = None,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    context = {
        "forms": {cap: _obligations(svc, user, cap) for _, cap, _ in FORMS},
        "purposes": PURPOSES,
        "collections": [c.name for c in svc.collections.get_all(user.org_id)],
        "result": result,
        "denial": denial,
        "error": error,
        "values": values or {},
    }
    return render(request, "console/index.html", context, status_code=status_code)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def console(request: Request, svc: Svc, user: Investigator) -> Response:
    return _page(request, svc, user)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _upload(form: FormData, name: str, limit: int) -> bytes:
    item = form.get(name)
    if not isinstance(item, UploadFile) or not item.filename:
        raise InvalidParameterError(f"choose an image file for '{name}'")
    return item.file.read(limit + 1)  # the decoder refuses anything over the limit


def _number(form: FormData, name: str, default: float, low: float, high: float) -> float:
    raw = _text(form, name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise InvalidParameterError(f"{name} must be a number") from None
    if not low <= value <= high:
        raise InvalidParameterError(f"{name} must be between {low:g} and {high:g}")
    return value


def _context(form: FormData, **inputs: Any) -> RequestContext:
    return RequestContext(
        purpose=_text(form, "purpose") or None,
        case_number=_text(form, "case_number") or None,
        warrant=_text(form, "warrant") or None,
        inputs=inputs,
    )


def _run(request: Request, svc: Services, user: WebUser, form: FormData, kind: str) -> Response:
    """Run one console operation, rendering denials (403) and bad input (400) in the console page."""
    values = form_values(form)
    try:
        result = _OPERATIONS[kind](svc, user, form)
    except PolicyDenied as exc:
        return _page(request, svc, user, status_code=403, denial=exc.message, values=values)
    except InvalidInputError as exc:
        return _page(request, svc, user, status_code=400, error=exc.message, values=values)
    return _page(request, svc, user, result=result, values=values)


def _detect(svc: Services, user: WebUser, form: FormData) -> dict[str, Any]:
    data = _upload(form, "image", svc.settings.max_image_bytes)
    with svc.gate.guard(user.actor, Capability.FACE_DETECT, _context(form, image=digest(data))) as grant:
        result = svc.analyser.analyse(data, embed=False)
        grant.note(faces=len(result.faces))
    marks = [Mark(f, str(i), OTHER_COLOUR) for i, f in enumerate(result.faces, start=1)]
    return {
        "kind": "detect",
        "images": [("Detected faces", annotate.data_uri(annotate.annotate(result.image, marks)))],
        "size": (result.width, result.height),
        "faces": [face_dict(f) for f in result.faces],
    }


def _compare(svc: Services, user: WebUser, form: FormData) -> dict[str, Any]:
    limit = svc.settings.max_image_bytes
    source, target = _upload(form, "source", limit), _upload(form, "target", limit)
    requested = _number(form, "threshold", 80.0, 0.0, 100.0)
    inputs = {"source": digest(source), "target": digest(target)}
    with svc.gate.guard(user.actor, Capability.FACE_COMPARE, _context(form, **inputs)) as grant:
        threshold = grant.similarity_at_least(requested)
        comparison = svc.analyser.compare(source, target, similarity_threshold=threshold)
        if comparison is None:
            raise InvalidParameterError("no face found in the source image")
        matches = comparison.matches[: grant.at_most(len(comparison.matches))]
        grant.note(matches=len(matches))
        source_image, target_image = svc.analyser.decode(source), svc.analyser.decode(target)
    probe = [Mark(comparison.source, "source", PROBE_COLOUR)]
    marks = [Mark(m.face, f"{m.similarity:.1f}%", MATCH_COLOUR) for m in matches]
    marks += [Mark(f, "", OTHER_COLOUR) for f in comparison.unmatched]
    return {
        "kind": "compare",
        "threshold": threshold,
        "images": [
            ("Source face", annotate.data_uri(annotate.annotate(source_image, probe))),
            ("Faces in the target", annotate.data_uri(annotate.annotate(target_image, marks))),
        ],
        "matches": [{"similarity": m.similarity, "face": face_dict(m.face)} for m in matches],
        "unmatched": len(comparison.unmatched),
    }


def _search(svc: Services, user: WebUser, form: FormData) -> dict[str, Any]:
    collection = _text(form, "collection")
    if not collection:
        raise InvalidParameterError("choose a collection to search")
    data = _upload(form, "image", svc.settings.max_image_bytes)
    requested = _number(form, "threshold", 80.0, 0.0, 100.0)
    wanted = int(_number(form, "max_faces", 5, 1, 100))
    context = _context(form, collection=collection, image=digest(data))
    with svc.gate.guard(user.actor, Capability.FACE_SEARCH, context) as grant:
        governed = search_collection(
            svc.collections, svc.reviews, grant, collection, data, threshold=requested, max_faces=wanted
        )
        found, threshold, lead_id = governed.result, governed.threshold, governed.lead_id
        if lead_id is not None and found.probe is not None:
            box = found.probe.detection.box
            svc.reviews.keep_probe_image(
                user.actor,
                lead_id,
                annotate.face_crop(found.image.image, box),
                box=face_dict(found.probe)["box"],
                width=found.image.width,
                height=found.image.height,
            )
    marks = [Mark(found.probe, "searched face", PROBE_COLOUR)] if found.probe else []
    return {
        "kind": "search",
        "collection": collection,
        "threshold": threshold,
        "images": [("Searched face", annotate.data_uri(annotate.annotate(found.image.image, marks)))],
        "probe": face_dict(found.probe) if found.probe else None,
        "matches": [
            {
                "face_id": m.face.id,
                "external_image_id": m.face.external_image_id,
                "similarity": m.similarity,
            }
            for m in found.matches
        ],
        "lead_id": lead_id,
    }


_OPERATIONS = {"detect": _detect, "compare": _compare, "search": _search}


@router.post("/detect", response_class=HTMLResponse)
@body_limit(image_request_bytes)
def detect(request: Request, svc: Svc, user: Investigator, form: CsrfForm) -> Response:
    return _run(request, svc, user, form, "detect")


@router.post("/compare", response_class=HTMLResponse)
@body_limit(image_request_bytes)
def compare(request: Request, svc: Svc, user: Investigator, form: CsrfForm) -> Response:
    return _run(request, svc, user, form, "compare")


@router.post("/search", response_class=HTMLResponse)
@body_limit(image_request_bytes)
def search(request: Request, svc: Svc, user: Investigator, form: CsrfForm) -> Response:
    return _run(request, svc, user, form, "search")
