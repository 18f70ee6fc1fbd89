"""Community camera portal pages: the public feed and agency profiles (no sign-in), camera owners' cameras,
clips, inbox and settings, investigators' footage requests drawn on a map, and operators' two-person emergency
disclosure.

Every page calls ``svc.portal`` (the same service as the REST API, which applies the rules, the gate and the
audit); this module only turns forms into calls and views into HTML. Maps are Leaflet (the XStatic-Leaflet
package, served at ``/static/leaflet``) driven by ``static/portal/map.js``; with no tile server configured
(``map_tile_url`` empty) they still draw areas and camera markers.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, BinaryIO
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup
from starlette.datastructures import FormData, UploadFile

from glasshouse.config import Settings
from glasshouse.errors import GlasshouseError, InvalidParameterError, NotFoundError
from glasshouse.governance.policy import PURPOSES
from glasshouse.http.body_limit import FORM_SLACK, body_limit
from glasshouse.people.models import CAMERA_OWNER, INVESTIGATOR, OPERATOR
from glasshouse.portal import rules
from glasshouse.portal.models import APPROVED, PENDING
from glasshouse.portal.views import DisclosureView, FootageRequestInput
from glasshouse.rest.errors import status_of
from glasshouse.services import Services
from glasshouse.web import areas
from glasshouse.web.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfForm,
    OptionalUser,
    Svc,
    WebUser,
    field,
    render,
    require_roles,
    set_session_cookie,
    templates,
)
from glasshouse.web.errors import SECURITY_HEADERS

router = APIRouter(include_in_schema=False)

Owner = Annotated[WebUser, Depends(require_roles(*areas.CAMERA_PORTAL.roles))]
Investigator = Annotated[WebUser, Depends(require_roles(*areas.FOOTAGE_REQUESTS.roles))]
Operator = Annotated[WebUser, Depends(require_roles(*areas.EMERGENCY_DISCLOSURE.roles))]

#: Where Leaflet's files (from the XStatic-Leaflet package) are served.
LEAFLET_PATH = "/static/leaflet"
#: The first view of a map with nothing on it yet (overridable per page with ``?lat=&lon=``).
DEFAULT_CENTER = (51.4779, -0.0015)
CHUNK = 1024 * 1024
#: Circle radius the new-request form suggests (about 0.027 sq mi, just above the minimum area).
DEFAULT_RADIUS_M = 150
_CLIP_IDS = re.compile(r"[\s,]+")


def leaflet_dir() -> Path:
    """The directory of leaflet.js / leaflet.css / images in the installed XStatic-Leaflet package."""
    module = importlib.import_module("xstatic.pkg.leaflet")
    return Path(str(module.BASE_DIR))


def leaflet_files() -> StaticFiles:
    return StaticFiles(directory=leaflet_dir())


# -- small helpers ----------------------------------------------------------------------------------------


def _when(value: datetime | None) -> Markup:
    """A moment as ``<time>``: written in UTC, shown in the reader's own time zone by /static/localtime.js."""
    if value is None:
        return Markup("")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%d %H:%M:%S UTC" if value.second else "%Y-%m-%d %H:%M UTC")
    stamp = value.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}" data-local>{}</time>').format(stamp, text)


templates.env.filters["portal_time"] = _when


@dataclass(frozen=True, slots=True)
class Tiles:
    url: str
    attribution: str


def tiles_of(settings: Settings) -> Tiles:
    url = settings.map_tile_url.strip()
    host = urlsplit(url).hostname or ""
    return Tiles(url, f"Map tiles: {host}" if host else "")


def _tile_origin(url: str) -> str | None:
    """The tile server as a CSP source (``{s}.tile.example.org`` → ``*.tile.example.org``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    netloc = re.sub(r"\{[^}]*\}", "*", parts.netloc)
    return f"{parts.scheme}://{netloc}"


def _page(
    request: Request, svc: Services, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """A portal page: the shared context (tiles) and, when a tile server is configured, a CSP that lets
    the browser load its images (the default CSP allows images from this site only)."""
    tiles = tiles_of(svc.settings)
    # local_time: base.html loads /static/localtime.js (times in the reader's zone); pages elsewhere,
    # the public transparency report among them, stay free of scripts.
    full = {"tiles": tiles, "local_time": True, **context}
    response = render(request, template, full, status_code=status_code)
    origin = _tile_origin(tiles.url)
    if origin:
        policy = (
            SECURITY_HEADERS[0][1].decode().replace("img-src 'self' data:", f"img-src 'self' data: {origin}")
        )
        response.headers["content-security-policy"] = policy
    if not request.url.path.startswith("/ui"):
        for name, value in SECURITY_HEADERS:  # public pages: same headers as the UI
            if name.decode() not in response.headers:
                response.headers[name.decode()] = value.decode()
    return response


def time_zone(form: FormData) -> tzinfo:
    """The form's ``tz`` field: the browser's IANA time zone, filled in by /static/localtime.js (UTC when
    the browser ran no script, as the form's label then says)."""
    name = field(form, "tz")
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidParameterError(f"unknown time zone {name!r}") from None


def parse_local(value: str, what: str, zone: tzinfo) -> datetime:
    """A ``datetime-local`` (or ISO 8601) form value, read in ``zone`` when it names no zone; in UTC."""
    if not value:
        raise InvalidParameterError(f"{what} is required")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterError(f"{what} must be a date and time such as 2026-01-31T14:30") from None
    return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(UTC)


def _float(value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidParameterError(f"{what} must be a number") from None


def area_from_form(form: FormData) -> dict[str, Any]:
    """The drawn area: the hidden ``area`` field the map writes (JSON), or else the typed circle fields."""
    raw = field(form, "area")
    shape = field(form, "shape") or "circle"
    if raw:
        try:
            area = json.loads(raw)
        except ValueError:
            raise InvalidParameterError("the drawn area could not be read: draw it again") from None
        if isinstance(area, dict) and area.get("type") == shape:
            return area
    if shape == "polygon":
        raise InvalidParameterError("draw the polygon on the map: click at least three corners")
    return {
        "type": "circle",
        "center": [
            _float(field(form, "center_lat"), "the centre latitude"),
            _float(field(form, "center_lon"), "the centre longitude"),
        ],
        "radius_m": _float(field(form, "radius_m"), "the radius"),
    }


def _center(lat: str | None, lon: str | None, fallback: Sequence[float] | None = None) -> tuple[float, float]:
    try:
        if lat is not None and lon is not None:
            la, lo = float(lat), float(lon)
            rules.check_coordinates(la, lo)
            return la, lo
    except (ValueError, GlasshouseError):
        pass
    if fallback:
        return float(fallback[0]), float(fallback[1])
    return DEFAULT_CENTER


def _markers(cameras: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"name": c.name, "lat": c.latitude, "lon": c.longitude} for c in cameras]


def _area_center(area: dict[str, Any]) -> tuple[float, float]:
    if area.get("type") == "circle":
        return float(area["center"][0]), float(area["center"][1])
    points = area.get("points") or [[DEFAULT_CENTER[0], DEFAULT_CENTER[1]]]
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    upload.file.seek(0)
    while chunk := upload.file.read(CHUNK):
        yield chunk


def _stream(fh: BinaryIO, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    try:
        if start:
            fh.seek(start)
        left = length
        while left is None or left > 0:
            chunk = fh.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                break
            if left is not None:
                left -= len(chunk)
            yield chunk
    finally:
        fh.close()


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _media_response(
    request: Request, fh: BinaryIO, size: int, content_type: str, headers: dict[str, str]
) -> Response:
    """The clip's bytes, honouring one ``Range`` (so a <video> element can seek)."""
    found = _RANGE.match(request.headers.get("range", "").strip())
    if found and (found[1] or found[2]) and fh.seekable():
        if found[1]:
            start = int(found[1])
            end = min(int(found[2]), size - 1) if found[2] else size - 1
        else:
            start, end = max(size - int(found[2]), 0), size - 1
        if start > end or start >= size:
            fh.close()
            return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
        length = end - start + 1
        partial = {**headers, "content-range": f"bytes {start}-{end}/{size}", "content-length": str(length)}
        return StreamingResponse(_stream(fh, start, length), 206, partial, media_type=content_type)
    full = {**headers, "accept-ranges": "bytes", "content-length": str(size)}
    return StreamingResponse(_stream(fh), headers=full, media_type=content_type)


# -- public -------------------------------------------------------------------------------------------------


def _public_lists(requests: Sequence[Any]) -> dict[str, Any]:
    """Footage requests (answered by consent) and emergency disclosures (without it), listed and counted
    apart on the public pages."""
    return {
        "requests": [r for r in requests if r.kind != "emergency"],
        "disclosures": [r for r in requests if r.kind == "emergency"],
    }


@router.get("/portal")
def feed(request: Request, svc: Svc, user: OptionalUser) -> Response:
    return _page(request, svc, "portal/feed.html", _public_lists(svc.portal.public_feed()))


@router.get("/portal/agencies/{name}")
def agency(request: Request, name: str, svc: Svc, user: OptionalUser) -> Response:
    try:
        profile = svc.portal.agency_profile(name)
    except NotFoundError:
        message = "there is no such agency"
        return _page(request, svc, "error.html", {"status_code": 404, "message": message}, status_code=404)
    context = {"agency": profile, **_public_lists(profile.requests)}
    return _page(request, svc, "portal/agency.html", context)


# -- camera owners ------------------------------------------------------------------------------------------


@router.get("/ui/portal/signup")
def signup_page(request: Request, svc: Svc, user: OptionalUser) -> Response:
    if user is not None:
        return RedirectResponse("/ui/portal/cameras" if user.has(CAMERA_OWNER) else "/ui/", status_code=303)
    return _page(request, svc, "portal/signup.html", {})


@router.post("/ui/portal/signup")
def signup(request: Request, form: CsrfForm, svc: Svc) -> Response:
    email, name = field(form, "email"), field(form, "name")
    password = form.get("password")
    try:
        person = svc.portal.sign_up_owner(email, name, password if isinstance(password, str) else "")
    except GlasshouseError as exc:
        context = {"email": email, "name": name, "error": exc.message}
        return _page(request, svc, "portal/signup.html", context, status_code=status_of(exc))
    started = svc.people.start_session(person.id, replacing=request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/ui/portal/cameras", status_code=303)
    set_session_cookie(request, response, started.token)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/ui/portal")
@router.get("/ui/portal/")
def portal_home(user: OptionalUser) -> Response:
    """Each role's portal page."""
    if user is None:
        return RedirectResponse("/portal", status_code=303)
    if user.has(CAMERA_OWNER):
        return RedirectResponse("/ui/portal/inbox", status_code=303)
    if user.has(INVESTIGATOR):
        return RedirectResponse("/ui/portal/requests", status_code=303)
    if user.has(OPERATOR):
        return RedirectResponse("/ui/portal/emergency", status_code=303)
    return RedirectResponse("/portal", status_code=303)


def _cameras_page(
    request: Request, svc: Svc, user: WebUser, form: dict[str, str] | None = None, **extra: Any
) -> Response:
    cameras = svc.portal.list_cameras(user.person_id)
    markers = _markers(cameras)
    center = _center(request.query_params.get("lat"), request.query_params.get("lon"), _mean(markers))
    context = {"cameras": cameras, "markers": markers, "center": center, "form": form or {}, **extra}
    return _page(request, svc, "portal/cameras.html", context, status_code=extra.pop("status", 200))


def _mean(markers: Sequence[dict[str, Any]]) -> tuple[float, float] | None:
    if not markers:
        return None
    return (
        sum(m["lat"] for m in markers) / len(markers),
        sum(m["lon"] for m in markers) / len(markers),
    )


@router.get("/ui/portal/cameras")
def cameras(request: Request, user: Owner, svc: Svc) -> Response:
    return _cameras_page(request, svc, user)


@router.post("/ui/portal/cameras")
def register_camera(request: Request, user: Owner, form: CsrfForm, svc: Svc) -> Response:
    values = {k: field(form, k) for k in ("name", "latitude", "longitude", "note")}
    try:
        lat, lon = _float(values["latitude"], "latitude"), _float(values["longitude"], "longitude")
        camera = svc.portal.register_camera(user.person_id, values["name"], lat, lon, values["note"])
    except GlasshouseError as exc:
        return _cameras_page(request, svc, user, values, error=exc.message, status=status_of(exc))
    return _cameras_page(request, svc, user, notice=f"Camera {camera.name!r} registered.")


@router.post("/ui/portal/cameras/{camera_id}/delete")
def delete_camera(user: Owner, camera_id: str, form: CsrfForm, svc: Svc) -> Response:
    svc.portal.delete_camera(user.person_id, camera_id)
    return RedirectResponse("/ui/portal/cameras", status_code=303)


def _clips_page(request: Request, svc: Svc, user: WebUser, status_code: int = 200, **extra: Any) -> Response:
    cams = svc.portal.list_cameras(user.person_id)
    by_camera: dict[str, list[Any]] = {}
    for clip in svc.portal.list_clips(user.person_id):
        by_camera.setdefault(clip.camera_id, []).append(clip)
    prefs = svc.portal.settings(user.person_id)
    context = {
        "cameras": cams,
        "clips_by_camera": by_camera,
        "retention_days": prefs.retention_days,
        "max_mb": max(1, svc.settings.portal_clip_max_bytes // (1024 * 1024)),
        **extra,
    }
    return _page(request, svc, "portal/clips.html", context, status_code=status_code)


@router.get("/ui/portal/clips")
def clips(request: Request, user: Owner, svc: Svc) -> Response:
    return _clips_page(request, svc, user)


@router.post("/ui/portal/clips")
@body_limit(lambda s: s.portal_clip_max_bytes + FORM_SLACK)
def upload_clip(request: Request, user: Owner, form: CsrfForm, svc: Svc) -> Response:
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidParameterError("choose a video file to upload")
        started_at = parse_local(field(form, "started_at"), "the recording's start time", time_zone(form))
        clip = svc.portal.upload_clip(
            user.person_id,
            field(form, "camera_id"),
            upload.filename,
            upload.content_type or "application/octet-stream",
            _chunks(upload),
            started_at,
        )
    except GlasshouseError as exc:
        return _clips_page(request, svc, user, status_of(exc), error=exc.message)
    notice = f"Uploaded {clip.filename}: {clip.duration_seconds:.1f} s, SHA-256 {clip.sha256}."
    return _clips_page(request, svc, user, notice=notice)


@router.get("/ui/portal/clips/{clip_id}/video")
def clip_video(request: Request, user: Owner, clip_id: str, svc: Svc) -> Response:
    clip, fh = svc.portal.open_clip(user.person_id, clip_id)
    return _media_response(request, fh, clip.size, clip.content_type, {})


@router.post("/ui/portal/clips/{clip_id}/delete")
def delete_clip(user: Owner, clip_id: str, form: CsrfForm, svc: Svc) -> Response:
    svc.portal.delete_clip(user.person_id, clip_id)
    return RedirectResponse("/ui/portal/clips", status_code=303)


@router.get("/ui/portal/inbox")
def inbox(request: Request, user: Owner, svc: Svc) -> Response:
    items = []
    for item in svc.portal.inbox(user.person_id):
        cameras = {clip.camera_id: clip for clip in item.clips}.values()
        markers = [{"name": c.camera_name, "lat": c.latitude, "lon": c.longitude} for c in cameras]
        items.append(
            {
                "request": item.request,
                "status": item.status,
                "open": item.open,
                "notified_at": item.notified_at,
                "disclosure": item.disclosure,
                "clips": item.clips,
                "shared": [clip for clip in item.clips if clip.id in item.shared_clip_ids],
                "markers": markers,
            }
        )
    unredactions = svc.portal.unredaction_requests(user.person_id)
    return _page(request, svc, "portal/inbox.html", {"items": items, "unredactions": unredactions})


@router.post("/ui/portal/inbox/{request_id}/share")
def share(request: Request, user: Owner, request_id: str, form: CsrfForm, svc: Svc) -> Response:
    """Share the chosen clips, each "redacted" (the default offered) or "recorded" (as recorded). A clip to
    share redacted is first redacted and shown to the owner (the preview page); sharing it is a second
    post of this form from that page, naming the previewed copy (``copy-<clip id>``)."""
    chosen = list(dict.fromkeys(v for v in form.getlist("clip_id") if isinstance(v, str) and v))
    if not chosen:
        raise InvalidParameterError("choose at least one clip to share, or decline")
    modes = {c: form.get(f"mode-{c}") for c in chosen}
    recorded = [c for c in chosen if modes[c] == "recorded"]
    copies = {c: form.get(f"copy-{c}") for c in chosen if modes[c] != "recorded"}
    previewed = {c: v for c, v in copies.items() if isinstance(v, str) and v}
    if len(previewed) < len(copies):  # redacted without a preview yet: make them and show them
        previews = []
        for clip_id in copies:
            if clip_id in previewed:
                view = svc.portal.preview(user.person_id, previewed[clip_id])[0]
            else:
                view = svc.portal.preview_redacted(user.person_id, request_id, clip_id)
            previews.append((clip_id, view))
        context = {"request_id": request_id, "previews": previews, "recorded": recorded}
        return _page(request, svc, "portal/preview.html", context)
    svc.portal.share(user.person_id, request_id, recorded, redacted=previewed)
    return RedirectResponse("/ui/portal/inbox", status_code=303)


@router.get("/ui/portal/previews/{copy_id}/video")
def preview_video(request: Request, user: Owner, copy_id: str, svc: Svc) -> Response:
    """The owner's redacted preview, for the page's <video> element."""
    view, fh = svc.portal.open_preview(user.person_id, copy_id)
    return _media_response(request, fh, view.size, view.content_type, {"x-sha256": view.sha256})


@router.post("/ui/portal/previews/cancel")
def cancel_previews(user: Owner, form: CsrfForm, svc: Svc) -> Response:
    """Not shared after all: the redacted previews are deleted."""
    for copy_id in dict.fromkeys(v for v in form.getlist("copy_id") if isinstance(v, str) and v):
        svc.portal.cancel_preview(user.person_id, copy_id)
    return RedirectResponse("/ui/portal/inbox", status_code=303)


@router.post("/ui/portal/unredactions/{unredaction_id}/{answer}")
def answer_unredaction(user: Owner, unredaction_id: str, answer: str, form: CsrfForm, svc: Svc) -> Response:
    """Accept (the agency gets the original of that clip) or refuse an agency's unredaction request."""
    if answer not in ("accept", "refuse"):
        raise NotFoundError("no such answer")
    svc.portal.answer_unredaction(user.person_id, unredaction_id, answer == "accept")
    return RedirectResponse("/ui/portal/inbox", status_code=303)


@router.post("/ui/portal/inbox/{request_id}/decline")
def decline(user: Owner, request_id: str, form: CsrfForm, svc: Svc) -> Response:
    svc.portal.decline(user.person_id, request_id)
    return RedirectResponse("/ui/portal/inbox", status_code=303)


@router.get("/ui/portal/settings")
def settings_page(request: Request, user: Owner, svc: Svc) -> Response:
    return _page(request, svc, "portal/settings.html", {"prefs": svc.portal.settings(user.person_id)})


@router.post("/ui/portal/settings")
def save_settings(request: Request, user: Owner, form: CsrfForm, svc: Svc) -> Response:
    try:
        days = int(field(form, "retention_days"))
    except ValueError:
        raise InvalidParameterError("the retention period is a whole number of days") from None
    try:
        prefs = svc.portal.update_settings(
            user.person_id,
            retention_days=days,
            opted_out=field(form, "opted_out") == "1",
            share_contact=field(form, "share_contact") == "1",
            contact=field(form, "contact"),
        )
    except GlasshouseError as exc:
        context = {"prefs": svc.portal.settings(user.person_id), "error": exc.message}
        return _page(request, svc, "portal/settings.html", context, status_code=status_of(exc))
    return _page(request, svc, "portal/settings.html", {"prefs": prefs, "notice": "Settings saved."})


# -- investigators --------------------------------------------------------------------------------------------


@router.get("/ui/portal/requests")
def agency_requests(request: Request, user: Investigator, svc: Svc) -> Response:
    return _page(request, svc, "portal/requests.html", {"requests": svc.portal.agency_requests(user.actor)})


def _new_request_page(
    request: Request, svc: Svc, user: WebUser, form: dict[str, str], status_code: int = 200, **extra: Any
) -> Response:
    previous = svc.portal.agency_requests(user.actor)
    fallback = _area_center(previous[0].area) if previous else None
    center = _center(request.query_params.get("lat"), request.query_params.get("lon"), fallback)
    zoom = request.query_params.get("zoom", "16")
    context = {
        "form": form,
        "incident_types": rules.INCIDENT_TYPES,
        "purposes": PURPOSES,
        "center": center,
        "zoom": int(zoom) if zoom.isdigit() and 1 <= int(zoom) <= 19 else 16,
        "limits": {"min_area": rules.MIN_AREA_SQ_MI, "max_area": rules.MAX_AREA_SQ_MI},
        "allowed": True,
        **extra,
    }
    return _page(request, svc, "portal/request_new.html", context, status_code=status_code)


@router.get("/ui/portal/requests/new")
def new_request(request: Request, user: Investigator, svc: Svc) -> Response:
    return _new_request_page(request, svc, user, {"radius_m": str(DEFAULT_RADIUS_M)})


FORM_FIELDS = (
    "incident_type",
    "purpose",
    "case_number",
    "description",
    "contact",
    "shape",
    "area",
    "center_lat",
    "center_lon",
    "radius_m",
    "window_start",
    "window_end",
    "respond_by",
)


@router.post("/ui/portal/requests")
def file_request(request: Request, user: Investigator, form: CsrfForm, svc: Svc) -> Response:
    values = {k: field(form, k) for k in FORM_FIELDS}
    try:
        filed = svc.portal.file_request(
            user.actor,
            _request_input(values, form),
        )
    except GlasshouseError as exc:
        return _new_request_page(request, svc, user, values, status_of(exc), error=exc.message)
    return RedirectResponse(f"/ui/portal/requests/{quote(filed.id)}", status_code=303)


def _request_input(values: dict[str, str], form: FormData) -> FootageRequestInput:
    zone = time_zone(form)
    return FootageRequestInput(
        incident_type=values["incident_type"],
        case_number=values["case_number"],
        description=values["description"],
        contact=values["contact"],
        area=area_from_form(form),
        window_start=parse_local(values["window_start"], "the window's start", zone),
        window_end=parse_local(values["window_end"], "the window's end", zone),
        respond_by=parse_local(values["respond_by"], "the response deadline", zone),
        purpose=values["purpose"],
    )


@router.get("/ui/portal/requests/{request_id}")
def request_page(request: Request, user: Investigator, request_id: str, svc: Svc) -> Response:
    req = svc.portal.get_request(user.actor, request_id)
    shared = svc.portal.shared_clips(user.actor, request_id)
    context = {"req": req, "shared": shared, "access_days": svc.settings.portal_access_days}
    return _page(request, svc, "portal/request.html", context)


@router.get("/ui/portal/requests/{request_id}/clips/{clip_id}/download")
def download(request: Request, user: Investigator, request_id: str, clip_id: str, svc: Svc) -> Response:
    clip, fh = svc.portal.download(user.actor, request_id, clip_id)
    headers = {
        "content-disposition": f'attachment; filename="{clip.download_name}"',
        "x-sha256": clip.sha256,
    }
    return _media_response(request, fh, clip.size, clip.content_type, headers)


@router.post("/ui/portal/requests/{request_id}/clips/{clip_id}/evidence")
def mark_evidence(user: Investigator, request_id: str, clip_id: str, form: CsrfForm, svc: Svc) -> Response:
    svc.portal.mark_evidence(user.actor, request_id, clip_id)
    return RedirectResponse(f"/ui/portal/requests/{quote(request_id)}", status_code=303)


@router.post("/ui/portal/requests/{request_id}/clips/{clip_id}/unredaction")
def request_unredaction(
    request: Request, user: Investigator, request_id: str, clip_id: str, form: CsrfForm, svc: Svc
) -> Response:
    """Ask the owner of a clip shared redacted for the original (reason and case number required)."""
    try:
        svc.portal.request_unredaction(
            user.actor, request_id, clip_id, field(form, "reason"), field(form, "case_number")
        )
    except GlasshouseError as exc:
        req = svc.portal.get_request(user.actor, request_id)
        shared = svc.portal.shared_clips(user.actor, request_id)
        context = {
            "req": req,
            "shared": shared,
            "access_days": svc.settings.portal_access_days,
            "error": exc.message,
        }
        return _page(request, svc, "portal/request.html", context, status_code=status_of(exc))
    return RedirectResponse(f"/ui/portal/requests/{quote(request_id)}", status_code=303)


@router.post("/ui/portal/requests/{request_id}/close")
def close_request(user: Investigator, request_id: str, form: CsrfForm, svc: Svc) -> Response:
    svc.portal.close_request(user.actor, request_id)
    return RedirectResponse(f"/ui/portal/requests/{quote(request_id)}", status_code=303)


# -- operators: emergency disclosure ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DisclosureRow:
    view: DisclosureView
    mine: bool  #: asked by the operator viewing the page (who may not approve it)


def _emergency_page(
    request: Request, svc: Svc, user: WebUser, status_code: int = 200, **extra: Any
) -> Response:
    disclosures = [
        DisclosureRow(d, d.requested_by == user.actor.principal)
        for d in svc.portal.emergency_disclosures(user.actor)
    ]
    agencies = [o for o in svc.organisations.get_all() if o.sector == "law_enforcement" and o.verified]
    context = {
        "pending": [d for d in disclosures if d.view.status == PENDING],
        "approved": [d for d in disclosures if d.view.status == APPROVED],
        "agencies": agencies,
        **extra,
    }
    return _page(request, svc, "portal/emergency.html", context, status_code=status_code)


@router.get("/ui/portal/emergency")
def emergency(request: Request, user: Operator, svc: Svc) -> Response:
    return _emergency_page(request, svc, user)


@router.post("/ui/portal/emergency")
def emergency_request(request: Request, user: Operator, form: CsrfForm, svc: Svc) -> Response:
    clip_ids = [c for c in _CLIP_IDS.split(field(form, "clip_ids")) if c]
    try:
        svc.portal.emergency_request(
            user.actor, field(form, "agency"), clip_ids, field(form, "reason"), field(form, "case_number")
        )
    except GlasshouseError as exc:
        return _emergency_page(request, svc, user, status_of(exc), error=exc.message)
    return _emergency_page(request, svc, user, notice="Asked: another operator must approve the disclosure.")


@router.post("/ui/portal/emergency/{disclosure_id}/approve")
def emergency_approve(
    request: Request, user: Operator, disclosure_id: str, form: CsrfForm, svc: Svc
) -> Response:
    unredacted = form.get("disclose") == "unredacted"
    reason = field(form, "unredacted_reason") if unredacted else None
    try:
        svc.portal.emergency_approve(user.actor, disclosure_id, unredacted_reason=reason)
    except GlasshouseError as exc:
        return _emergency_page(request, svc, user, status_of(exc), error=exc.message)
    return _emergency_page(
        request, svc, user, notice="Approved: the clips are disclosed and the owners notified."
    )
