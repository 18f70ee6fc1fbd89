"""What the portal hands its surfaces: frozen dataclasses detached from any database session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from glasshouse.portal.models import Camera, Clip, EmergencyDisclosure, FootageRequest, OwnerSettings, Share


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


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
        return {
            "id": self.id,
            "name": self.name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ClipView:
    """A clip's metadata. The owner is not named: agencies see a clip, its camera and its hash."""

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

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "camera_id": self.camera_id,
            "camera_name": self.camera_name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "started_at": self.started_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "duration_seconds": self.duration_seconds,
            "created_at": self.created_at.isoformat(),
        }


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
        return {
            "retention_days": self.retention_days,
            "opted_out": self.opted_out,
            "share_contact": self.share_contact,
            "contact": self.contact,
        }


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
    #: The investigative purpose the gate checks (the default policy allows the investigative ones).
    purpose: str = "criminal_investigation"


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
    shared_owner_count: int
    shared_clip_count: int

    @classmethod
    def of(
        cls, row: FootageRequest, agency_name: str, recipients: int, owners: int, clips: int
    ) -> RequestView:
        return cls(
            row.id,
            row.kind,
            row.agency_org_id,
            agency_name,
            row.created_by,
            row.incident_type,
            row.case_number,
            row.description,
            row.contact,
            dict(row.area),
            row.area_sq_mi,
            aware(row.window_start),
            aware(row.window_end),
            aware(row.respond_by),
            row.status,
            aware(row.closed_at) if row.closed_at else None,
            aware(row.access_until) if row.access_until else None,
            aware(row.created_at),
            recipients,
            owners,
            clips,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "agency": self.agency_name,
            "incident_type": self.incident_type,
            "case_number": self.case_number,
            "description": self.description,
            "contact": self.contact,
            "area": self.area,
            "area_sq_mi": round(self.area_sq_mi, 4),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "respond_by": self.respond_by.isoformat(),
            "status": self.status,
            "closed_at": _iso(self.closed_at),
            "access_until": _iso(self.access_until),
            "created_at": self.created_at.isoformat(),
            "recipient_count": self.recipient_count,
            "shared_owner_count": self.shared_owner_count,
            "shared_clip_count": self.shared_clip_count,
        }


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
    shared_owner_count: int

    @classmethod
    def of(cls, view: RequestView) -> PublicRequestView:
        return cls(
            view.id,
            view.kind,
            view.agency_name,
            view.incident_type,
            view.description,
            view.area,
            view.area_sq_mi,
            view.window_start,
            view.window_end,
            view.respond_by,
            view.status,
            view.created_at,
            view.shared_owner_count,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "agency": self.agency_name,
            "incident_type": self.incident_type,
            "description": self.description,
            "area": self.area,
            "area_sq_mi": round(self.area_sq_mi, 4),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "respond_by": self.respond_by.isoformat(),
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "shared_owner_count": self.shared_owner_count,
        }


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

    @classmethod
    def of(cls, row: Share) -> ShareView:
        return cls(
            row.id, row.request_id, row.clip_id, aware(row.shared_at), row.contact, row.evidence, row.kind
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "clip_id": self.clip_id,
            "shared_at": self.shared_at.isoformat(),
            "contact": self.contact,
            "evidence": self.evidence,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class SharedClip:
    """A clip shared into a request, with its share record; ``accessible``: downloadable now."""

    clip: ClipView
    share: ShareView
    accessible: bool

    def to_json(self) -> dict[str, Any]:
        return {**self.clip.to_json(), "share": self.share.to_json(), "accessible": self.accessible}


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A request in an owner's inbox: the request, the owner's clips that match it, and their answer.
    ``request.kind == "emergency"``: the clips were disclosed without consent (``notified_at`` says when the
    owner was told; ``reason`` says why)."""

    request: RequestView
    status: str
    responded_at: datetime | None
    notified_at: datetime | None
    clips: tuple[ClipView, ...]
    shared_clip_ids: frozenset[str] = field(default_factory=frozenset)

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
            aware(row.approved_at) if row.approved_at else None,
            row.status,
            row.request_id,
            aware(row.notified_at) if row.notified_at else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agency": self.agency_name,
            "clip_ids": list(self.clip_ids),
            "case_number": self.case_number,
            "reason": self.reason,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "approved_by": self.approved_by,
            "approved_at": _iso(self.approved_at),
            "status": self.status,
            "request_id": self.request_id,
            "notified_at": _iso(self.notified_at),
        }


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one retention sweep did."""

    clips_deleted: int
    clips_kept_for_cases: int
    orphans_removed: int
