"""Signed checkpoints of the audit chain, published outside the database: wiping or swapping the log and
resetting its head no longer verifies, whether the checkpoint comes from the server's file or from a copy an
outside party fetched from the public transparency endpoint and kept."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from glasshouse.audit import AuditEvent
from glasshouse.audit.checkpoints import parse_checkpoints
from glasshouse.audit.models import GENESIS_HASH
from glasshouse.cli.audit import audit_app
from glasshouse.config import Settings
from glasshouse.http.app import create_app
from glasshouse.services import Services

runner = CliRunner()
MakeEvent = Callable[..., AuditEvent]


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    services = Services(settings)
    yield services
    services.close()


def _fill(svc: Services, make_event: MakeEvent, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        svc.audit.record(make_event(i))


def _wipe(svc: Services) -> None:
    """The attack: delete every entry and reset the head to the empty log's, as the migration made it."""
    with svc.db_engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries"))
        conn.execute(
            text("UPDATE audit_head SET last_seq = 0, last_hash = :g, mac = NULL"), {"g": GENESIS_HASH}
        )


def _verify(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(audit_app, ["verify", *args])
    return result.exit_code, json.loads(result.stdout)


def test_wiping_the_log_and_resetting_its_head_fails_verify(svc: Services, make_event: MakeEvent) -> None:
    _fill(svc, make_event, 5)
    published = runner.invoke(audit_app, ["checkpoint"])
    assert published.exit_code == 0, published.output
    checkpoint = json.loads(published.stdout)
    assert (checkpoint["size"], checkpoint["head_hash"]) == svc.audit.head()
    assert Path(checkpoint["file"]) == svc.settings.data_dir / "audit-checkpoints.jsonl"
    _fill(svc, make_event, 2, start=5)
    code, report = _verify()
    assert code == 0 and report["ok"] is True and report["checkpoints"] == 1 and report["entries"] == 7

    _wipe(svc)
    assert svc.audit.verify().ok  # the chain alone cannot tell an empty log from a wiped one
    code, report = _verify()
    assert code == 1 and report["ok"] is False and report["entries"] == 0
    assert "shorter than a checkpoint" in str(report["problem"]) and "5 entries" in str(report["problem"])
    assert report["checkpoint"]["size"] == 5  # type: ignore[index]
    # The next publication refuses to bless the wiped log: nothing is appended.
    before = svc.settings.audit_checkpoint_path.read_text()
    refused = runner.invoke(audit_app, ["checkpoint"])
    assert refused.exit_code == 1
    assert "does not extend the published checkpoint of size 5" in " ".join(refused.output.split())
    assert svc.settings.audit_checkpoint_path.read_text() == before


def test_a_checkpoint_kept_outside_catches_the_wipe_after_the_file_is_deleted_too(
    svc: Services, make_event: MakeEvent, tmp_path: Path
) -> None:
    _fill(svc, make_event, 4)
    client = TestClient(create_app(svc.settings, services=svc))  # no lifespan: publish by hand
    assert client.get("/transparency/checkpoint.json").status_code == 404
    svc.checkpoints.publish()
    fetched = client.get("/transparency/checkpoint.json")
    assert fetched.status_code == 200 and fetched.text.endswith("\n") and fetched.text.count("\n") == 1
    kept = tmp_path / "kept.jsonl"  # what `curl -fsS URL >> kept.jsonl` leaves after two polls
    kept.write_text(fetched.text * 2)

    # An outsider checks the signature with the public key the transparency page publishes.
    page = client.get("/transparency").text
    data = json.loads(fetched.text)
    assert data["public_key"] in page and f'id="checkpoint-size">{data["size"]}<' in page
    assert data["head_hash"] in page
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data["public_key"]))
    message = f"glasshouse-audit-log\n{data['size']}\n{data['head_hash']}\n{data['timestamp']}\n".encode()
    key.verify(base64.b64decode(data["signature"]), message)  # raises if it does not verify

    _wipe(svc)
    svc.settings.audit_checkpoint_path.unlink()  # the insider removes the server's own copy too
    code, report = _verify()
    assert code == 0 and report["checkpoints"] == 0  # nothing left on the server to compare with...
    code, report = _verify("--checkpoint", str(kept))
    assert code == 1 and report["checkpoints"] == 2  # ...but the outside copy remembers
    assert "shorter than a checkpoint" in str(report["problem"])


def test_a_log_rebuilt_with_the_key_differs_from_the_checkpoint(svc: Services, make_event: MakeEvent) -> None:
    _fill(svc, make_event, 3)
    svc.checkpoints.publish()
    _wipe(svc)
    _fill(svc, make_event, 4, start=100)  # a valid chain (written with the key), but another history
    assert svc.audit.verify().ok
    report = svc.checkpoints.verify()
    assert not report.ok and report.report.first_bad_seq == 3
    assert "differs from the checkpoint" in str(report.report.problem)


def test_a_forged_or_foreign_checkpoint_is_refused(
    svc: Services, make_event: MakeEvent, tmp_path: Path
) -> None:
    _fill(svc, make_event, 3)
    genuine = svc.checkpoints.publish().to_json()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**genuine, "size": 2}))  # a smaller size to hide a truncation
    code, report = _verify("--checkpoint", str(forged))
    assert code == 1 and "not signed by this server's checkpoint key" in str(report["problem"])
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    assert runner.invoke(audit_app, ["verify", "--checkpoint", str(garbage)]).exit_code == 2
    assert [c.size for c in parse_checkpoints(json.dumps([genuine, genuine]))] == [3, 3]


def test_serve_publishes_checkpoints_in_its_periodic_sweep(
    settings: Settings, make_event: MakeEvent, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "elsewhere" / "checkpoints.jsonl"
    monkeypatch.setenv("GLASSHOUSE_AUDIT_CHECKPOINT_FILE", str(path))
    configured = Settings()
    svc = Services(configured)
    try:
        _fill(svc, make_event, 2)
        with TestClient(create_app(configured, services=svc)) as client:  # lifespan: the sweep starts
            assert client.get("/health").status_code == 200
        [published] = parse_checkpoints(path.read_text())
        assert (published.size, published.head_hash) == svc.audit.head()
        assert published.signature_ok(base64.b64decode(svc.checkpoints.public_key))
    finally:
        svc.close()


def test_a_torn_line_after_a_crash_neither_blocks_publishing_nor_verifying(
    svc: Services, make_event: MakeEvent
) -> None:
    _fill(svc, make_event, 2)
    svc.checkpoints.publish()
    path = svc.settings.audit_checkpoint_path
    with path.open("a") as fh:
        fh.write('{"origin": "glasshouse-audit-log", "size": 2, "head_')  # the process died mid-write
    _fill(svc, make_event, 1, start=2)
    latest = svc.checkpoints.publish()
    assert latest.size == 3 and svc.checkpoints.latest() == latest
    assert path.read_text().count("\n") == 3  # the new checkpoint starts a line of its own
    report = svc.checkpoints.verify()
    assert report.ok and report.checkpoints == 2 and report.unreadable == 1
