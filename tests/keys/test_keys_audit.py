"""Key changes are audited (never the secret)."""

from __future__ import annotations

import json

from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.services import Services


def test_key_creation_and_revocation_are_audited_without_the_secret(settings: Settings) -> None:
    svc = Services(settings)
    org = svc.org_id("acme")
    by = Actor(org_id=org, org_name="acme", surface="cli", person="admin")
    key = svc.keys.create(org, "ci", by=by)
    svc.keys.revoke(org, key.access_key_id, by=by)
    svc.keys.revoke(org, key.access_key_id, by=by)  # idempotent: recorded once
    entries = svc.audit.search(AuditFilter(action_prefix="key."))
    assert [(e.action, e.actor_person, e.details["access_key_id"]) for e in entries] == [
        ("key.create", "admin", key.access_key_id),
        ("key.revoke", "admin", key.access_key_id),
    ]
    assert key.secret not in json.dumps([e.to_json() for e in entries], default=str)
    assert svc.audit.verify().ok
    svc.close()
