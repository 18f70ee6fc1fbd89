"""Collections in the UI: create, describe and delete them; enrol faces from one or many images; list and
delete faces; manage users (identities) and their faces.

The same domain services, gate and audit as the Rekognition API: enrolment and association are the
``face.index`` capability (one gate decision and audit entry per image), the rest touches no biometric
data (as CreateCollection, ListFaces, DeleteFaces, CreateUser and DisassociateFaces do on the API).
Uploaded images are analysed in memory and not kept.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from glasshouse.audit.service import digest
from glasshouse.collections.ids import safe_external_image_id
from glasshouse.engine.quality import QualityFilter
from glasshouse.errors import GlasshouseError, InvalidParameterError
from glasshouse.governance.decision import obligations_in_words
from glasshouse.governance.gate import PolicyDenied, RequestContext
from glasshouse.governance.policy import PURPOSES, Capability
from glasshouse.http.body_limit import FORM_SLACK, body_limit
from glasshouse.rest.errors import status_of
from glasshouse.services import Services
from glasshouse.web import areas
from glasshouse.web.deps import CsrfForm, Svc, WebUser, field, render, require_roles

router = APIRouter(prefix="/ui/collections", include_in_schema=False)

Manager = Annotated[WebUser, Depends(require_roles(*areas.COLLECTIONS.roles))]
#: Faces shown per page of a collection.
PAGE_SIZE = 100
#: Images one enrolment form may carry (each is one gated, audited enrolment).
MAX_IMAGES_PER_FORM = 50


def _href(name: str, **query: str) -> str:
    path = f"/ui/collections/{quote(name, safe='')}"
    return f"{path}?{urlencode(query)}" if query else path


def _sentence(done: str) -> str:
    """A redirect's ``done`` note as the page's notice: "collection created" → "Collection created."."""
    return f"{done[:1].upper()}{done[1:]}." if done else ""


def _redirect(name: str | None, **query: str) -> RedirectResponse:
    path = _href(name, **query) if name else f"/ui/collections/?{urlencode(query)}"
    return RedirectResponse(path, status_code=303)


def _index_state(svc: Services, user: WebUser) -> dict[str, Any]:
    decision = svc.gate.decide(user.actor, Capability.FACE_INDEX)
    return {
        "allowed": decision.allowed,
        "message": decision.message,
        "obligations": obligations_in_words(decision.obligations),
    }


# -- the list ----------------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def collections_page(request: Request, user: Manager, svc: Svc, done: str = "") -> Response:
    return _list_page(request, svc, user, notice=_sentence(done))


def _list_page(
    request: Request,
    svc: Services,
    user: WebUser,
    *,
    notice: str = "",
    error: str = "",
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rows = [
        {
            "collection": c,
            "faces": svc.collections.face_count(c),
            "users": svc.users.count(c),
            "href": _href(c.name),
        }
        for c in svc.collections.get_all(user.org_id)
    ]
    models = [(c.name, c.summary) for c in svc.models.installed()]
    context = {
        "rows": rows,
        "notice": notice,
        "error": error,
        "values": values or {},
        "models": models,
        "default_model": svc.settings.face_model,
    }
    return render(request, "collections/index.html", context, status_code=status_code)


@router.post("/", response_class=HTMLResponse)
def create_collection(request: Request, user: Manager, form: CsrfForm, svc: Svc) -> Response:
    fields = ("name", "retention_days", "keep_face_crops", "face_crops_reason", "model")
    values = {k: field(form, k) for k in fields}
    try:
        retention = values["retention_days"]
        if retention and not retention.isdigit():
            raise InvalidParameterError("retention must be a whole number of days")
        keep_crops = values["keep_face_crops"] == "on"
        if keep_crops and not values["face_crops_reason"].strip():
            raise InvalidParameterError("state why this collection keeps enrolled faces' crops")
        svc.collections.create(
            user.org_id,
            values["name"],
            retention_days=int(retention) if retention else None,
            consent_required=field(form, "consent_required") == "on",
            face_crops_reason=values["face_crops_reason"] if keep_crops else None,
            by=user.actor,
            model=values["model"] or None,
        )
    except GlasshouseError as exc:
        return _list_page(request, svc, user, error=exc.message, values=values, status_code=status_of(exc))
    return _redirect(values["name"], done="collection created")


# -- one collection ----------------------------------------------------------------------------------------
@router.get("/{name}", response_class=HTMLResponse)
def collection_page(
    request: Request, name: str, user: Manager, svc: Svc, after: str = "", done: str = ""
) -> Response:
    return _collection_page(request, svc, user, name, after=after or None, notice=_sentence(done))


def _collection_page(
    request: Request,
    svc: Services,
    user: WebUser,
    name: str,
    *,
    after: str | None = None,
    notice: str = "",
    error: str = "",
    denial: str = "",
    report: list[dict[str, Any]] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    collection = svc.collections.get(user.org_id, name)
    faces = svc.collections.list_faces(user.org_id, name, after=after, limit=PAGE_SIZE + 1)
    context = {
        "collection": collection,
        "href": _href(name),
        "face_count": svc.collections.face_count(collection),
        "faces": faces[:PAGE_SIZE],
        "next": _href(name, after=faces[PAGE_SIZE - 1].id) if len(faces) > PAGE_SIZE else None,
        "users": svc.users.get_all(user.org_id, name, after=None, limit=1000),
        "index": _index_state(svc, user),
        "purposes": PURPOSES,
        "notice": notice,
        "error": error,
        "denial": denial,
        "report": report,
        "values": values or {},
    }
    return render(request, "collections/collection.html", context, status_code=status_code)


@router.post("/{name}/delete", response_class=HTMLResponse)
def delete_collection(request: Request, name: str, user: Manager, form: CsrfForm, svc: Svc) -> Response:
    if field(form, "confirm") != name:
        return _collection_page(
            request, svc, user, name, error="type the collection's name to delete it", status_code=400
        )
    svc.collections.delete(user.org_id, name)
    return _redirect(None, done="collection deleted")


def _declarations(form: FormData, **inputs: Any) -> RequestContext:
    return RequestContext(
        purpose=field(form, "purpose") or None,
        case_number=field(form, "case_number") or None,
        warrant=field(form, "warrant") or None,
        inputs=inputs,
    )


def _images(form: FormData, limit: int) -> list[tuple[str, bytes]]:
    files = [f for f in form.getlist("images") if isinstance(f, UploadFile) and f.filename]
    if not files:
        raise InvalidParameterError("choose at least one image to enrol")
    if len(files) > MAX_IMAGES_PER_FORM:
        raise InvalidParameterError(f"enrol at most {MAX_IMAGES_PER_FORM} images at a time")
    return [(f.filename or "", f.file.read(limit + 1)) for f in files]  # the decoder refuses oversize


def _external_id(filename: str, given: str, several: bool) -> str | None:
    """The ExternalImageId: the one typed in for a single image, else each file's name without extension."""
    if given and not several:
        return given  # the domain refuses one outside Rekognition's pattern
    stem = PurePath(filename.replace("\\", "/")).stem
    return safe_external_image_id(stem) if stem else None


@router.post("/{name}/faces", response_class=HTMLResponse)
@body_limit(lambda s: MAX_IMAGES_PER_FORM * s.max_image_bytes + FORM_SLACK)
def enrol(request: Request, name: str, user: Manager, form: CsrfForm, svc: Svc) -> Response:
    """Enrol every face passing the quality filter in each uploaded image; one gate decision per image."""
    values = {k: field(form, k) for k in ("external_image_id", "consent_reference", "purpose", "case_number")}
    collection = svc.collections.get(user.org_id, name)
    try:
        images = _images(form, svc.settings.max_image_bytes)
    except GlasshouseError as exc:
        return _collection_page(
            request, svc, user, name, error=exc.message, values=values, status_code=status_of(exc)
        )
    report: list[dict[str, Any]] = []
    for filename, data in images:
        external = _external_id(filename, values["external_image_id"], len(images) > 1)
        context = _declarations(form, collection=collection.name, image=digest(data))
        try:
            with svc.gate.guard(user.actor, Capability.FACE_INDEX, context) as grant:
                outcome = svc.collections.index_image(
                    user.org_id,
                    name,
                    data,
                    external_image_id=external,
                    quality_filter=QualityFilter.AUTO,
                    consent_reference=values["consent_reference"] or None,
                )
                grant.note(indexed=len(outcome.indexed), unindexed=len(outcome.unindexed))
        except PolicyDenied as exc:
            return _collection_page(
                request, svc, user, name, denial=exc.message, values=values, report=report, status_code=403
            )
        except GlasshouseError as exc:
            report.append({"file": filename, "external_image_id": external, "error": exc.message})
            continue
        report.append(
            {
                "file": filename,
                "external_image_id": external,
                "indexed": len(outcome.indexed),
                "unindexed": [", ".join(u.reasons) for u in outcome.unindexed],
            }
        )
    failed = any("error" in r for r in report)
    return _collection_page(
        request, svc, user, name, report=report, values=values, status_code=400 if failed else 200
    )


@router.post("/{name}/faces/delete", response_class=HTMLResponse)
def delete_faces(request: Request, name: str, user: Manager, form: CsrfForm, svc: Svc) -> Response:
    face_ids = [f for f in form.getlist("face_id") if isinstance(f, str) and f]
    if not face_ids:
        return _collection_page(request, svc, user, name, error="select faces to delete", status_code=400)
    deleted, _ = svc.collections.delete_faces(user.org_id, name, face_ids)
    return _redirect(name, done=f"{len(deleted)} face{'' if len(deleted) == 1 else 's'} deleted")


# -- users -------------------------------------------------------------------------------------------------
@router.post("/{name}/users", response_class=HTMLResponse)
def create_user(request: Request, name: str, user: Manager, form: CsrfForm, svc: Svc) -> Response:
    try:
        svc.users.create(user.org_id, name, field(form, "user_id"))
    except GlasshouseError as exc:
        return _collection_page(request, svc, user, name, error=exc.message, status_code=status_of(exc))
    return _redirect(name, done="user created")


@router.post("/{name}/users/{user_id}/delete", response_class=HTMLResponse)
def delete_user(
    request: Request, name: str, user_id: str, user: Manager, form: CsrfForm, svc: Svc
) -> Response:
    svc.users.delete(user.org_id, name, user_id)
    return _redirect(name, done="user deleted (their faces stay in the collection)")


@router.post("/{name}/users/associate", response_class=HTMLResponse)
def associate(request: Request, name: str, user: Manager, form: CsrfForm, svc: Svc) -> Response:
    """Associate the selected faces with a user: a face.index use of the policy, like AssociateFaces."""
    face_ids = [f for f in form.getlist("face_id") if isinstance(f, str) and f]
    target = field(form, "user_id")
    try:
        if not face_ids or not target:
            raise InvalidParameterError("select faces and a user to associate them with")
        context = _declarations(form, collection=name, user=target, faces=len(face_ids))
        with svc.gate.guard(user.actor, Capability.FACE_INDEX, context) as grant:
            result = svc.users.associate(user.org_id, name, target, face_ids)
            grant.note(associated=len(result.associated), unsuccessful=len(result.unsuccessful))
    except PolicyDenied as exc:
        return _collection_page(request, svc, user, name, denial=exc.message, status_code=403)
    except GlasshouseError as exc:
        return _collection_page(request, svc, user, name, error=exc.message, status_code=status_of(exc))
    refused = "; ".join(f"{fid[:8]}…: {reason}" for fid, reason, _, _ in result.unsuccessful)
    message = f"{len(result.associated)} associated with {target}" + (
        f"; not associated: {refused}" if refused else ""
    )
    return _redirect(name, done=message)


@router.post("/{name}/users/{user_id}/disassociate", response_class=HTMLResponse)
def disassociate(
    request: Request, name: str, user_id: str, user: Manager, form: CsrfForm, svc: Svc
) -> Response:
    face_ids = [f for f in form.getlist("face_id") if isinstance(f, str) and f]
    result = svc.users.disassociate(user.org_id, name, user_id, face_ids)
    return _redirect(name, done=f"{len(result.associated)} face(s) no longer associated with {user_id}")
