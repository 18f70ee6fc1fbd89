"""The community camera portal: camera owners, their clips, agencies' footage requests, consent, access.

Design (see also :mod:`glasshouse.portal.rules`):

* Owners are people with the ``camera-owner`` role in the one ``residents`` organisation. Their clips'
  bytes are media objects of that organisation (``portal/<clip id>``, ``source="portal"``).
* An upload is spooled to a private temporary file (SHA-256 and the size limit applied while streaming),
  decoded whole with PyAV (only a real MP4/MOV/WebM video passes), then streamed to the media store and
  recorded. Any failure, including the caller's chunk iterator raising part-way, leaves no file and no row.
* Filing a request: the rules are checked first (a refusal is audited as a ``footage.request`` denial
  naming the rule, so the transparency report counts it), then the policy gate decides ``footage.request``
  (audited by the gate, in the same commit as the request). Matching happens once, at filing: owners who
  have not opted out, with a camera inside the area and a clip of that camera overlapping the window.
* Sharing passes the gate as ``footage.share`` (the owner acting for the residents' organisation).
  Declining is recorded for auditors only; an agency sees counts, never who declined or ignored.
* Agency access: only shared clips, while the request is open and for ``access_days`` after it closes
  (``access_until``); a clip marked as evidence stays available. Everything else answers the same
  :class:`NotFoundError` as a clip that does not exist.
* Retention: a clip is deleted ``retention_days`` (the owner's setting) after upload unless a request
  still holds it (open, within its access period, or evidence).
* Emergency disclosure: one operator asks (with a written reason), a different operator approves; the
  approval creates an ``emergency`` request holding the clips, notifies each owner (their inbox), and is
  audited as ``footage.emergency_disclosure`` (a transparency report figure).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Final

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.service import AuditLog
from glasshouse.errors import InvalidInputError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event, event
from glasshouse.governance.gate import Gate, PolicyDenied, RequestContext
from glasshouse.governance.policy import Capability, Sector
from glasshouse.media.models import MediaObject
from glasshouse.media.service import MediaService, MediaTooLargeError
from glasshouse.organisations import service as organisations
from glasshouse.organisations.models import Organisation
from glasshouse.people.models import CAMERA_OWNER, Person
from glasshouse.people.service import PeopleService, PersonInfo
from glasshouse.portal import rules
from glasshouse.portal.models import (
    APPROVED,
    CLOSED,
    CONSENT,
    DECLINED,
    EMERGENCY,
    OPEN,
    PENDING,
    RESIDENTS_ORG,
    SHARED,
    Camera,
    Clip,
    EmergencyDisclosure,
    FootageRequest,
    OwnerSettings,
    RequestRecipient,
    Share,
)
from glasshouse.portal.views import (
    AgencyProfile,
    CameraView,
    ClipView,
    DisclosureView,
    FootageRequestInput,
    InboxItem,
    OwnerSettingsView,
    PublicRequestView,
    RequestView,
    SharedClip,
    ShareView,
    SweepResult,
    aware,
)
from glasshouse.video.decode import InvalidVideoError, VideoReader

log = logging.getLogger(__name__)

#: Sector of the residents' organisation (the policy's baseline lets every sector share footage).
RESIDENTS_SECTOR: Final = Sector.NONPROFIT.value
#: Decoded container -> stored content type (MOV files are demuxed as MP4; their name tells them apart).
ACCEPTED_FORMATS: Final = {"MP4": "video/mp4", "WebM": "video/webm"}
MAX_RETENTION_DAYS: Final = 3650
#: A portal media object without a clip row (a crash between storing and recording) is removed by the
#: sweep once it is this old.
ORPHAN_AGE: Final = timedelta(hours=1)
SPOOL_CHUNK: Final = 1024 * 1024
#: How far ahead of the server's clock a clip's start may lie (camera clocks drift).
CLOCK_SKEW: Final = timedelta(minutes=5)

ACTION_REQUEST: Final = "footage.request"
ACTION_SHARE: Final = "footage.share"
ACTION_EMERGENCY: Final = "footage.emergency_disclosure"


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


def _pairs(rows: Iterable[Any]) -> dict[Any, Any]:
    """``{first: second}`` of two-column rows."""
    return {row[0]: row[1] for row in rows}


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidParameterError(f"{what} must carry a time zone (e.g. 2026-01-01T10:00:00Z)")
    return moment.astimezone(UTC)


def _text(value: str, what: str, *, most: int, least: int = 1) -> str:
    value = value.strip()
    if not least <= len(value) <= most or not value.isprintable():
        raise InvalidParameterError(f"{what} needs {least} to {most} printable characters")
    return value


def _clip_not_found(clip_id: str) -> NotFoundError:
    # The message repeats only what the caller sent: the same for a missing, foreign or unshared clip.
    return NotFoundError(f"clip {clip_id!r} not found")


def _request_not_found(request_id: str) -> NotFoundError:
    return NotFoundError(f"footage request {request_id!r} not found")


def _camera_not_found(camera_id: str) -> NotFoundError:
    return NotFoundError(f"camera {camera_id!r} not found")


class PortalService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        media: MediaService,
        audit: AuditLog,
        gate: Gate,
        people: PeopleService,
        *,
        spool_dir: Path,
        max_clip_bytes: int,
        default_retention_days: int = 60,
        access_days: int = 30,
        clock: Callable[[], datetime] = db.utcnow,
    ) -> None:
        self.sessions = sessions
        self.media = media
        self.audit = audit
        self.gate = gate
        self.people = people
        self.spool_dir = spool_dir
        self.max_clip_bytes = max_clip_bytes
        self.default_retention_days = default_retention_days
        self.access_days = access_days
        self.clock = clock

    # -- residents -----------------------------------------------------------------------------------------
    def residents(self) -> Organisation:
        """The residents' organisation, created on first use."""
        with db.transaction(self.sessions) as session:
            return self._residents(session)

    @staticmethod
    def _residents(session: Session) -> Organisation:
        return organisations.get_or_create(session, RESIDENTS_ORG, sector=RESIDENTS_SECTOR)

    def owner_actor(self, owner_id: str, surface: str = "ui") -> Actor:
        """The owner acting for the residents' organisation (as the gate and the audit log see them)."""
        org = self.residents()
        return Actor(org_id=org.id, org_name=org.name, surface=surface, person=owner_id)

    def sign_up_owner(self, email: str, name: str, password: str, *, surface: str = "ui") -> PersonInfo:
        """A new camera owner (self sign-up); audited as ``person.create`` by the residents' organisation."""
        org = self.residents()
        by = Actor(org_id=org.id, org_name=org.name, surface=surface)
        return self.people.create(by, org.id, email, name, password, roles=[CAMERA_OWNER])

    def _owner(self, session: Session, owner_id: str) -> Person:
        person = session.get(Person, owner_id)
        org = self._residents(session)
        if (
            person is None
            or person.disabled
            or person.org_id != org.id
            or CAMERA_OWNER not in (person.roles or [])
        ):
            raise PortalForbiddenError("this needs a camera owner's account")
        return person

    def is_owner(self, person_id: str) -> bool:
        with db.transaction(self.sessions) as session:
            try:
                self._owner(session, person_id)
            except PortalForbiddenError:
                return False
            return True

    # -- cameras -------------------------------------------------------------------------------------------
    def register_camera(
        self,
        owner_id: str,
        name: str,
        latitude: float,
        longitude: float,
        note: str = "",
        *,
        surface: str = "ui",
    ) -> CameraView:
        name = _text(name, "a camera name", most=128)
        note = note.strip()
        if len(note) > 1000:
            raise InvalidParameterError("a camera note is at most 1000 characters")
        try:
            rules.check_coordinates(float(latitude), float(longitude))
        except rules.RequestRuleError as exc:
            raise InvalidParameterError(exc.message) from None
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            camera = Camera(
                owner_id=owner_id,
                name=name,
                latitude=float(latitude),
                longitude=float(longitude),
                note=note,
                created_at=self.clock(),
            )
            session.add(camera)
            session.flush()
            view = CameraView.of(camera)
            actor = self._actor(session, owner_id, surface)
            self.audit.append(
                session, change_event(actor, "portal.camera_register", {"camera_id": camera.id})
            )
        return view

    def list_cameras(self, owner_id: str) -> list[CameraView]:
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            rows = session.scalars(
                select(Camera).where(Camera.owner_id == owner_id).order_by(Camera.created_at, Camera.id)
            )
            return [CameraView.of(c) for c in rows]

    def delete_camera(self, owner_id: str, camera_id: str, *, surface: str = "ui") -> None:
        """Delete a camera and its clips (files too); refused while one of its clips is held for a case."""
        now = self.clock()
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            camera = session.get(Camera, camera_id)
            if camera is None or camera.owner_id != owner_id:
                raise _camera_not_found(camera_id)
            clips = list(session.scalars(select(Clip).where(Clip.camera_id == camera_id)))
            if any(self._held(session, c.id, now) for c in clips):
                raise ClipHeldError(
                    "a clip of this camera is held for a case; the camera cannot be deleted now"
                )
            actor = self._actor(session, owner_id, surface)
            for clip in clips:
                self._delete_clip_row(session, actor, clip)
            session.delete(camera)
            self.audit.append(
                session,
                change_event(actor, "portal.camera_delete", {"camera_id": camera_id, "clips": len(clips)}),
            )

    def _actor(self, session: Session, owner_id: str, surface: str) -> Actor:
        org = self._residents(session)
        return Actor(org_id=org.id, org_name=org.name, surface=surface, person=owner_id)

    # -- clips ---------------------------------------------------------------------------------------------
    def _spool(self, chunks: Iterable[bytes], path: Path) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        with path.open("wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > self.max_clip_bytes:
                    raise MediaTooLargeError(f"clips are limited to {self.max_clip_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        return size, digest.hexdigest()

    @staticmethod
    def _verify_video(path: Path, filename: str) -> tuple[str, float]:
        """(content type, duration in seconds) of a video that decodes from its first to its last frame."""
        reader = VideoReader(path)
        meta = reader.metadata
        content_type = ACCEPTED_FORMATS.get(meta.format)
        if content_type is None:
            raise InvalidVideoError(f"{meta.format} files are not accepted: upload MP4, MOV or WebM")
        if content_type == "video/mp4" and filename.lower().endswith(".mov"):
            content_type = "video/quicktime"
        frames = 0
        last_ms = 0.0
        for frame in reader.frames():  # decodes every frame: corrupt data part-way is refused here
            frames += 1
            last_ms = frame.timestamp_ms
        if frames == 0:
            raise InvalidVideoError("video has no decodable frames")
        duration_ms = meta.duration_ms if meta.duration_ms > 0 else last_ms - meta.start_ms
        if duration_ms <= 0:
            raise InvalidVideoError("video has no duration")
        return content_type, round(duration_ms / 1000.0, 3)

    @staticmethod
    def _filename(filename: str) -> str:
        name = PurePosixPath(filename.replace("\\", "/")).name.strip()
        return _text(name or "clip", "a file name", most=255)

    def upload_clip(
        self,
        owner_id: str,
        camera_id: str,
        filename: str,
        content_type: str | None,
        chunks: Iterable[bytes],
        started_at: datetime,
        *,
        surface: str = "ui",
    ) -> ClipView:
        """Store a clip of ``camera_id`` that started recording at ``started_at``.

        ``content_type`` is advisory: the stored type comes from the decoded container. A corrupt,
        truncated, empty, non-video or too large upload raises (:class:`InvalidVideoError`,
        :class:`MediaTooLargeError`) and leaves nothing behind, as does ``chunks`` raising part-way.
        """
        del content_type  # never trusted: the decoder decides
        started = _utc(started_at, "started_at")
        filename = self._filename(filename)
        if started > self.clock() + CLOCK_SKEW:
            raise InvalidParameterError("a clip cannot start in the future")
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            camera = session.get(Camera, camera_id)
            if camera is None or camera.owner_id != owner_id:
                raise _camera_not_found(camera_id)
            actor = self._actor(session, owner_id, surface)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, raw = tempfile.mkstemp(dir=self.spool_dir, suffix=".part")
        os.close(fd)
        spooled = Path(raw)
        try:
            size, sha256 = self._spool(chunks, spooled)
            if size == 0:
                raise InvalidVideoError("the upload is empty (0 bytes): choose a video file")
            stored_type, duration = self._verify_video(spooled, filename)
            clip_id = db.new_id()
            name = f"portal/{clip_id}"
            info = self.media.upload(actor, name, self._read(spooled), stored_type, source="portal")
            try:
                if info.sha256 != sha256:  # the spooled file changed under us: never record a wrong hash
                    raise InvalidInputError("the upload changed while it was stored; try again")
                return self._record_clip(
                    actor, clip_id, name, camera_id, filename, stored_type, size, sha256, started, duration
                )
            except BaseException:
                self.media.delete(actor, actor.org_id, name)
                raise
        finally:
            spooled.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> Iterator[bytes]:
        with path.open("rb") as src:
            while chunk := src.read(SPOOL_CHUNK):
                yield chunk

    def _record_clip(
        self,
        actor: Actor,
        clip_id: str,
        name: str,
        camera_id: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        started: datetime,
        duration: float,
    ) -> ClipView:
        assert actor.person is not None
        with db.transaction(self.sessions) as session:
            camera = session.get(Camera, camera_id)
            if camera is None:  # deleted while the clip was uploading
                raise _camera_not_found(camera_id)
            media_id = session.scalar(
                select(MediaObject.id).where(MediaObject.org_id == actor.org_id, MediaObject.name == name)
            )
            if media_id is None:
                raise NotFoundError("the stored clip vanished before it was recorded; try again")
            clip = Clip(
                id=clip_id,
                camera_id=camera_id,
                owner_id=actor.person,
                media_id=media_id,
                filename=filename,
                content_type=content_type,
                size=size,
                sha256=sha256,
                started_at=started,
                duration_seconds=duration,
                ends_at=started + timedelta(seconds=duration),
                created_at=self.clock(),
            )
            session.add(clip)
            session.flush()
            details = {
                "clip_id": clip_id,
                "camera_id": camera_id,
                "size": size,
                "sha256": sha256,
                "duration_seconds": duration,
            }
            self.audit.append(session, change_event(actor, "portal.clip_upload", details))
            return ClipView.of(clip, camera)

    def list_clips(self, owner_id: str) -> list[ClipView]:
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            rows = session.execute(
                select(Clip, Camera)
                .join(Camera, Clip.camera_id == Camera.id)
                .where(Clip.owner_id == owner_id)
                .order_by(Clip.started_at.desc(), Clip.id)
            )
            return [ClipView.of(clip, camera) for clip, camera in rows]

    def _own_clip(self, session: Session, owner_id: str, clip_id: str) -> tuple[Clip, Camera]:
        found = session.execute(
            select(Clip, Camera).join(Camera, Clip.camera_id == Camera.id).where(Clip.id == clip_id)
        ).one_or_none()
        if found is None or found[0].owner_id != owner_id:
            raise _clip_not_found(clip_id)
        return found[0], found[1]

    def open_clip(self, owner_id: str, clip_id: str) -> tuple[ClipView, BinaryIO]:
        """The owner's clip and a stream of its bytes (the caller closes it)."""
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            clip, camera = self._own_clip(session, owner_id, clip_id)
            view = ClipView.of(clip, camera)
            org_id = self._residents(session).id
        return view, self._open_bytes(org_id, clip_id)

    def _open_bytes(self, org_id: str, clip_id: str) -> BinaryIO:
        try:
            return self.media.open(org_id, f"portal/{clip_id}")[1]
        except NotFoundError:
            raise _clip_not_found(clip_id) from None

    def delete_clip(self, owner_id: str, clip_id: str, *, surface: str = "ui") -> None:
        """Delete the owner's clip and its file; refused while a case holds it."""
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            clip, _ = self._own_clip(session, owner_id, clip_id)
            if self._held(session, clip_id, self.clock()):
                raise ClipHeldError(
                    "this clip was shared into a case that still holds it; it cannot be deleted now"
                )
            self._delete_clip_row(session, self._actor(session, owner_id, surface), clip)

    def _delete_clip_row(self, session: Session, actor: Actor, clip: Clip, reason: str = "owner") -> None:
        """Delete the clip row and its media object (the file goes after the commit)."""
        details = {"clip_id": clip.id, "sha256": clip.sha256, "reason": reason}
        session.execute(delete(Share).where(Share.clip_id == clip.id))
        session.delete(clip)
        session.flush()
        self.media.delete(actor, actor.org_id, f"portal/{clip.id}")  # joins this transaction
        self.audit.append(session, change_event(actor, "portal.clip_delete", details))

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

    # -- settings ------------------------------------------------------------------------------------------
    def _settings_row(self, session: Session, owner_id: str) -> OwnerSettings:
        row = session.get(OwnerSettings, owner_id)
        if row is None:
            row = OwnerSettings(
                owner_id=owner_id,
                retention_days=self.default_retention_days,
                opted_out=False,
                share_contact=False,
                contact="",
            )
        return row

    def settings(self, owner_id: str) -> OwnerSettingsView:
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            return OwnerSettingsView.of(self._settings_row(session, owner_id))

    def update_settings(
        self,
        owner_id: str,
        *,
        retention_days: int | None = None,
        opted_out: bool | None = None,
        share_contact: bool | None = None,
        contact: str | None = None,
        surface: str = "ui",
    ) -> OwnerSettingsView:
        """Change any of the owner's settings (``None`` keeps a value)."""
        if retention_days is not None and not 1 <= retention_days <= MAX_RETENTION_DAYS:
            raise InvalidParameterError(f"retention_days must be 1 to {MAX_RETENTION_DAYS}")
        if contact is not None:
            contact = contact.strip()
            if len(contact) > 255 or not contact.isprintable():
                raise InvalidParameterError("a contact is at most 255 printable characters")
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            row = self._settings_row(session, owner_id)
            if retention_days is not None:
                row.retention_days = retention_days
            if opted_out is not None:
                row.opted_out = opted_out
            if share_contact is not None:
                row.share_contact = share_contact
            if contact is not None:
                row.contact = contact
            if row.share_contact and not row.contact:
                raise InvalidParameterError("give a contact to share it with agencies")
            session.add(row)
            session.flush()
            view = OwnerSettingsView.of(row)
            details = {"retention_days": view.retention_days, "opted_out": view.opted_out,
                       "share_contact": view.share_contact}  # fmt: skip
            self.audit.append(
                session, change_event(self._actor(session, owner_id, surface), "portal.settings", details)
            )
        return view

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
                grant.note(request_id=row.id, recipients=len(owners))
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

    def _matching_clips(
        self, session: Session, owner_id: str, request: FootageRequest
    ) -> list[tuple[Clip, Camera]]:
        area = rules.parse_area(request.area)
        rows = session.execute(
            select(Clip, Camera)
            .join(Camera, Clip.camera_id == Camera.id)
            .where(
                Clip.owner_id == owner_id,
                Clip.started_at <= request.window_end,
                Clip.ends_at >= request.window_start,
            )
            .order_by(Clip.started_at, Clip.id)
        )
        return [(c, cam) for c, cam in rows if rules.contains(area, cam.latitude, cam.longitude)]

    def _counts(self, session: Session, request_ids: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """(recipients, owners who shared, clips shared) per request."""
        if not request_ids:
            return {}
        recipients = _pairs(
            session.execute(
                select(RequestRecipient.request_id, func.count())
                .where(RequestRecipient.request_id.in_(request_ids))
                .group_by(RequestRecipient.request_id)
            )
        )
        shares = {
            rid: (owners, clips)
            for rid, owners, clips in session.execute(
                select(Share.request_id, func.count(func.distinct(Share.owner_id)), func.count())
                .where(Share.request_id.in_(request_ids))
                .group_by(Share.request_id)
            )
        }
        return {rid: (recipients.get(rid, 0), *shares.get(rid, (0, 0))) for rid in request_ids}

    def _views(self, session: Session, rows: Sequence[FootageRequest]) -> list[RequestView]:
        counts = self._counts(session, [r.id for r in rows])
        names = _pairs(
            session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_({r.agency_org_id for r in rows})
                )
            )
        )
        return [RequestView.of(r, names.get(r.agency_org_id, "?"), *counts[r.id]) for r in rows]

    def _agency_request(self, session: Session, actor: Actor, request_id: str) -> FootageRequest:
        row = session.get(FootageRequest, request_id)
        if row is None or row.agency_org_id != actor.org_id:
            raise _request_not_found(request_id)
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

    # -- the owner's inbox ---------------------------------------------------------------------------------
    def inbox(self, owner_id: str) -> list[InboxItem]:
        """Requests that asked this owner (and emergency disclosures of their clips), newest first."""
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            found = list(
                session.execute(
                    select(RequestRecipient, FootageRequest)
                    .join(FootageRequest, RequestRecipient.request_id == FootageRequest.id)
                    .where(RequestRecipient.owner_id == owner_id)
                    .order_by(FootageRequest.created_at.desc(), FootageRequest.id)
                )
            )
            views = {v.id: v for v in self._views(session, [r for _, r in found])}
            items = []
            for recipient, request in found:
                shared = frozenset(
                    session.scalars(
                        select(Share.clip_id).where(
                            Share.request_id == request.id, Share.owner_id == owner_id
                        )
                    )
                )
                if request.kind == EMERGENCY:
                    clips = [
                        (c, cam)
                        for c, cam in session.execute(
                            select(Clip, Camera)
                            .join(Camera, Clip.camera_id == Camera.id)
                            .where(Clip.id.in_(shared))
                        )
                    ]
                else:
                    clips = self._matching_clips(session, owner_id, request)
                items.append(
                    InboxItem(
                        request=views[request.id],
                        status=recipient.status,
                        responded_at=aware(recipient.responded_at) if recipient.responded_at else None,
                        notified_at=aware(recipient.notified_at) if recipient.notified_at else None,
                        clips=tuple(ClipView.of(c, cam) for c, cam in clips),
                        shared_clip_ids=shared,
                    )
                )
            return items

    def _recipient(
        self, session: Session, owner_id: str, request_id: str
    ) -> tuple[RequestRecipient, FootageRequest]:
        found = session.execute(
            select(RequestRecipient, FootageRequest)
            .join(FootageRequest, RequestRecipient.request_id == FootageRequest.id)
            .where(RequestRecipient.owner_id == owner_id, RequestRecipient.request_id == request_id)
        ).one_or_none()
        if found is None:
            raise _request_not_found(request_id)
        recipient, request = found
        if request.kind != CONSENT or request.status != OPEN:
            raise RequestClosedError("this request is closed and takes no more answers")
        if aware(request.respond_by) <= self.clock():
            raise RequestClosedError("this request's response deadline has passed")
        return recipient, request

    def share(
        self, owner_id: str, request_id: str, clip_ids: Sequence[str], *, surface: str = "ui"
    ) -> list[ShareView]:
        """Share chosen clips (the owner's own, matching the request) with the request's agency.

        Passes the gate as ``footage.share``. Sharing more clips later adds to what was shared.
        """
        wanted = list(dict.fromkeys(clip_ids))
        if not wanted:
            raise InvalidParameterError("choose at least one clip to share")
        actor = self.owner_actor(owner_id, surface)
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            recipient, request = self._recipient(session, owner_id, request_id)
            matching = {c.id for c, _ in self._matching_clips(session, owner_id, request)}
            for clip_id in wanted:
                if clip_id not in matching:
                    raise _clip_not_found(clip_id)
            case_number = request.case_number
        context = RequestContext(
            case_number=case_number, inputs={"request_id": request_id, "clips": len(wanted)}
        )
        with (
            self.gate.guard(actor, Capability.FOOTAGE_SHARE, context),
            db.transaction(self.sessions) as session,
        ):
            recipient, request = self._recipient(session, owner_id, request_id)
            settings = self._settings_row(session, owner_id)
            contact = settings.contact if settings.share_contact and settings.contact else None
            now = self.clock()
            existing = set(session.scalars(select(Share.clip_id).where(Share.request_id == request_id)))
            for clip_id in wanted:
                if clip_id not in existing:
                    session.add(
                        Share(
                            request_id=request_id,
                            clip_id=clip_id,
                            owner_id=owner_id,
                            shared_at=now,
                            contact=contact,
                            evidence=False,
                            kind=CONSENT,
                        )
                    )
            recipient.status = SHARED
            recipient.responded_at = now
            session.flush()
            rows = session.scalars(
                select(Share)
                .where(Share.request_id == request_id, Share.owner_id == owner_id)
                .order_by(Share.shared_at)
            )
            return [ShareView.of(r) for r in rows]

    def decline(self, owner_id: str, request_id: str, *, surface: str = "ui") -> None:
        """Decline a request. Recorded for auditors; the agency never learns who declined."""
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            recipient, _ = self._recipient(session, owner_id, request_id)
            if recipient.status == SHARED:
                raise RequestClosedError("clips were already shared into this request")
            recipient.status = DECLINED
            recipient.responded_at = self.clock()
            actor = self._actor(session, owner_id, surface)
            self.audit.append(session, change_event(actor, "footage.decline", {"request_id": request_id}))

    # -- agency access -------------------------------------------------------------------------------------
    def _accessible(self, request: FootageRequest, share: Share, now: datetime) -> bool:
        if share.evidence or request.status == OPEN:
            return True
        return request.access_until is not None and aware(request.access_until) > now

    def shared_clips(self, actor: Actor, request_id: str) -> list[SharedClip]:
        """Clips shared into the actor's agency's request, each with its share record."""
        now = self.clock()
        with self.sessions() as session:
            request = self._agency_request(session, actor, request_id)
            rows = session.execute(
                select(Share, Clip, Camera)
                .join(Clip, Share.clip_id == Clip.id)
                .join(Camera, Clip.camera_id == Camera.id)
                .where(Share.request_id == request_id)
                .order_by(Share.shared_at, Share.id)
            )
            return [
                SharedClip(
                    ClipView.of(clip, camera), ShareView.of(share), self._accessible(request, share, now)
                )
                for share, clip, camera in rows
            ]

    def _accessible_share(
        self, session: Session, actor: Actor, request_id: str, clip_id: str
    ) -> tuple[FootageRequest, Share, Clip, Camera]:
        """The share of ``clip_id`` in the agency's request, if the agency may read it now; else the same
        not-found error whatever the reason (no such clip, not shared, another request, access over)."""
        request = session.get(FootageRequest, request_id)
        found = session.execute(
            select(Share, Clip, Camera)
            .join(Clip, Share.clip_id == Clip.id)
            .join(Camera, Clip.camera_id == Camera.id)
            .where(Share.request_id == request_id, Share.clip_id == clip_id)
        ).one_or_none()
        if (
            request is None
            or request.agency_org_id != actor.org_id
            or found is None
            or not self._accessible(request, found[0], self.clock())
        ):
            raise _clip_not_found(clip_id)
        return request, found[0], found[1], found[2]

    def download(self, actor: Actor, request_id: str, clip_id: str) -> tuple[ClipView, BinaryIO]:
        """A shared clip's metadata and bytes for the agency; audited as ``footage.download``."""
        with db.transaction(self.sessions) as session:
            request, share, clip, camera = self._accessible_share(session, actor, request_id, clip_id)
            view = ClipView.of(clip, camera)
            details = {
                "request_id": request_id,
                "clip_id": clip_id,
                "sha256": clip.sha256,
                "share_kind": share.kind,
            }
            self.audit.append(
                session,
                event(actor, "footage.download", "record", case_number=request.case_number, details=details),
            )
            org_id = self._residents(session).id
        return view, self._open_bytes(org_id, clip_id)

    def mark_evidence(self, actor: Actor, request_id: str, clip_id: str, evidence: bool = True) -> ShareView:
        """Mark (or unmark) a shared clip as evidence in the case: it is then kept and stays available."""
        with db.transaction(self.sessions) as session:
            request, share, _, _ = self._accessible_share(session, actor, request_id, clip_id)
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

    # -- public --------------------------------------------------------------------------------------------
    def public_feed(self, limit: int = 200) -> list[PublicRequestView]:
        """Every request, newest first: what, where, when, by whom, and how many owners shared."""
        with self.sessions() as session:
            rows = list(
                session.scalars(
                    select(FootageRequest)
                    .order_by(FootageRequest.created_at.desc(), FootageRequest.id)
                    .limit(max(1, min(limit, 1000)))
                )
            )
            return [PublicRequestView.of(v) for v in self._views(session, rows)]

    def public_request(self, request_id: str) -> PublicRequestView:
        with self.sessions() as session:
            row = session.get(FootageRequest, request_id)
            if row is None:
                raise _request_not_found(request_id)
            return PublicRequestView.of(self._views(session, [row])[0])

    def agency_profile(self, org_name: str) -> AgencyProfile:
        """A law-enforcement organisation and all its requests (public)."""
        with self.sessions() as session:
            org = session.scalar(select(Organisation).where(Organisation.name == org_name))
            if org is None or org.sector != Sector.LAW_ENFORCEMENT.value:
                raise NotFoundError(f"agency {org_name!r} not found")
            rows = list(
                session.scalars(
                    select(FootageRequest)
                    .where(FootageRequest.agency_org_id == org.id)
                    .order_by(FootageRequest.created_at.desc(), FootageRequest.id)
                )
            )
            views = tuple(PublicRequestView.of(v) for v in self._views(session, rows))
            return AgencyProfile(org.name, org.jurisdiction, org.verified, views)

    def agencies(self) -> list[str]:
        """Names of law-enforcement organisations that have filed requests (for a public index)."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Organisation.name)
                    .join(FootageRequest, FootageRequest.agency_org_id == Organisation.id)
                    .distinct()
                    .order_by(Organisation.name)
                )
            )

    # -- emergency disclosure ------------------------------------------------------------------------------
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
        with db.transaction(self.sessions) as session:
            org = session.get(Organisation, agency) or session.scalar(
                select(Organisation).where(Organisation.name == agency)
            )
            if org is None or org.sector != Sector.LAW_ENFORCEMENT.value or not org.verified:
                raise NotAnAgencyError(f"{agency!r} is not a verified law-enforcement agency")
            found = set(session.scalars(select(Clip.id).where(Clip.id.in_(wanted))))
            for clip_id in wanted:
                if clip_id not in found:
                    raise _clip_not_found(clip_id)
            row = EmergencyDisclosure(
                agency_org_id=org.id,
                clip_ids=wanted,
                case_number=case_number,
                reason=reason,
                requested_by=operator.principal,
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

    def emergency_approve(self, operator: Actor, disclosure_id: str) -> DisclosureView:
        """Approve (as a second operator): the clips are shared (kind ``emergency``) into a new emergency
        request of the agency, each owner is notified in their inbox, and the disclosure is audited."""
        self._operator(operator)
        now = self.clock()
        with db.transaction(self.sessions) as session:
            row = session.get(EmergencyDisclosure, disclosure_id)
            if row is None:
                raise NotFoundError(f"emergency disclosure {disclosure_id!r} not found")
            if row.status != PENDING:
                raise RequestClosedError("this emergency disclosure was already approved")
            if row.requested_by == operator.principal:
                raise PortalForbiddenError(
                    "a second, different operator must approve an emergency disclosure"
                )
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
            lat = sum(cam.latitude for _, cam in clips) / len(clips)
            lon = sum(cam.longitude for _, cam in clips) / len(clips)
            radius = max(
                50.0, *(rules.distance_m((lat, lon), (cam.latitude, cam.longitude)) + 10 for _, cam in clips)
            )
            area = rules.Circle(lat, lon, radius)
            request = FootageRequest(
                kind=EMERGENCY,
                agency_org_id=org.id,
                created_by=row.requested_by,
                incident_type="other",
                case_number=row.case_number,
                description=f"Emergency disclosure without consent: {row.reason}",
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
                        status=SHARED,
                        responded_at=now,
                        notified_at=now,
                    )
                )
            for clip, _ in clips:
                session.add(
                    Share(
                        request_id=request.id,
                        clip_id=clip.id,
                        owner_id=clip.owner_id,
                        shared_at=now,
                        contact=None,
                        evidence=False,
                        kind=EMERGENCY,
                    )
                )
            row.status = APPROVED
            row.approved_by = operator.principal
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
            }
            self.audit.append(
                session,
                event(operator, ACTION_EMERGENCY, "record", case_number=row.case_number, details=details),
            )
            return DisclosureView.of(row, org.name)

    # -- retention -----------------------------------------------------------------------------------------
    def sweep_retention(self) -> SweepResult:
        """Delete clips (rows and files) older than their owner's retention unless a case holds them, and
        portal media objects left without a clip by a crash. Runs with ``serve``'s periodic sweep."""
        now = self.clock()
        deleted = kept = orphans = 0
        with db.transaction(self.sessions) as session:
            db.serialise(session, "portal-retention-sweep")  # every node sweeps; one at a time
            residents = self._residents(session)
            system = Actor(org_id=residents.id, org_name=residents.name, surface="job", person=None)
            retention = _pairs(session.execute(select(OwnerSettings.owner_id, OwnerSettings.retention_days)))
            for clip in list(session.scalars(select(Clip).order_by(Clip.created_at))):
                days = retention.get(clip.owner_id, self.default_retention_days)
                if aware(clip.created_at) + timedelta(days=days) > now:
                    continue
                if self._held(session, clip.id, now):
                    kept += 1
                    continue
                self._delete_clip_row(session, system, clip, reason=f"retention ({days} days)")
                deleted += 1
            recorded = select(Clip.media_id)
            stale = session.scalars(
                select(MediaObject.name).where(
                    MediaObject.org_id == residents.id,
                    MediaObject.source == "portal",
                    MediaObject.created_at < now - ORPHAN_AGE,
                    MediaObject.id.not_in(recorded),
                )
            )
            for name in list(stale):
                self.media.delete(system, residents.id, name)
                orphans += 1
        if deleted or orphans:
            log.info(
                "portal retention sweep deleted %d clips and %d orphans (%d kept for cases)",
                deleted,
                orphans,
                kept,
            )
        return SweepResult(deleted, kept, orphans)
