"""The 2020 moratorium enforced through unmodified boto3 against a live server, with obligations,
human review of leads, lifting and re-imposing through REST and CLI, and the audit trail of it all."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from aws_clients import make_client
from glasshouse.audit.service import AuditFilter
from glasshouse.bench.live_server import live_server
from glasshouse.cli.main import app
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.services import Services

MORATORIUM = "police-moratorium-2020"
PASSWORD = "correct horse battery staple"
OBLIGATIONS = {
    "X-Glasshouse-Purpose": "child_exploitation_investigation",
    "X-Glasshouse-Case": "CASE-2026-0042",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("governance") / "var"
    svc = Services(Settings(data_dir=data, model_cache_dir=model_cache_dir))
    cli = Actor(org_id="", org_name="test-setup", surface="cli")
    orgs = {
        "operators": svc.organisations.create(cli, "operators", sector="other_government", is_operator=True),
        "police": svc.organisations.create(cli, "police", sector="law_enforcement"),
        "icac": svc.organisations.create(cli, "icac", sector="law_enforcement", flags=["child_protection"]),
        "shop": svc.organisations.create(cli, "shop", sector="commercial"),
    }
    keys = {name: svc.keys.create(org.id) for name, org in orgs.items()}
    # Organisation-wide keys #2 and #3 of the unit: they are no person, so they may never review.
    keys["icac-org-2"] = svc.keys.create(orgs["icac"].id)
    keys["icac-org-3"] = svc.keys.create(orgs["icac"].id)
    # Keys issued to people act as those people (two keys of one reviewer are still one reviewer).
    people = {
        "icac-reviewer-1": ("rev1@icac.example", ["reviewer"]),
        "icac-reviewer-2": ("rev2@icac.example", ["reviewer"]),
        "icac-investigator-1": ("inv1@icac.example", ["investigator"]),
        "icac-investigator-2": ("inv2@icac.example", ["investigator"]),
    }
    for name, (email, roles) in people.items():
        person = svc.people.create(cli, orgs["icac"], email, name, PASSWORD, roles)
        keys[name] = svc.keys.create(orgs["icac"].id, person_id=person.id)
        if name == "icac-reviewer-1":
            keys["icac-reviewer-1-second-key"] = svc.keys.create(orgs["icac"].id, person_id=person.id)
    svc.close()
    with live_server(data, model_cache_dir, throttle_rate="0") as server:
        yield {"server": server, "keys": keys, "data": data, "model_cache": model_cache_dir}


def client(world: dict[str, Any], name: str, headers: dict[str, str] | None = None) -> Any:
    key = world["keys"][name]
    rek = make_client(world["server"].url, key.access_key_id, key.secret)
    if headers:

        def add(request: Any, **_: Any) -> None:
            for k, v in headers.items():
                request.headers[k] = v

        rek.meta.events.register("before-sign.rekognition.*", add)
    return rek


def rest(world: dict[str, Any], name: str) -> httpx.Client:
    key = world["keys"][name]
    return httpx.Client(
        base_url=world["server"].url + "/v1",
        headers={"Authorization": f"Bearer {key.access_key_id}:{key.secret}"},
        timeout=60,
    )


def denied(call: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException", exc.value.response
    return str(exc.value.response["Error"]["Message"])


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> dict[str, bytes]:
    ex = shared_data / "face_recognition/examples"
    return {n: (ex / n).read_bytes() for n in ("obama.jpg", "obama2.jpg", "biden.jpg")}


def audit(world: dict[str, Any], **filters: Any) -> list[Any]:
    svc = Services(Settings(data_dir=world["data"], model_cache_dir=world["model_cache"]))
    try:
        return svc.audit.search(AuditFilter(**filters))
    finally:
        svc.close()


def test_law_enforcement_is_denied_with_the_moratorium_named(
    world: dict[str, Any], photos: dict[str, bytes]
) -> None:
    police = client(world, "police", OBLIGATIONS)
    police.create_collection(CollectionId="suspects")  # metadata only: not a biometric operation
    image = {"Bytes": photos["obama.jpg"]}
    messages = [
        denied(police.search_faces_by_image, CollectionId="suspects", Image=image),
        denied(police.compare_faces, SourceImage=image, TargetImage=image),
        denied(police.index_faces, CollectionId="suspects", Image=image),
    ]
    for message in messages:
        assert f"rule '{MORATORIUM}'" in message and "glasshouse-default" in message
        assert "until further notice" in message
    assert police.detect_faces(Image=image)["FaceDetails"]  # detection is not under the moratorium
    entries = audit(world, org_name="police", decision="deny")
    assert {e.action for e in entries} >= {"face.search", "face.compare", "face.index"}
    assert all(e.rule == MORATORIUM for e in entries)
    assert all("Bytes" not in json.dumps(e.details) for e in entries)


def test_exempt_child_protection_unit_works_under_obligations(
    world: dict[str, Any], photos: dict[str, bytes]
) -> None:
    bare = client(world, "icac")
    image = {"Bytes": photos["obama.jpg"]}
    message = denied(bare.compare_faces, SourceImage=image, TargetImage=image)
    assert "purpose" in message and "case" in message
    protest = client(world, "icac", {**OBLIGATIONS, "X-Glasshouse-Purpose": "protest_monitoring"})
    assert "protest_monitoring" in denied(protest.compare_faces, SourceImage=image, TargetImage=image)
    assert "protest_monitoring" in denied(protest.detect_faces, Image=image)  # prohibited everywhere

    icac = client(world, "icac", OBLIGATIONS)
    icac.create_collection(CollectionId="victims")
    icac.index_faces(CollectionId="victims", Image={"Bytes": photos["obama.jpg"]}, ExternalImageId="person-a")
    icac.index_faces(CollectionId="victims", Image={"Bytes": photos["biden.jpg"]}, ExternalImageId="person-b")

    # A similar but not near-identical photo scores under 99: the floor hides it whatever the caller asks.
    floored = icac.search_faces_by_image(
        CollectionId="victims", Image={"Bytes": photos["obama2.jpg"]}, FaceMatchThreshold=50, MaxFaces=10
    )
    assert floored["FaceMatches"] == []
    found = icac.search_faces_by_image(
        CollectionId="victims", Image={"Bytes": photos["obama.jpg"]}, FaceMatchThreshold=0, MaxFaces=100
    )
    assert [m["Face"]["ExternalImageId"] for m in found["FaceMatches"]] == ["person-a"]
    assert all(m["Similarity"] >= 99 for m in found["FaceMatches"])
    headers = found["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-glasshouse-review"] == "pending"
    lead_id = headers["x-glasshouse-lead-id"]

    # Human review: never the searcher, two different reviewers, nothing exportable before.
    searcher, first, second = (
        rest(world, "icac"),
        rest(world, "icac-reviewer-1"),
        rest(world, "icac-reviewer-2"),
    )
    lead = first.get(f"/leads/{lead_id}").json()
    assert lead["status"] == "pending" and lead["case_number"] == "CASE-2026-0042"
    candidate = lead["candidates"][0]["candidate_id"]
    assert searcher.get(f"/leads/{lead_id}/export").status_code == 409
    assert [x["lead_id"] for x in searcher.get("/leads").json()] == []  # own searches are not offered
    assert lead_id in [x["lead_id"] for x in first.get("/leads").json()]
    own = searcher.post(
        f"/leads/{lead_id}/candidates/{candidate}/review", json={"decision": "confirm", "reason": "me"}
    )
    assert own.status_code == 403 and own.json()["error"]["code"] == "SeparationOfDuties"
    ok = first.post(
        f"/leads/{lead_id}/candidates/{candidate}/review", json={"decision": "confirm", "reason": "same scar"}
    )
    assert ok.status_code == 200 and ok.json()["status"] == "pending"  # policy asks for two reviewers
    for same_person in (first, rest(world, "icac-reviewer-1-second-key")):  # people, not keys, are counted
        again = same_person.post(
            f"/leads/{lead_id}/candidates/{candidate}/review", json={"decision": "confirm", "reason": "x"}
        )
        assert again.status_code == 403 and "different person" in again.json()["error"]["message"]
    assert first.get(f"/leads/{lead_id}/export").status_code == 409
    done = second.post(
        f"/leads/{lead_id}/candidates/{candidate}/review", json={"decision": "confirm", "reason": "agree"}
    )
    assert done.json()["status"] == "confirmed"
    record = searcher.get(f"/leads/{lead_id}/export").json()
    assert record["notice"].startswith("INVESTIGATIVE LEAD - NOT AN IDENTIFICATION")
    # Another organisation cannot see the lead at all.
    assert rest(world, "shop").get(f"/leads/{lead_id}").status_code == 404


def _lead(world: dict[str, Any], photos: dict[str, bytes], searcher: str) -> tuple[str, str]:
    """A lead (and its first candidate) from a search through ``searcher``'s key in the unit's collection."""
    found = client(world, searcher, OBLIGATIONS).search_faces_by_image(
        CollectionId="victims", Image={"Bytes": photos["obama.jpg"]}
    )
    lead_id = found["ResponseMetadata"]["HTTPHeaders"]["x-glasshouse-lead-id"]
    lead = rest(world, "icac-reviewer-1").get(f"/leads/{lead_id}").json()
    return lead_id, lead["candidates"][0]["candidate_id"]


def _refused_review(world: dict[str, Any], key: str, lead_id: str, candidate: str) -> str:
    """``key`` tries to confirm; asserts the typed refusal and its audit entry, returns the message."""
    answer = rest(world, key).post(
        f"/leads/{lead_id}/candidates/{candidate}/review",
        json={"decision": "confirm", "reason": "looks alike"},
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "SeparationOfDuties"
    key_id = world["keys"][key].access_key_id
    [entry] = audit(world, action="review.confirm", decision="deny", actor_key=key_id)
    assert entry.rule == "separation-of-duties" and entry.details["lead_id"] == lead_id
    assert entry.details["reason"] == answer.json()["error"]["message"]
    return str(answer.json()["error"]["message"])


def test_organisation_keys_never_review_a_lead(world: dict[str, Any], photos: dict[str, bytes]) -> None:
    """Four-eyes, path 1 of issue 12: a lead created through organisation key #1, confirmed through the
    organisation's keys #2 and #3 (bound to no person), then exported by the searcher's key."""
    lead_id, candidate = _lead(world, photos, "icac")
    for key in ("icac-org-2", "icac-org-3"):
        assert "not issued to a person" in _refused_review(world, key, lead_id, candidate)
    assert rest(world, "icac").get(f"/leads/{lead_id}").json()["status"] == "pending"
    assert rest(world, "icac").get(f"/leads/{lead_id}/export").status_code == 409


def test_an_investigator_never_reviews_a_colleagues_lead(
    world: dict[str, Any], photos: dict[str, bytes]
) -> None:
    """Four-eyes, path 2: a key bound to a person with only the investigator role confirms a colleague's
    lead over REST. The searcher's own person key is refused too; two reviewers complete it."""
    lead_id, candidate = _lead(world, photos, "icac-investigator-1")
    assert "requires the role reviewer" in _refused_review(world, "icac-investigator-2", lead_id, candidate)
    assert rest(world, "icac-investigator-1").get(f"/leads/{lead_id}/export").status_code == 409
    for reviewer in ("icac-reviewer-1", "icac-reviewer-2"):
        done = rest(world, reviewer).post(
            f"/leads/{lead_id}/candidates/{candidate}/review", json={"decision": "confirm", "reason": "scar"}
        )
        assert done.status_code == 200
    assert done.json()["status"] == "confirmed"
    assert rest(world, "icac-investigator-1").get(f"/leads/{lead_id}/export").status_code == 200


def test_commercial_use_is_unaffected(world: dict[str, Any], photos: dict[str, bytes]) -> None:
    shop = client(world, "shop")
    shop.create_collection(CollectionId="staff")
    shop.index_faces(CollectionId="staff", Image={"Bytes": photos["obama.jpg"]}, ExternalImageId="obama")
    found = shop.search_faces_by_image(CollectionId="staff", Image={"Bytes": photos["obama2.jpg"]})
    assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama"
    assert 80 <= found["FaceMatches"][0]["Similarity"] < 99
    assert "x-glasshouse-lead-id" not in found["ResponseMetadata"]["HTTPHeaders"]


def test_lift_through_rest_and_reimpose_through_cli_take_effect_at_once(
    world: dict[str, Any], photos: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    police = client(world, "police", OBLIGATIONS)
    image = {"Bytes": photos["obama.jpg"]}
    denied(police.compare_faces, SourceImage=image, TargetImage=image)

    assert (
        rest(world, "shop").post(f"/policy/rules/{MORATORIUM}/lift", json={"reason": "x"}).status_code == 403
    )
    lifted = rest(world, "operators").post(
        f"/policy/rules/{MORATORIUM}/lift", json={"reason": "council vote 12-1"}
    )
    assert lifted.status_code == 200, lifted.text
    allowed = police.compare_faces(SourceImage=image, TargetImage=image)  # at once, no restart
    assert allowed["FaceMatches"][0]["Similarity"] >= 99
    no_case = client(world, "police", {"X-Glasshouse-Purpose": "criminal_investigation"})
    assert "case" in denied(no_case.compare_faces, SourceImage=image, TargetImage=image)

    monkeypatch.setenv("GLASSHOUSE_DATA_DIR", str(world["data"]))
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(world["model_cache"]))
    result = CliRunner().invoke(app, ["policy", "reimpose", MORATORIUM, "--reason", "audit findings"])
    assert result.exit_code == 0, result.output
    message = denied(police.compare_faces, SourceImage=image, TargetImage=image)
    assert MORATORIUM in message

    changes = audit(world, action="policy.change")
    reasons = [e.details.get("reason") for e in changes]
    assert "council vote 12-1" in reasons and "audit findings" in reasons
    assert any(e.surface == "rest" and e.actor_org_name == "operators" for e in changes)
    assert any(e.surface == "cli" for e in changes)


def test_audit_chain_verifies_after_all_of_it(world: dict[str, Any]) -> None:
    report = rest(world, "operators").get("/audit/verify").json()
    assert report["ok"] is True and report["entries"] > 10
    assert rest(world, "police").get("/audit/verify").status_code == 403
