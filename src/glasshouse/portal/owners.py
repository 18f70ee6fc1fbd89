"""Camera owners: sign-up, cameras, clips (uploads), settings, and their inbox (share or decline).

Owners are people with the ``camera-owner`` role in the one ``residents`` organisation. Their clips' bytes
are media objects of that organisation (``portal/<clip id>``, ``source="portal"``). An upload is spooled and
verified (:mod:`glasshouse.portal.upload`), then streamed to the media store and recorded; any failure,
including the caller's chunk iterator raising part-way, leaves no file and no row. Sharing passes the gate
as ``footage.share`` (the owner acting for the residents' organisation); declining is recorded for auditors
only: an agency sees counts, never who declined or ignored.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from glasshouse import db
from glasshouse.errors import InvalidInputError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.governance.gate import RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.keys.models import AccessKey
from glasshouse.media.models import MediaObject
from glasshouse.organisations.models import Organisation
from glasshouse.people.models import CAMERA_OWNER, Person
from glasshouse.people.service import PersonInfo
from glasshouse.portal import rules, upload
from glasshouse.portal.common import (
    ClipHeldError,
    PortalBase,
    PortalForbiddenError,
    RequestClosedError,
    camera_not_found,
    clip_not_found,
    request_not_found,
    text,
    utc,
)
from glasshouse.portal.models import (
    CONSENT,
    DECLINED,
    DISCLOSED,
    EMERGENCY,
    OPEN,
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
    CameraView,
    ClipView,
    DisclosureNotice,
    InboxItem,
    OwnerSettingsView,
    ShareView,
    aware,
    aware_or_none,
)
from glasshouse.redaction.copies import RedactedCopy
from glasshouse.video.decode import InvalidVideoError

MAX_RETENTION_DAYS: Final = 3650
#: How far ahead of the server's clock a clip's start may lie (camera clocks drift).
CLOCK_SKEW: Final = timedelta(minutes=5)


def _principal_org(session: Session, principal: str | None) -> str:
    """The organisation's name behind an actor's principal (``person:<id>``, ``key:<id>``, ``ui:<org>``)."""
    kind, _, ident = (principal or "").partition(":")
    org_id = None
    if kind == "person":
        org_id = session.scalar(select(Person.org_id).where(Person.id == ident))
    elif kind == "key":
        org_id = session.scalar(select(AccessKey.org_id).where(AccessKey.access_key_id == ident))
    elif ident:
        return ident  # an unattributed call records its organisation's name
    name = session.scalar(select(Organisation.name).where(Organisation.id == org_id)) if org_id else None
    return name or "an organisation since deleted"


class OwnerPortal(PortalBase):
    """A camera owner's own things: account, cameras, clips, settings, inbox."""

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
        name = text(name, "a camera name", most=128)
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
                raise camera_not_found(camera_id)
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
        started = utc(started_at, "started_at")
        filename = upload.clean_filename(filename)
        if started > self.clock() + CLOCK_SKEW:
            raise InvalidParameterError("a clip cannot start in the future")
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            camera = session.get(Camera, camera_id)
            if camera is None or camera.owner_id != owner_id:
                raise camera_not_found(camera_id)
            actor = self._actor(session, owner_id, surface)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        fd, raw = tempfile.mkstemp(dir=self.spool_dir, suffix=".part")
        os.close(fd)
        spooled = Path(raw)
        try:
            size, sha256 = upload.spool(chunks, spooled, self.max_clip_bytes)
            if size == 0:
                raise InvalidVideoError("the upload is empty (0 bytes): choose a video file")
            stored_type, duration = upload.verify_video(spooled, filename)
            clip_id = db.new_id()
            name = f"portal/{clip_id}"
            info = self.media.upload(actor, name, upload.read_chunks(spooled), stored_type, source="portal")
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
                raise camera_not_found(camera_id)
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
            raise clip_not_found(clip_id)
        return found[0], found[1]

    def open_clip(self, owner_id: str, clip_id: str) -> tuple[ClipView, BinaryIO]:
        """The owner's clip and a stream of its bytes (the caller closes it)."""
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            clip, camera = self._own_clip(session, owner_id, clip_id)
            view = ClipView.of(clip, camera)
            org_id = self._residents(session).id
        return view, self._open_bytes(org_id, clip_id)

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
                notice = None
                if request.kind == EMERGENCY:
                    notice = self._disclosure_notice(session, request.id)
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
                        # Never "shared" for a disclosure (rows from before this status existed say so).
                        status=DISCLOSED if request.kind == EMERGENCY else recipient.status,
                        responded_at=None
                        if request.kind == EMERGENCY
                        else aware_or_none(recipient.responded_at),
                        notified_at=aware_or_none(recipient.notified_at),
                        clips=tuple(ClipView.of(c, cam) for c, cam in clips),
                        shared_clip_ids=shared,
                        disclosure=notice,
                    )
                )
            return items

    @staticmethod
    def _disclosure_notice(session: Session, request_id: str) -> DisclosureNotice | None:
        """Why and by whom the clips behind an emergency request were disclosed (for their owner)."""
        row = session.scalar(select(EmergencyDisclosure).where(EmergencyDisclosure.request_id == request_id))
        if row is None:
            return None
        return DisclosureNotice(
            reason=row.reason,
            case_number=row.case_number,
            requested_by_org=_principal_org(session, row.requested_by),
            approved_by_org=_principal_org(session, row.approved_by),
            approved_at=aware_or_none(row.approved_at),
            redacted=row.redacted,
            unredacted_reason=row.unredacted_reason,
        )

    def _recipient(
        self, session: Session, owner_id: str, request_id: str
    ) -> tuple[RequestRecipient, FootageRequest]:
        found = session.execute(
            select(RequestRecipient, FootageRequest)
            .join(FootageRequest, RequestRecipient.request_id == FootageRequest.id)
            .where(RequestRecipient.owner_id == owner_id, RequestRecipient.request_id == request_id)
        ).one_or_none()
        if found is None:
            raise request_not_found(request_id)
        recipient, request = found
        if request.kind != CONSENT or request.status != OPEN:
            raise RequestClosedError("this request is closed and takes no more answers")
        if aware(request.respond_by) <= self.clock():
            raise RequestClosedError("this request's response deadline has passed")
        return recipient, request

    def share(
        self,
        owner_id: str,
        request_id: str,
        clip_ids: Sequence[str],
        *,
        redacted: Mapping[str, str] | None = None,
        surface: str = "ui",
    ) -> list[ShareView]:
        """Share chosen clips (the owner's own, matching the request) with the request's agency.

        ``clip_ids`` are shared as recorded; ``redacted`` maps clips to share with faces redacted to the
        redacted copy the owner previewed (:meth:`preview_redacted`): the agency then gets only that copy.
        Passes the gate as ``footage.share``. Sharing more clips later adds to what was shared; a clip
        already shared keeps the way it was shared.
        """
        copies = dict(redacted or {})
        wanted = list(dict.fromkeys([*clip_ids, *copies]))
        if not wanted:
            raise InvalidParameterError("choose at least one clip to share")
        actor = self.owner_actor(owner_id, surface)
        with db.transaction(self.sessions) as session:
            self._owner(session, owner_id)
            recipient, request = self._recipient(session, owner_id, request_id)
            matching = {c.id: c for c, _ in self._matching_clips(session, owner_id, request)}
            for clip_id in wanted:
                if clip_id not in matching:
                    raise clip_not_found(clip_id)
            for clip_id, copy_id in copies.items():
                self._preview_copy(session, owner_id, copy_id, matching[clip_id])
            case_number = request.case_number
        context = RequestContext(
            case_number=case_number,
            inputs={"request_id": request_id, "clips": len(wanted), "redacted": len(copies)},
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
                    chosen = copies.get(clip_id)
                    if chosen is not None:  # checked again: the preview may have been cancelled since
                        clip = session.get(Clip, clip_id)
                        assert clip is not None
                        self._preview_copy(session, owner_id, chosen, clip)
                    share = Share(
                        request_id=request_id,
                        clip_id=clip_id,
                        owner_id=owner_id,
                        shared_at=now,
                        contact=contact,
                        evidence=False,
                        kind=CONSENT,
                        redacted_copy_id=chosen,
                    )
                    session.add(share)
                    session.flush()
                    self._record_share(session, actor, share, case_number)
            recipient.status = SHARED
            recipient.responded_at = now
            session.flush()
            rows = session.scalars(
                select(Share)
                .where(Share.request_id == request_id, Share.owner_id == owner_id)
                .order_by(Share.shared_at)
            )
            return [ShareView.of(r) for r in rows]

    def _preview_copy(self, session: Session, owner_id: str, copy_id: str, clip: Clip) -> RedactedCopy:
        """The owner's own redacted copy of ``clip`` (made by :meth:`preview_redacted`); anything else, or
        someone else's, answers not found."""
        row = session.get(RedactedCopy, copy_id)
        if (
            row is None
            or row.made_by != f"person:{owner_id}"
            or row.source_media_id != clip.media_id
            or row.purpose != "portal_share"
            or row.org_id != self._residents(session).id
        ):
            raise NotFoundError(f"redacted preview {copy_id!r} not found")
        return row

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
