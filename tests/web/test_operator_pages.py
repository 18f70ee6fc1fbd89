"""The operator console: organisations, people, keys and the moratorium, through the audited services."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import httpx
import pytest
from fastapi.testclient import TestClient

from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.services import Services

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
PASSWORD = "correct horse battery staple"
MORATORIUM = "police-moratorium-2020"


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    services = Services(settings)
    ops = services.organisations.create(SETUP, "ops", sector="commercial", is_operator=True)
    services.organisations.create(SETUP, "acme", sector="commercial")
    services.people.create(SETUP, ops, "op@example.org", "Olive Operator", PASSWORD, ["operator"])
    yield services
    services.close()


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services=svc)) as c:
        token = re.findall(r'name="csrf_token" value="([^"]+)"', c.get("/ui/login").text)[0]
        data = {"email": "op@example.org", "password": PASSWORD, "csrf_token": token}
        assert c.post("/ui/login", data=data, follow_redirects=False).status_code == 303
        yield c


def post(client: TestClient, path: str, data: Mapping[str, str | list[str]]) -> httpx.Response:
    """Submit a form the way a browser does: with the CSRF token of the page it is on."""
    token = re.findall(r'name="csrf_token" value="([^"]+)"', client.get("/ui/").text)[0]
    response: httpx.Response = client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
    return response


def operator_id(svc: Services) -> str:
    return svc.people.get_by_email("op@example.org").id


def test_create_and_edit_an_organisation_with_approvals(client: TestClient, svc: Services) -> None:
    created = post(
        client,
        "/ui/operator/organisations",
        {"name": "metro-pd", "sector": "law_enforcement", "jurisdiction": "US-WA", "flags": "pilot"},
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/ui/operator/organisations/metro-pd?notice=org-created"
    page = client.get(created.headers["location"])
    assert "Organisation created." in page.text and "law_enforcement" in page.text
    assert "metro-pd" in client.get("/ui/operator/organisations").text
    edit = {"sector": "law_enforcement", "flags": "child_protection", "verified": "1", "reason": "checked"}
    assert post(client, "/ui/operator/organisations/metro-pd", edit).status_code == 303
    org = svc.organisations.get("metro-pd")
    assert org.flags == ["child_protection"] and org.verified and org.jurisdiction == "US-WA"
    approval = {"kind": "governing_body_approval", "reference": "council 2030/7", "expires_at": "2031-01-01"}
    assert post(client, "/ui/operator/organisations/metro-pd/approvals", approval).status_code == 303
    expired = {"kind": "accountability_report", "reference": "old report", "expires_at": "2001-01-01"}
    assert post(client, "/ui/operator/organisations/metro-pd/approvals", expired).status_code == 303
    assert svc.organisations.current_approvals(org.id) == {"governing_body_approval"}
    page = client.get("/ui/operator/organisations/metro-pd").text
    assert "council 2030/7" in page and "current" in page and "expired" in page
    entries = svc.audit.search(AuditFilter(action_prefix="org.", org_name="ops"))
    assert [e.action for e in entries] == ["org.create", "org.update", "org.approval", "org.approval"]
    assert {e.actor_person for e in entries} == {operator_id(svc)} and {e.surface for e in entries} == {"ui"}
    assert entries[1].details["reason"] == "checked"
    bad = post(client, "/ui/operator/organisations", {"name": "x", "sector": "army"})
    assert bad.status_code == 400 and "sector" in bad.text


def test_a_new_organisations_sector_is_never_assumed(client: TestClient, svc: Services) -> None:
    """The sector decides which rules bind an organisation: the form preselected ``commercial``; now the
    operator chooses, and an empty choice is refused."""
    for path, select_id in (
        ("/ui/operator/organisations", "org-sector"),
        ("/ui/operator/keys", "k-org"),  # whose key it is, and whom the new person works for
        ("/ui/operator/people", "p-org"),
    ):
        page = client.get(path).text
        select = re.search(rf'<select id="{select_id}".*?</select>', page, re.S)
        assert select is not None and re.findall(r'<option value="([^"]*)"\s*selected', select[0]) == [""]
    refused = post(client, "/ui/operator/organisations", {"name": "metro-pd", "sector": ""})
    assert refused.status_code == 400 and "sector" in refused.text
    assert "metro-pd" not in {o.name for o in svc.organisations.get_all()}


def test_create_people_and_change_their_roles(client: TestClient, svc: Services) -> None:
    form = {"org": "acme", "email": "Ivy@Example.org", "name": "Ivy", "password": PASSWORD}
    created = post(client, "/ui/operator/people", {**form, "roles": ["investigator", "reviewer"]})
    assert created.status_code == 303
    ivy = svc.people.get_by_email("ivy@example.org")
    assert ivy.roles == {"investigator", "reviewer"} and ivy.org_name == "acme"
    assert "Ivy" in client.get(created.headers["location"]).text
    changed = post(client, f"/ui/operator/people/{ivy.id}/roles", {"roles": ["auditor"]})
    assert changed.status_code == 303 and svc.people.get(ivy.id).roles == {"auditor"}
    [entry] = svc.audit.search(AuditFilter(action="person.roles"))
    assert entry.details["before"] == ["investigator", "reviewer"] and entry.details["after"] == ["auditor"]
    assert entry.actor_person == operator_id(svc) and entry.surface == "ui"
    refused = post(client, "/ui/operator/people", {**form, "email": "o@example.org", "roles": "operator"})
    assert refused.status_code == 400 and "operators&#39; organisation" in refused.text
    weak = post(client, "/ui/operator/people", {**form, "email": "w@example.org", "password": "short"})
    assert weak.status_code == 400 and "12 characters" in weak.text
    assert post(client, "/ui/operator/people", form).status_code == 409  # the email is taken


def test_issue_keys_to_an_organisation_and_a_person_then_revoke(client: TestClient, svc: Services) -> None:
    acme = svc.organisations.get("acme")
    issued = post(client, "/ui/operator/keys", {"org": "acme", "label": "door"})
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    key_id = re.findall(r"<code>(GH[A-Z0-9]{18})</code>", issued.text)[0]
    secret = re.findall(r'<div class="secret" id="secret">([A-Za-z0-9]{40})</div>', issued.text)[0]
    active = svc.keys.lookup(key_id)
    assert active is not None and active.secret == secret and active.person_id is None
    listing = client.get("/ui/operator/keys?org=acme").text
    assert key_id in listing and secret not in listing  # the secret is shown once only
    ivy = svc.people.create(SETUP, acme, "ivy@example.org", "Ivy", PASSWORD, ["investigator"])
    to_person = post(client, "/ui/operator/keys", {"person_id": ivy.id, "label": "ivy laptop"})
    assert to_person.status_code == 201 and "ivy@example.org" in to_person.text
    [personal] = [k for k in svc.keys.list(acme.id) if k.person_id == ivy.id]
    assert personal.access_key_id in client.get(f"/ui/operator/people/{ivy.id}").text
    mismatch = post(client, "/ui/operator/keys", {"org": "ops", "person_id": ivy.id})
    assert mismatch.status_code == 400 and "belongs to acme" in mismatch.text
    revoked = post(client, f"/ui/operator/keys/{key_id}/revoke", {"org": "acme"})
    assert revoked.status_code == 303 and svc.keys.lookup(key_id) is None
    assert "Key revoked." in client.get(revoked.headers["location"]).text
    actions = [e.action for e in svc.audit.search(AuditFilter(action_prefix="key."))]
    assert actions == ["key.create", "key.create", "key.revoke"]
    assert svc.audit.search(AuditFilter(action="key.create"))[1].details["person_id"] == ivy.id


def test_lift_and_reimpose_the_moratorium_from_the_console(client: TestClient, svc: Services) -> None:
    police = svc.organisations.create(SETUP, "metro-pd", sector="law_enforcement")
    officer = Actor(org_id=police.id, org_name=police.name, surface="ui")

    def allowed() -> bool:
        return svc.gate.decide(officer, Capability.FACE_SEARCH).allowed

    policy = client.get("/ui/operator/policy").text
    assert MORATORIUM in policy and "in force" in policy and "child_protection" in policy
    assert "a similarity of at least 99%" in policy and "further notice" in policy
    # Obligations and times are written for people: no Python literals, no raw ISO timestamps.
    assert "True" not in policy and "similarity_floor" not in policy and "Z until" not in policy
    version = svc.policies.active()[0]
    assert not allowed()

    missing_reason = post(client, f"/ui/operator/policy/rules/{MORATORIUM}/lift", {"reason": " "})
    assert missing_reason.status_code == 400 and svc.policies.active()[0] == version

    lifted = post(client, f"/ui/operator/policy/rules/{MORATORIUM}/lift", {"reason": "new statute in force"})
    assert lifted.status_code == 200
    assert f"version {version} → {version + 1}" in lifted.text and "lifted" in lifted.text
    assert "from 10 Jun 2020, 00:00 UTC until further notice" in lifted.text  # the period before
    assert svc.policies.active()[0] == version + 1 and allowed()
    again = post(client, f"/ui/operator/policy/rules/{MORATORIUM}/lift", {"reason": "twice"})
    assert again.status_code == 409

    reimposed = post(
        client, f"/ui/operator/policy/rules/{MORATORIUM}/reimpose", {"reason": "statute struck down"}
    )
    assert reimposed.status_code == 200 and "re-imposed" in reimposed.text
    assert svc.policies.active()[0] == version + 2 and not allowed()

    extended = post(
        client,
        f"/ui/operator/policy/rules/{MORATORIUM}/extend",
        {"reason": "review in 2040", "until": "date", "end": "2040-01-01"},
    )
    assert extended.status_code == 200 and "until 1 Jan 2040, 00:00 UTC" in extended.text
    no_date = post(client, f"/ui/operator/policy/rules/{MORATORIUM}/extend", {"reason": "x", "until": "date"})
    assert no_date.status_code == 400

    versions = client.get("/ui/operator/policy").text
    for reason in ["new statute in force", "statute struck down", "review in 2040"]:
        assert reason in versions
    assert f"person:{operator_id(svc)}" in versions
    changes = svc.audit.search(AuditFilter(action="policy.change", org_name="ops"))
    assert [e.details["version"] for e in changes] == [version + 1, version + 2, version + 3]
    assert {e.actor_person for e in changes} == {operator_id(svc)}
