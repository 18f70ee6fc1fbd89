"""``glasshouse keys create|list|revoke`` on a throwaway data directory."""

from __future__ import annotations

import json
import stat
from typing import Any

from typer.testing import CliRunner

from glasshouse.cli.governance import org_app
from glasshouse.cli.keys import keys_app
from glasshouse.config import Settings
from glasshouse.keys.crypto import KEY_FILE_NAME
from glasshouse.services import Services

runner = CliRunner()


def invoke(*args: str, ok: bool = True) -> Any:
    result = runner.invoke(keys_app, list(args))
    assert (result.exit_code == 0) is ok, result.output
    return json.loads(result.stdout) if ok else result


def org_create(name: str, sector: str) -> None:
    result = runner.invoke(org_app, ["create", name, "--sector", sector])
    assert result.exit_code == 0, result.output


def test_create_list_revoke(settings: Settings) -> None:
    org_create("acme", "commercial")
    org_create("other", "research")
    created = invoke("create", "--org", "acme", "--label", "ci runner")
    key_id, secret = created["access_key_id"], created["secret_access_key"]
    assert created["org"] == "acme" and key_id.startswith("GH") and len(secret) == 40

    key_file = settings.data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    svc = Services(Settings(), migrate=False)
    try:
        found = svc.keys.lookup(key_id)  # the CLI sealed it with the same server key
    finally:
        svc.close()
    assert found is not None and found.secret == secret

    other = invoke("create", "--org", "other")
    listed = invoke("list", "--org", "acme")
    assert [(k["access_key_id"], k["label"], k["status"]) for k in listed] == [
        (key_id, "ci runner", "active")
    ]
    everything = invoke("list")
    assert {(k["access_key_id"], k["org"]) for k in everything} == {
        (key_id, "acme"),
        (other["access_key_id"], "other"),
    }
    assert secret not in json.dumps(everything)

    refused = invoke("revoke", other["access_key_id"], "--org", "acme", ok=False)
    assert refused.exit_code == 1 and "NotFound" in refused.output
    revoked = invoke("revoke", key_id, "--org", "acme")
    assert revoked["status"] == "revoked" and revoked["revoked"]
    assert invoke("list", "--org", "acme")[0]["status"] == "revoked"
    assert invoke("list", "--org", "other")[0]["status"] == "active"


def test_unknown_org_is_an_error_for_list_and_revoke(settings: Settings) -> None:
    assert invoke("list", "--org", "nobody", ok=False).exit_code == 1
    assert invoke("revoke", "GH" + "A" * 18, "--org", "nobody", ok=False).exit_code == 1
    assert invoke("list") == []


def test_a_key_is_created_only_for_an_existing_organisation(settings: Settings) -> None:
    """A typo in a police organisation's name must not yield a key of a new ``commercial`` organisation,
    outside every law-enforcement rule: the key is refused, nothing is created, and the error says how."""
    org_create("metro-police", "law_enforcement")
    refused = invoke("create", "--org", "metro-polce", ok=False)
    assert refused.exit_code == 1 and "NotFound" in refused.output
    assert "glasshouse org create metro-polce --sector" in refused.output
    svc = Services(Settings(), migrate=False)
    try:
        assert "metro-polce" not in {o.name for o in svc.organisations.get_all()}
        assert svc.keys.list() == []
    finally:
        svc.close()
    created = invoke("create", "--org", "metro-police")
    assert created["org"] == "metro-police"


def test_org_create_needs_an_explicit_sector(settings: Settings) -> None:
    result = runner.invoke(org_app, ["create", "metro-police"])
    assert result.exit_code != 0 and "--sector" in result.output
