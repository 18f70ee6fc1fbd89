"""``glasshouse people create|list|roles``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from glasshouse.audit.service import AuditFilter
from glasshouse.cli.people import people_app
from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.services import Services

SETUP = Actor(org_id="", org_name="test-setup", surface="cli", is_operator=True)
PASSWORD = "correct horse battery staple"


def test_people_commands_create_list_and_change_roles(settings: Settings) -> None:
    svc = Services(settings)
    svc.organisations.create(SETUP, "ops", sector="commercial", is_operator=True)
    svc.close()
    runner = CliRunner()
    args = ["create", "Root@Example.org", "--org", "ops", "--name", "Root", "--role", "operator"]
    created = runner.invoke(people_app, [*args, "--password-stdin"], input=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["roles"] == ["operator"]
    assert PASSWORD not in created.output
    weak = runner.invoke(
        people_app, ["create", "w@example.org", "--org", "ops", "--name", "W"], input="short\nshort\n"
    )
    assert weak.exit_code == 1 and "12 characters" in weak.output
    listed = runner.invoke(people_app, ["list", "--org", "ops"])
    assert [p["email"] for p in json.loads(listed.stdout)] == ["root@example.org"]
    changed = runner.invoke(
        people_app, ["roles", "root@example.org", "--role", "auditor", "--role", "operator"]
    )
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["roles"] == ["auditor", "operator"]
    svc = Services(settings)
    try:
        assert svc.people.authenticate("root@example.org", PASSWORD).roles == {"auditor", "operator"}
        [entry] = svc.audit.search(AuditFilter(action="person.roles"))
        assert entry.surface == "cli" and entry.details["after"] == ["auditor", "operator"]
    finally:
        svc.close()
