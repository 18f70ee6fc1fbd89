"""Where a camera is stays with its owner: an emergency disclosure is published as the coarse grid cells holding
the cameras (never a shape centred on one), counted and labelled apart from consented shares on every public
page, the feed's JSON and the owner's inbox; an agency sees only what an owner chose to share (no camera name,
position, camera id or file name, nor how many owners a request reached)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from glasshouse.governance.actor import Actor
from glasshouse.portal import rules
from portal.conftest import HOME, PortalWorld, make_video
from web_support import PASSWORD, SETUP, signed_in

LAT, LON = HOME
REASON = "A child reported missing outside 12 Elm Street was seen passing this camera; imminent danger."
#: A second point about 140 m west-south-west of HOME, inside the same 500 m grid cell.
NEAR = (43.2545, -79.8727)


def _operators(world: PortalWorld) -> tuple[Actor, Actor]:
    """Two different people holding the operator role (the world's person-bound operator keys)."""
    return world.operator_a, world.operator_b


def _disclose(world: PortalWorld, clip_ids: list[str], case: str, ops: tuple[Actor, Actor]) -> str:
    portal = world.svc.portal
    asked = portal.emergency_request(ops[0], "hamilton-police", clip_ids, REASON, case)
    return str(portal.emergency_approve(ops[1], asked.id).request_id)


def _public_texts(world: PortalWorld) -> list[str]:
    """Everything anyone can read about requests without signing in."""
    c = world.client
    return [
        c.get("/portal").text,
        c.get("/portal/agencies/hamilton-police").text,
        c.get("/v1/portal/requests").text,
        c.get("/v1/portal/agencies/hamilton-police").text,
        c.get("/transparency").text,
        c.get("/transparency.json").text,
        c.get("/transparency.csv").text,
    ]


def _coordinates(lat: float, lon: float) -> list[str]:
    """How a position could be written in a page or JSON (4 decimals and more: about 10 m)."""
    return [f"{lat:.{n}f}" for n in (4, 5, 6)] + [f"{lon:.{n}f}" for n in (4, 5, 6)] + [repr(lat), repr(lon)]


def test_a_public_disclosure_shows_grid_cells_never_the_cameras_position(world: PortalWorld) -> None:
    ops = _operators(world)
    _, alice = world.owner("alice")
    cam = world.camera(alice, LAT, LON, name="Front door")
    first = world.clip(alice, cam, world.clock.now - timedelta(hours=3))
    second = world.clip(alice, cam, world.clock.now - timedelta(hours=2))
    _, bob = world.owner("bob")
    bob_clip = world.clip(
        bob, world.camera(bob, *NEAR, name="Side gate"), world.clock.now - timedelta(hours=3)
    )
    for clip, case in ((first, "HPS-E-1"), (second, "HPS-E-2"), (bob_clip, "HPS-E-3")):
        _disclose(world, [clip], case, ops)

    feed = world.client.get("/v1/portal/requests").json()["requests"]
    assert len(feed) == 3
    areas = [f["area"] for f in feed]
    for entry in feed:
        area = rules.parse_area(entry["area"])
        assert isinstance(area, rules.Polygon) and entry["area_sq_mi"] >= rules.MIN_AREA_SQ_MI
        assert rules.area_sq_mi(area) >= rules.MIN_AREA_SQ_MI
        assert rules.contains(area, LAT, LON)  # it does hold the camera...
        # ...but says nothing finer: the same cell for every disclosure of this camera and for a camera 140 m
        # away, so intersecting many disclosures narrows nothing down.
        assert REASON not in json.dumps(entry) and "12 Elm" not in json.dumps(entry)
    assert areas[0] == areas[1] == areas[2]
    # Never the camera's own position, nor a shape centred on it.
    for text in _public_texts(world):
        for written in _coordinates(LAT, LON) + _coordinates(*NEAR):
            assert written not in text, written
        assert "Front door" not in text and "Side gate" not in text
    cell = rules.parse_area(areas[0])
    assert isinstance(cell, rules.Polygon)
    centre = (sum(p[0] for p in cell.points) / 4, sum(p[1] for p in cell.points) / 4)
    assert rules.distance_m(centre, HOME) > 50 or rules.distance_m(centre, NEAR) > 50


def test_disclosures_are_counted_and_labelled_apart_from_shares(world: PortalWorld) -> None:
    ops = _operators(world)
    _, alice = world.owner("alice")
    cam = world.camera(alice, LAT, LON, name="Front door")
    clip = world.clip(alice, cam, world.clock.now - timedelta(hours=2))
    consented = world.file().json()["id"]
    r = world.client.post(f"/v1/portal/inbox/{consented}/share", json={"clip_ids": [clip]}, headers=alice)
    assert r.status_code == 200, r.text
    disclosed = _disclose(world, [clip], "HPS-E-9", ops)

    feed = {f["id"]: f for f in world.client.get("/v1/portal/requests").json()["requests"]}
    assert (feed[consented]["shared_owner_count"], feed[consented]["disclosed_owner_count"]) == (1, 0)
    assert (feed[disclosed]["shared_owner_count"], feed[disclosed]["disclosed_owner_count"]) == (0, 1)
    profile = world.client.get("/v1/portal/agencies/hamilton-police").json()["requests"]
    assert {(p["kind"], p["shared_owner_count"], p["disclosed_owner_count"]) for p in profile} == {
        ("consent", 1, 0),
        ("emergency", 0, 1),
    }
    for page in ("/portal", "/portal/agencies/hamilton-police"):
        html = world.client.get(page).text
        assert 'id="total-shared">1<' in html and 'id="total-disclosed">1<' in html, page
        assert 'id="total-requests">1<' in html and 'id="total-disclosures">1<' in html, page
        assert "disclosed without their consent" in html and "emergency disclosure without consent" in html
    # The agency's own list says which clips it got without consent.
    agency = {r["id"]: r for r in world.client.get("/v1/portal/agency/requests", headers=world.agency_headers)
              .json()["requests"]}  # fmt: skip
    assert (agency[disclosed]["shared_owner_count"], agency[disclosed]["disclosed_owner_count"]) == (0, 1)

    report = world.client.get("/transparency.json?period=year").json()
    totals = report["totals"]
    assert (totals["footage_shares"], totals["emergency_disclosures"]) == (1, 1)
    page = world.client.get("/transparency").text
    assert 'id="total-footage-shares">1<' in page and 'id="total-emergency-disclosures">1<' in page
    assert "Emergency disclosures without consent" in page and "never counted as a share" in page


def test_the_owner_is_told_of_a_disclosure_without_consent_with_reason_case_and_approvers(
    world: PortalWorld,
) -> None:
    ops = _operators(world)
    _, alice = world.owner("alice")
    clip = world.clip(alice, world.camera(alice, LAT, LON), world.clock.now - timedelta(hours=2))
    _disclose(world, [clip], "HPS-E-7", ops)

    [item] = world.client.get("/v1/portal/inbox", headers=alice).json()["items"]
    assert item["status"] == "disclosed" and item["status"] != "shared" and item["responded_at"] is None
    assert item["disclosure"] == {
        "reason": REASON,
        "case_number": "HPS-E-7",
        "requested_by_org": "operators",
        "approved_by_org": "operators",
        "approved_at": item["disclosure"]["approved_at"],
        "redacted": True,  # the agency got copies with every face blurred (no reason was given not to)
        "unredacted_reason": None,
    }
    assert item["notified_at"] and item["disclosure"]["approved_at"]

    owner = signed_in(world.client.app, "alice@example.org")  # type: ignore[arg-type]
    html = owner.get("/ui/portal/inbox").text
    assert "Disclosed without your consent" in html and "disclosed without your consent" in html
    assert REASON in html and "HPS-E-7" in html
    assert 'class="disclosure-requested-by">operators<' in html
    assert 'class="disclosure-approved-by">operators<' in html
    assert "Your answer" not in html and ">shared<" not in html


def _investigator(world: PortalWorld) -> TestClient:
    people = world.svc.people
    people.create(SETUP, world.agency.org_id, "ida@police.example", "Ida", PASSWORD, ["investigator"])
    return signed_in(world.client.app, "ida@police.example")  # type: ignore[arg-type]


def _agency_surfaces(world: PortalWorld, officer: TestClient, rid: str, clip: str) -> dict[str, Any]:
    h = world.agency_headers
    rest = world.client.get(f"/v1/portal/requests/{rid}/clips", headers=h)
    rest_download = world.client.get(f"/v1/portal/requests/{rid}/clips/{clip}/download", headers=h)
    ui_download = officer.get(f"/ui/portal/requests/{rid}/clips/{clip}/download")
    assert rest.status_code == rest_download.status_code == ui_download.status_code == 200
    return {
        "rest": rest.text,
        "rest_clip": rest.json()["clips"][0],
        "rest_requests": world.client.get("/v1/portal/agency/requests", headers=h).text,
        "rest_media": world.client.get("/v1/media", headers=h).text,
        "rest_headers": dict(rest_download.headers),
        "ui": officer.get(f"/ui/portal/requests/{rid}").text,
        "ui_list": officer.get("/ui/portal/requests").text,
        "ui_headers": dict(ui_download.headers),
        "audit": json.dumps(
            [e.to_json() for e in world.svc.audit.search() if e.actor_org_id == world.agency.org_id]
        ),
    }


@pytest.mark.parametrize("how", ["consent", "emergency"])
def test_an_agency_learns_only_what_the_owner_chose_to_share(world: PortalWorld, how: str) -> None:
    officer = _investigator(world)
    _, alice = world.owner("alice")
    cam = world.camera(alice, LAT, LON, name="Front door")
    r = world.upload(
        alice, cam, make_video(), world.clock.now - timedelta(hours=2), "front-door-12-elm-st.mp4"
    )
    assert r.status_code == 201, r.text
    clip = r.json()["id"]
    if how == "consent":  # an area the agency drew around another point (~140 m away)
        area = {"type": "circle", "center": [LAT + 0.001, LON + 0.001], "radius_m": 300.0}
        rid = world.file(area=area).json()["id"]
        shared = world.client.post(f"/v1/portal/inbox/{rid}/share", json={"clip_ids": [clip]}, headers=alice)
        assert shared.status_code == 200, shared.text
    else:
        rid = _disclose(world, [clip], "HPS-E-5", _operators(world))

    seen = _agency_surfaces(world, officer, rid, clip)
    assert set(seen["rest_clip"]) == {
        "id", "content_type", "size", "sha256", "started_at", "ends_at", "duration_seconds", "redacted", "share",
        "accessible", "served", "redacted_copy", "unredaction",
    }  # fmt: skip
    # An emergency disclosure is redacted by default (the approver gave no reason not to): the agency gets
    # the copy, whose record names no one (no maker) and nothing of the camera.
    redacted = how == "emergency"
    assert seen["rest_clip"]["served"] == ("redacted" if redacted else "original")
    if redacted:
        assert "made_by" not in seen["rest_clip"]["redacted_copy"]
    for name, text in seen.items():
        text = json.dumps(text) if not isinstance(text, str) else text
        for secret in ("Front door", "front-door", "elm-st", cam, "latitude", "longitude", "recipient_count"):
            assert secret not in text, (name, secret)
        for written in _coordinates(LAT, LON):
            assert written not in text, (name, written)
    for headers in (seen["rest_headers"], seen["ui_headers"]):
        name = f"{clip}-redacted.mp4" if redacted else f"{clip}.mp4"
        assert headers["content-disposition"] == f'attachment; filename="{name}"'
    label = "disclosed without the owner's consent" if how == "emergency" else "shared by the owner"
    assert label in seen["ui"]
    # The Rekognition object an agency names is the request and the clip, resolved only for it.
    info = world.svc.media.resolve_s3_object(world.agency.org_id, "portal-shared", f"{rid}/{clip}")
    served = seen["rest_clip"]["redacted_copy"]["sha256"] if redacted else seen["rest_clip"]["sha256"]
    assert info.sha256 == served


def test_a_disclosure_approved_before_the_grid_is_shown_as_cells(world: PortalWorld) -> None:
    """Rows written by earlier versions hold a 50 m circle on the camera and the reason in the description:
    every view shows the cells covering that circle and the fixed public description instead."""
    from glasshouse.portal.models import DISCLOSURE_DESCRIPTION, FootageRequest
    from glasshouse.portal.views import RequestView

    now = world.clock.now
    row = FootageRequest(
        id="legacy", kind="emergency", agency_org_id=world.agency.org_id, created_by="x", incident_type="other",
        case_number="OLD-1", description=f"Emergency disclosure without consent: {REASON}", contact="",
        area={"type": "circle", "center": [LAT, LON], "radius_m": 50.0}, area_sq_mi=0.003,
        window_start=now, window_end=now, respond_by=now, status="open", created_at=now,
    )  # fmt: skip
    view = RequestView.of(row, "hamilton-police", 1, 0, 0, 1, 1)
    area = rules.parse_area(view.area)
    assert isinstance(area, rules.Polygon) and view.area_sq_mi >= rules.MIN_AREA_SQ_MI
    assert rules.contains(area, LAT, LON) and view.description == DISCLOSURE_DESCRIPTION
    assert REASON not in json.dumps(view.area) and "12 Elm" not in view.description
