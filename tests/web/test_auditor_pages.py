"""The auditor pages: an organisation's auditor sees only its own entries, an operator sees all; filters,
paging, the chain verdict (valid, then the first bad entry after tampering) and the JSON-lines export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import PolicyDenied, RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.http.app import create_app
from glasshouse.people.service import PersonInfo
from glasshouse.services import Services
from glasshouse.web.auditor import PAGE_SIZE
from web_support import PASSWORD, signed_in
from web_support import csrf as session_csrf

SEQ = re.compile(r"<tr>\s*<td>(\d+)</td>")


@dataclass
class World:
    app: FastAPI
    svc: Services
    people: dict[str, PersonInfo]
    org_ids: dict[str, str]

    def client(self, who: str) -> TestClient:
        """A browser signed in as ``who`` through the login form."""
        return signed_in(self.app, self.people[who].email)


def csrf(client: TestClient) -> str:
    return session_csrf(client, "/ui/")


def gated(svc: Services, org_id: str, org: str, case: str, purpose: str | None = None) -> None:
    """One gate decision (allowed, or denied for a prohibited purpose) for ``org``: one audit entry."""
    actor = Actor(org_id=org_id, org_name=org, surface="rest")
    try:
        with svc.gate.guard(actor, Capability.FACE_DETECT, RequestContext(purpose, case)):
            pass
    except PolicyDenied:
        pass


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    app = create_app(settings)
    svc: Services = app.state.services
    setup = Actor(org_id="", org_name="test-setup", surface="cli")
    ops = svc.organisations.create(setup, "operators", sector="other_government", is_operator=True)
    shop = svc.organisations.create(setup, "shop", sector="commercial")
    clinic = svc.organisations.create(setup, "clinic", sector="nonprofit")
    roles = {
        "operator": (ops.id, ["operator"]),
        "shop-auditor": (shop.id, ["auditor"]),
        "shop-reviewer": (shop.id, ["reviewer"]),
    }
    people = {
        who: svc.people.create(setup, org, f"{who}@example.test", who.title(), PASSWORD, r)
        for who, (org, r) in roles.items()
    }
    gated(svc, shop.id, "shop", "C-SHOP-1")
    gated(svc, shop.id, "shop", "C-SHOP-2", purpose="protest_monitoring")  # denied
    gated(svc, clinic.id, "clinic", "C-CLINIC-1")
    with TestClient(app):
        yield World(app, svc, people, {"shop": shop.id, "clinic": clinic.id})


def test_an_auditor_sees_only_their_organisations_entries(world: World) -> None:
    client = world.client("shop-auditor")
    page = client.get("/ui/audit")
    assert page.status_code == 200
    assert "C-SHOP-1" in page.text and "C-SHOP-2" in page.text and "C-CLINIC-1" not in page.text
    other = client.get("/ui/audit", params={"org": world.org_ids["clinic"]})  # asking does not help
    assert "C-CLINIC-1" not in other.text and "C-SHOP-1" in other.text
    export = client.get("/ui/audit/export.jsonl", params={"org": world.org_ids["clinic"]})
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert rows and {r["actor_org_id"] for r in rows} == {world.org_ids["shop"]}


def test_an_operator_sees_every_organisation_and_can_filter_by_one(world: World) -> None:
    client = world.client("operator")
    page = client.get("/ui/audit")
    assert "C-SHOP-1" in page.text and "C-CLINIC-1" in page.text
    clinic = client.get("/ui/audit", params={"org": world.org_ids["clinic"]})
    assert "C-CLINIC-1" in clinic.text and "C-SHOP-1" not in clinic.text


def test_filters_by_decision_action_case_and_time(world: World) -> None:
    client = world.client("shop-auditor")
    denied = client.get("/ui/audit", params={"decision": "deny"}).text
    assert "C-SHOP-2" in denied and "C-SHOP-1" not in denied and "protest_monitoring" in denied
    by_case = client.get("/ui/audit", params={"case": "C-SHOP-1"}).text
    assert "C-SHOP-1" in by_case and "C-SHOP-2" not in by_case
    prefix = client.get("/ui/audit", params={"action": "face.*"}).text
    assert "C-SHOP-1" in prefix and "person.create" not in prefix
    exact = client.get("/ui/audit", params={"action": "face.search"}).text
    assert "No entry matches." in exact
    future = client.get("/ui/audit", params={"since": "2999-01-01T00:00"}).text
    assert "No entry matches." in future
    past = client.get("/ui/audit", params={"since": "2000-01-01T00:00", "until": "2999-01-01"}).text
    assert "C-SHOP-1" in past
    assert client.get("/ui/audit", params={"since": "yesterday"}).status_code == 400
    assert client.get("/ui/audit", params={"decision": "maybe"}).status_code == 400


def test_paging(world: World) -> None:
    for i in range(PAGE_SIZE + 5):
        gated(world.svc, world.org_ids["shop"], "shop", f"C-BULK-{i}")
    client = world.client("shop-auditor")
    first = client.get("/ui/audit", params={"case": ""})
    seqs = [int(s) for s in SEQ.findall(first.text)]
    assert len(seqs) == PAGE_SIZE and 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = client.get("/ui/audit", params={"page": "1"})
    more = [int(s) for s in SEQ.findall(second.text)]
    assert more and min(more) > max(seqs) and 'rel="prev"' in second.text and 'rel="next"' not in second.text


def test_verify_shows_valid_then_the_first_bad_entry(world: World) -> None:
    client = world.client("shop-auditor")
    page = client.post("/ui/audit/verify", data={"csrf_token": csrf(client)})
    assert page.status_code == 200 and "Chain verification: valid" in page.text
    victim = world.svc.audit.search()[2].seq
    with world.svc.db_engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET case_number = 'EDITED' WHERE seq = :s"), {"s": victim})
    broken = client.post("/ui/audit/verify", data={"csrf_token": csrf(client)})
    assert "Chain verification: INVALID" in broken.text
    assert f"First bad entry: <strong>seq {victim}</strong>" in broken.text


def test_export_downloads_json_lines_of_the_filter(world: World) -> None:
    client = world.client("shop-auditor")
    export = client.get("/ui/audit/export.jsonl", params={"decision": "allow", "action": "face.detect"})
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert [r["case_number"] for r in rows] == ["C-SHOP-1"]
    assert {"seq", "hash", "prev_hash", "details"} <= set(rows[0])


def test_audit_pages_need_the_role(world: World) -> None:
    client = world.client("shop-reviewer")
    assert client.get("/ui/audit").status_code == 403
    assert client.get("/ui/audit/export.jsonl").status_code == 403
    assert client.post("/ui/audit/verify", data={"csrf_token": csrf(client)}).status_code == 403


def test_verify_without_csrf_token_is_refused(world: World) -> None:
    client = world.client("shop-auditor")
    assert client.post("/ui/audit/verify", data={}).status_code == 403
    assert client.post("/ui/audit/verify", data={"csrf_token": "forged"}).status_code == 403


def test_details_are_one_key_per_line(world: World) -> None:
    """Details render as key/value lines, not one JSON string broken character by character."""
    page = world.client("operator").get("/ui/audit").text
    assert '<dl class="details">' in page and "<dt>" in page
    assert 'class="details">{' not in page


def test_people_are_shown_by_name_and_role_with_their_id_on_hover(world: World) -> None:
    operator = world.people["operator"]
    page = world.client("operator").get("/ui/audit").text  # signing in wrote an entry by the operator
    assert (
        f'<span class="principal" title="person:{operator.id}">Operator (operator, operators)</span>' in page
    )
    assert f"<td>{operator.id}<br>" not in page  # the bare id, as the page showed it before
