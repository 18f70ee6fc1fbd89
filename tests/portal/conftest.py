"""A portal world: a verified agency, an unverified one, a commercial organisation, two operators, camera
owners with session tokens, a real app behind a TestClient, and a clock the tests can move."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clip_cuts import cut
from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.media.models import MediaObject
from glasshouse.portal.models import Clip
from glasshouse.services import Services
from web_support import PASSWORD, SETUP

#: Home of the test cameras (Hamilton, Ontario); 0.001 degree of latitude is about 111 m.
HOME = (43.2557, -79.8711)


class Clock:
    """A clock the tests move; starts at the real time (the API tests file windows relative to it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_video(
    seconds: float = 2.0, fps: int = 10, fmt: str = "mp4", size: tuple[int, int] = (64, 48)
) -> bytes:
    """A small real video (PyAV), ``seconds`` long."""
    buffer = io.BytesIO()
    codec = {"mp4": "mpeg4", "webm": "libvpx"}[fmt]
    with av.open(buffer, mode="w", format="mp4" if fmt == "mp4" else "webm") as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(round(seconds * fps)):
            rgb = np.full((size[1], size[0], 3), (i * 7) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


@dataclass
class PortalWorld:
    svc: Services
    client: TestClient
    clock: Clock
    agency: Actor
    agency_headers: dict[str, str]
    other_agency: Actor
    other_agency_headers: dict[str, str]
    unverified_headers: dict[str, str]
    commercial_headers: dict[str, str]
    operator_a: Actor
    operator_b: Actor
    operator_a_headers: dict[str, str]
    operator_b_headers: dict[str, str]
    #: Two organisation-wide keys of the operators' organisation (bound to no person).
    operator_org_headers: tuple[dict[str, str], dict[str, str]]
    owners: dict[str, str] = field(default_factory=dict)  # email -> person id
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)  # email -> headers

    # -- owners --------------------------------------------------------------------------------------------
    def owner(self, name: str) -> tuple[str, dict[str, str]]:
        """A camera owner signed up and signed in through the API: (person id, auth headers)."""
        email = f"{name}@example.org"
        if email not in self.owners:
            r = self.client.post(
                "/v1/portal/signup", json={"email": email, "name": name, "password": PASSWORD}
            )
            assert r.status_code == 201, r.text
            self.owners[email] = r.json()["id"]
            r = self.client.post("/v1/portal/session", json={"email": email, "password": PASSWORD})
            assert r.status_code == 201, r.text
            self.tokens[email] = {"Authorization": f"Bearer {r.json()['token']}"}
        return self.owners[email], self.tokens[email]

    def camera(self, headers: dict[str, str], lat: float, lon: float, name: str = "porch") -> str:
        r = self.client.post(
            "/v1/portal/cameras",
            json={"name": name, "latitude": lat, "longitude": lon, "note": "street"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def upload(
        self,
        headers: dict[str, str],
        camera_id: str,
        data: bytes,
        started_at: datetime,
        filename: str = "clip.mp4",
    ) -> Any:
        return self.client.post(
            "/v1/portal/clips",
            params={"camera_id": camera_id, "started_at": started_at.isoformat(), "filename": filename},
            content=data,
            headers={**headers, "Content-Type": "video/mp4"},
        )

    def clip(
        self, headers: dict[str, str], camera_id: str, started_at: datetime, seconds: float = 2.0
    ) -> str:
        r = self.upload(headers, camera_id, make_video(seconds), started_at)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    # -- requests ------------------------------------------------------------------------------------------
    def request_body(self, **overrides: Any) -> dict[str, Any]:
        now = self.clock.now
        body: dict[str, Any] = {
            "incident_type": "burglary",
            "case_number": "HPS-2026-0412",
            "description": "Break-in at a house on the street; suspect wore a red hoodie and carried a bag.",
            "contact": "Det. Smith, 905-555-0100",
            "area": {"type": "circle", "center": list(HOME), "radius_m": 300.0},
            "window_start": (now - timedelta(hours=3)).isoformat(),
            "window_end": (now - timedelta(hours=1)).isoformat(),
            "respond_by": (now + timedelta(days=7)).isoformat(),
            "purpose": "criminal_investigation",
        }
        body.update(overrides)
        return body

    def file(self, headers: dict[str, str] | None = None, **overrides: Any) -> Any:
        return self.client.post(
            "/v1/portal/requests", json=self.request_body(**overrides), headers=headers or self.agency_headers
        )

    # -- inspection ----------------------------------------------------------------------------------------
    def audit(self, action: str) -> list[Any]:
        return self.svc.audit.search(AuditFilter(action=action))

    def stored_files(self) -> list[Path]:
        """Every file in the media store and the upload spool (temporaries included)."""
        roots = [self.svc.settings.media_path, self.svc.settings.data_dir / "portal-spool"]
        return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())

    def clip_rows(self) -> int:
        with self.svc.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Clip)) or 0)

    def media_rows(self) -> int:
        with self.svc.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(MediaObject)) or 0)


def _org(
    svc: Services, name: str, sector: str, *, verified: bool = False, operator: bool = False
) -> tuple[Actor, dict[str, str]]:
    org = svc.organisations.create(SETUP, name, sector=sector, is_operator=operator)
    if verified:
        svc.organisations.update(SETUP, name, verified=True, reason="identity checked")
    key = svc.keys.create(org.id)
    actor = Actor(
        org_id=org.id, org_name=org.name, surface="rest", key_id=key.access_key_id, is_operator=operator
    )
    return actor, {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}


def _operator_person(svc: Services, org: Actor, name: str) -> tuple[Actor, dict[str, str]]:
    """An operator (a person with the operator role) and a key issued to them."""
    person = svc.people.create(SETUP, org.org_id, f"{name}@ops.example", name, PASSWORD, ["operator"])
    key = svc.keys.create(org.org_id, person_id=person.id)
    actor = Actor(
        org_id=org.org_id,
        org_name=org.org_name,
        surface="rest",
        key_id=key.access_key_id,
        person=person.id,
        is_operator=True,
    )
    return actor, {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}


def _org_key(svc: Services, org: Actor) -> dict[str, str]:
    key = svc.keys.create(org.org_id)
    return {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(settings: Settings, clock: Clock) -> Iterator[PortalWorld]:
    svc = Services(settings, clock=clock)
    agency, agency_headers = _org(svc, "hamilton-police", "law_enforcement", verified=True)
    other, other_headers = _org(svc, "other-police", "law_enforcement", verified=True)
    _, unverified_headers = _org(svc, "unverified-police", "law_enforcement")
    _, commercial_headers = _org(svc, "acme-security", "commercial", verified=True)
    operators, op_org_headers = _org(svc, "operators", "nonprofit", operator=True)
    op_a, op_a_headers = _operator_person(svc, operators, "ola")
    op_b, op_b_headers = _operator_person(svc, operators, "omar")
    with TestClient(create_app(settings, services=svc)) as client:
        yield PortalWorld(
            svc,
            client,
            clock,
            agency,
            agency_headers,
            other,
            other_headers,
            unverified_headers,
            commercial_headers,
            op_a,
            op_b,
            op_a_headers,
            op_b_headers,
            (op_org_headers, _org_key(svc, operators)),
        )
    svc.close()


@pytest.fixture
def hamilton_clip(shared_data: Path) -> Path:
    return shared_data / "video" / "hamilton" / "short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def door_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The first second of the shared Hamilton clip: a resident's doorbell clip."""
    source = shared_data / "video" / "hamilton" / "short_hamilton_clip.mp4"
    return cut(source, tmp_path_factory.mktemp("door") / "door.mp4", 1.0).read_bytes()


def emergency_body(clip_id: str) -> dict[str, Any]:
    """An operator's emergency disclosure request for one clip (POST /v1/portal/emergency)."""
    return {
        "agency": "hamilton-police",
        "clip_ids": [clip_id],
        "reason": "Child abducted from the street at 10:40; the car passed this camera.",
        "case_number": "HPS-2026-0999",
    }
