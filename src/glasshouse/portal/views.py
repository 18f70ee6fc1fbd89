"""What the portal hands its surfaces: frozen dataclasses detached from any database session."""

from __future__ import annotations

import math
import mimetypes
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final

from glasshouse.portal import rules
from glasshouse.portal.models import (
    DISCLOSURE_DESCRIPTION,
    EMERGENCY,
    Camera,
    Clip,
    EmergencyDisclosure,
    FootageRequest,
    OwnerSettings,
    Share,
)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def aware_or_none(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


#: The JSON key of a view's ``agency_name``.
_AGENCY: Final = {"agency_name": "agency"}


def _json(
    view: Any, *, hide: Collection[str] = (), rename: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A view's fields in their order, less ``hide``, times in ISO 8601; ``rename``: field -> JSON key."""
    keys = rename or {}
    return {
        keys.get(f.name, f.name): _iso(value)
        if isinstance(value := getattr(view, f.name), datetime)
        else value
        for f in fields(view)
        if f.name not in hide
    }


def _download_name(clip_id: str, content_type: str) -> str:
    """The file name a download carries: the clip id, never the owner's own file name (which may say where
    or whose the camera is)."""
    return clip_id + (mimetypes.guess_extension(content_type) or "")


@dataclass(frozen=True, slots=True)
class CameraView:
    id: str
    owner_id: str
    name: str
    latitude: float
    longitude: float
    note: str
    created_at: datetime

    @classmethod
    def of(cls, row: Camera) -> CameraView:
        return cls(
            row.id, row.owner_id, row.name, row.latitude, row.longitude, row.note, aware(row.created_at)
        )

    def to_json(self) -> dict[str, Any]:
        return _json(self, hide={"owner_id"})


@dataclass(frozen=True, slots=True)
class ClipView:
    """A clip's metadata with its camera, for its owner only (an agency gets :class:`AgencyClipView`)."""

    id: str
    camera_id: str
    camera_name: str
    latitude: float
    longitude: float
    filename: str
    content_type: str
    size: int
    sha256: str
    started_at: datetime
    ends_at: datetime
    duration_seconds: float
    created_at: datetime

    @classmethod
    def of(cls, row: Clip, camera: Camera) -> ClipView:
        return cls(
            row.id,
            camera.id,
            camera.name,
            camera.latitude,
            camera.longitude,
            row.filename,
            row.content_type,
            row.size,
            row.sha256,
            aware(row.started_at),
            aware(row.ends_at),
            row.duration_seconds,
            aware(row.created_at),
        )

    @property
    def download_name(self) -> str:
        return _download_name(self.id, self.content_type)

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, slots=True)
class AgencyClipView:
    """A shared clip as its agency sees it: the file and when it was recorded, nothing the owner did not
    choose to share (no camera, name, position or file name; the owner's contact is on the share record,
    only if they opted in)."""

    id: str
    content_type: str
    size: int
    sha256: str
    started_at: datetime
    ends_at: datetime
    duration_seconds: float
    #: The file is the clip's redacted copy (``size``, ``sha256`` and ``content_type`` are the copy's).
    redacted: bool = False

    @classmethod
    def of(cls, row: Clip) -> AgencyClipView:
        return cls(
            row.id,
            row.content_type,
            row.size,
            row.sha256,
            aware(row.started_at),
            aware(row.ends_at),
            row.duration_seconds,
        )

    @property
    def download_name(self) -> str:
        return _download_name(self.id + ("-redacted" if self.redacted else ""), self.content_type)

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, slots=True)
class OwnerSettingsView:
    retention_days: int
    opted_out: bool
    share_contact: bool
    contact: str

    @classmethod
    def of(cls, row: OwnerSettings) -> OwnerSettingsView:
        return cls(row.retention_days, row.opted_out, row.share_contact, row.contact)

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, slots=True)
class FootageRequestInput:
    """What an investigator files. ``area`` is the JSON form (see :mod:`glasshouse.portal.rules`)."""

    incident_type: str
    case_number: str
    description: str
    contact: str
    area: dict[str, Any]
    window_start: datetime
    window_end: datetime
    respond_by: datetime
    #: The investigative purpose the gate checks, as the investigator declared it (never defaulted).
    purpose: str


@dataclass(frozen=True, slots=True)
class RequestView:
    """A request as its agency (and the owners asked) see it."""

    id: str
    kind: str
    agency_org_id: str
    agency_name: str
    created_by: str
    incident_type: str
    case_number: str
    description: str
    contact: str
    area: dict[str, Any]
    area_sq_mi: float
    window_start: datetime
    window_end: datetime
    respond_by: datetime
    status: str
    closed_at: datetime | None
    access_until: datetime | None
    created_at: datetime
    recipient_count: int
    #: Owners (clips) who shared with their consent; ``disclosed_*``: disclosed without it (emergency).
    shared_owner_count: int
    shared_clip_count: int
    disclosed_owner_count: int = 0
    disclosed_clip_count: int = 0

    @classmethod
    def of(
        cls,
        row: FootageRequest,
        agency_name: str,
        recipients: int,
        owners: int,
        clips: int,
        disclosed_owners: int = 0,
        disclosed_clips: int = 0,
    ) -> RequestView:
        area, area_sq_mi, description = dict(row.area), row.area_sq_mi, row.description
        if row.kind == EMERGENCY:
            area, area_sq_mi = _disclosure_area(area, area_sq_mi)
            description = DISCLOSURE_DESCRIPTION
        return cls(
            row.id,
            row.kind,
            row.agency_org_id,
            agency_name,
            row.created_by,
            row.incident_type,
            row.case_number,
            description,
            row.contact,
            area,
            area_sq_mi,
            aware(row.window_start),
            aware(row.window_end),
            aware(row.respond_by),
            row.status,
            aware_or_none(row.closed_at),
            aware_or_none(row.access_until),
            aware(row.created_at),
            recipients,
            owners,
            clips,
            disclosed_owners,
            disclosed_clips,
        )

    def to_json(self) -> dict[str, Any]:
        # How many owners were asked stays out: an agency filing areas and reading counts would map cameras.
        data = _json(self, hide={"agency_org_id", "created_by", "recipient_count"}, rename=_AGENCY)
        return {**data, "area_sq_mi": round(self.area_sq_mi, 4)}


def _disclosure_area(area: dict[str, Any], area_sq_mi: float) -> tuple[dict[str, Any], float]:
    """An emergency request's area as grid cells. Requests approved before disclosures were published as
    cells hold a circle centred on the cameras: shown as the cells covering that circle instead."""
    if area.get("type") != "circle":
        return area, area_sq_mi
    (lat, lon), radius = area["center"], float(area["radius_m"])
    dlat = math.degrees(radius / rules.EARTH_RADIUS_M)
    dlon = dlat / max(1e-9, math.cos(math.radians(lat)))
    corners = [
        (max(-90.0, lat - dlat), max(-180.0, lon - dlon)),
        (min(90.0, lat + dlat), min(180.0, lon + dlon)),
    ]
    cells = rules.disclosure_area(corners)
    return cells.to_json(), rules.area_sq_mi(cells)


@dataclass(frozen=True, slots=True)
class PublicRequestView:
    """A request as the public sees it: what, where, when, by whom, and how many owners shared, never who
    (nor how many were asked or declined)."""

    id: str
    kind: str
    agency_name: str
    incident_type: str
    description: str
    area: dict[str, Any]
    area_sq_mi: float
    window_start: datetime
    window_end: datetime
    respond_by: datetime
    status: str
    created_at: datetime
    #: Owners who shared with their consent; and owners whose clips were disclosed without it.
    shared_owner_count: int
    disclosed_owner_count: int

    @classmethod
    def of(cls, view: RequestView) -> PublicRequestView:
        """The public part of ``view`` (every field of this class is one of ``RequestView``'s)."""
        return cls(**{f.name: getattr(view, f.name) for f in fields(cls)})

    def to_json(self) -> dict[str, Any]:
        return {**_json(self, rename=_AGENCY), "area_sq_mi": round(self.area_sq_mi, 4)}


@dataclass(frozen=True, slots=True)
class ShareView:
    """The chain-of-custody record of one shared clip."""

    id: str
    request_id: str
    clip_id: str
    shared_at: datetime
    contact: str | None
    evidence: bool
    kind: str
    #: Shared with faces redacted (the agency gets the copy), and when the owner let it have the original.
    redacted: bool = False
    unredacted_at: datetime | None = None

    @classmethod
    def of(cls, row: Share) -> ShareView:
        return cls(
            row.id,
            row.request_id,
            row.clip_id,
            aware(row.shared_at),
            row.contact,
            row.evidence,
            row.kind,
            row.redacted_copy_id is not None,
            aware_or_none(row.unredacted_at),
        )

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, slots=True)
class SharedClip:
    """A clip shared into a request, with its share record; ``accessible``: downloadable now."""

    clip: AgencyClipView
    share: ShareView
    accessible: bool
    #: For a redacted share: the copy's record (what the agency downloads while ``served == "redacted"``).
    redacted_copy: RedactedCopyRecord | None = None
    #: The agency's latest unredaction request for this share, if any.
    unredaction: UnredactionView | None = None

    @property
    def served(self) -> str:
        """What a download gives the agency: ``redacted`` (the copy) or ``original``."""
        return "redacted" if self.share.redacted and self.share.unredacted_at is None else "original"

    @property
    def download_name(self) -> str:
        """The file name of what the agency downloads (``<clip id>-redacted.mp4`` for the copy)."""
        if self.served == "redacted" and self.redacted_copy is not None:
            return _download_name(self.clip.id + "-redacted", self.redacted_copy.content_type)
        return self.clip.download_name

    def to_json(self) -> dict[str, Any]:
        return {
            **self.clip.to_json(),
            "share": self.share.to_json(),
            "accessible": self.accessible,
            "served": self.served,
            "redacted_copy": self.redacted_copy.to_json() if self.redacted_copy else None,
            "unredaction": self.unredaction.to_json() if self.unredaction else None,
        }


@dataclass(frozen=True, slots=True)
class RedactedCopyRecord:
    """A redacted copy's chain-of-custody record as an agency sees it (never who made it): its SHA-256,
    its original's, the settings and the engine, so anyone can redo it and compare."""

    sha256: str
    source_sha256: str
    size: int
    content_type: str
    settings: dict[str, Any]
    engine: str
    summary: dict[str, Any]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, slots=True)
class UnredactionView:
    """An agency's request for the original of a clip shared redacted, and the owner's answer."""

    id: str
    request_id: str
    clip_id: str
    agency_name: str
    case_number: str
    reason: str
    filed_at: datetime
    status: str
    answered_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return _json(self, rename=_AGENCY)


@dataclass(frozen=True, slots=True)
class DisclosureNotice:
    """What an owner is told of an emergency disclosure of their clips: why, for which case, and the
    organisations of the operator who asked and of the one who approved."""

    reason: str
    case_number: str
    requested_by_org: str
    approved_by_org: str
    approved_at: datetime | None
    #: Whether the agency got redacted copies; if not, the approving operator's reason.
    redacted: bool | None = None
    unredacted_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A request in an owner's inbox: the request, the owner's clips that match it, and their answer.
    ``request.kind == "emergency"``: the clips were disclosed without consent (status ``disclosed``;
    ``notified_at`` says when the owner was told, ``disclosure`` why and by whom)."""

    request: RequestView
    status: str
    responded_at: datetime | None
    notified_at: datetime | None
    clips: tuple[ClipView, ...]
    shared_clip_ids: frozenset[str] = field(default_factory=frozenset)
    disclosure: DisclosureNotice | None = None

    @property
    def open(self) -> bool:
        return self.request.status == "open" and self.request.kind == "consent"

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request.to_json(),
            "status": self.status,
            "responded_at": _iso(self.responded_at),
            "notified_at": _iso(self.notified_at),
            "clips": [c.to_json() for c in self.clips],
            "shared_clip_ids": sorted(self.shared_clip_ids),
            "disclosure": self.disclosure.to_json() if self.disclosure else None,
        }


@dataclass(frozen=True, slots=True)
class AgencyProfile:
    name: str
    jurisdiction: str | None
    verified: bool
    requests: tuple[PublicRequestView, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "jurisdiction": self.jurisdiction,
            "verified": self.verified,
            "requests": [r.to_json() for r in self.requests],
        }


@dataclass(frozen=True, slots=True)
class DisclosureView:
    id: str
    agency_org_id: str
    agency_name: str
    clip_ids: tuple[str, ...]
    case_number: str
    reason: str
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    status: str
    request_id: str | None
    notified_at: datetime | None
    #: Set on approval: redacted copies disclosed (True), or the originals, for ``unredacted_reason``.
    redacted: bool | None = None
    unredacted_reason: str | None = None

    @classmethod
    def of(cls, row: EmergencyDisclosure, agency_name: str) -> DisclosureView:
        return cls(
            row.id,
            row.agency_org_id,
            agency_name,
            tuple(row.clip_ids),
            row.case_number,
            row.reason,
            row.requested_by,
            aware(row.requested_at),
            row.approved_by,
            aware_or_none(row.approved_at),
            row.status,
            row.request_id,
            aware_or_none(row.notified_at),
            row.redacted,
            row.unredacted_reason,
        )

    def to_json(self) -> dict[str, Any]:
        data = _json(self, hide={"agency_org_id"}, rename=_AGENCY)
        return {**data, "clip_ids": list(self.clip_ids)}


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one retention sweep did."""

    clips_deleted: int
    clips_kept_for_cases: int
    orphans_removed: int
