"""``glasshouse audit verify|export`` on a throwaway data directory."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from glasshouse import db
from glasshouse.audit import AuditEvent, AuditLog
from glasshouse.cli.audit import audit_app
from glasshouse.config import Settings
from glasshouse.services import Services

runner = CliRunner()
MakeEvent = Callable[..., AuditEvent]


@pytest.fixture
def svc(settings: Settings) -> Iterator[Services]:
    services = Services(settings)
    yield services
    services.close()


@pytest.fixture
def filled(svc: Services, make_event: MakeEvent) -> AuditLog:
    """Five entries: acme (a real organisation) searches and changes a policy; gone-org searches."""
    with db.transaction(svc.sessions) as session:
        created = "2026-01-01 00:00:00.000000"
        session.execute(
            text("INSERT INTO organisations (id, name, created_at) VALUES ('acme-id', 'acme', :c)"),
            {"c": created},
        )
    log = svc.audit
    for i, (org_id, name, action) in enumerate(
        [
            ("acme-id", "acme", "face.search"),
            ("acme-id", "acme", "policy.change"),
            (None, "gone-org", "face.search"),
            ("acme-id", "acme", "face.index"),
            ("acme-id", "acme", "face.search"),
        ]
    ):
        log.record(make_event(i, actor_org_id=org_id, actor_org_name=name, action=action))
    return log


def test_verify_reports_ok_and_tampering(svc: Services, filled: AuditLog) -> None:
    result = runner.invoke(audit_app, ["verify"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["entries"] == 5 and report["last_seq"] == 5

    anchor = f"{report['last_seq']}:{report['last_hash']}"
    assert runner.invoke(audit_app, ["verify", "--anchor", anchor]).exit_code == 0
    assert runner.invoke(audit_app, ["verify", "--anchor", "nonsense"]).exit_code == 2

    with svc.db_engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET decision = 'deny' WHERE seq = 3"))
    result = runner.invoke(audit_app, ["verify"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["first_bad_seq"] == 3 and "hash" in report["problem"]


def lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_export_filters(filled: AuditLog, tmp_path: Path) -> None:
    result = runner.invoke(audit_app, ["export"])
    assert result.exit_code == 0, result.output
    assert [e["seq"] for e in lines(result.stdout)] == [1, 2, 3, 4, 5]

    result = runner.invoke(audit_app, ["export", "--org", "acme", "--action", "face.search"])
    assert [e["seq"] for e in lines(result.stdout)] == [1, 5]
    result = runner.invoke(audit_app, ["export", "--org", "gone-org"])  # deleted: by recorded name
    assert [e["seq"] for e in lines(result.stdout)] == [3]
    result = runner.invoke(audit_app, ["export", "--action", "face."])
    assert [e["seq"] for e in lines(result.stdout)] == [1, 3, 4, 5]

    entries = filled.search()  # real clock: microseconds apart; the window takes entries 2 and 3
    since, until = entries[1].created_at.isoformat(), entries[3].created_at
    out = tmp_path / "audit.jsonl"
    result = runner.invoke(
        audit_app, ["export", "--since", since, "--until", until.isoformat(), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [e["seq"] for e in lines(out.read_text(encoding="utf-8"))] == [2, 3]
    assert runner.invoke(audit_app, ["export", "--since", "yesterday"]).exit_code == 2
