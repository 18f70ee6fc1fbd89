"""What an entry may hold (never raw images or embeddings), and searching and exporting entries."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit import AuditEvent, AuditFilter, AuditLog, InvalidAuditEventError, digest, service
from glasshouse.errors import InvalidParameterError

MakeEvent = Callable[..., AuditEvent]


@pytest.mark.parametrize(
    ("details", "words"),
    [
        ({"image": b"\xff\xd8\xff"}, "raw bytes"),
        ({"nested": {"crop": [bytearray(b"x")]}}, "raw bytes"),
        ({"embedding": [0.1] * 128}, "embedding"),
        ({"embedding": [1, 2.5] * 9}, "embedding"),
        ({"note": "x" * 2001}, "longer than"),
        ({"score": float("nan")}, "NaN"),
        ({"when": object()}, "cannot be recorded"),
        ({1: "x"}, "keys must be strings"),
        ({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}, "deeper"),
        ({f"k{i}": "x" * 1000 for i in range(20)}, "exceed"),
    ],
)
def test_details_refuse_raw_data(
    log: AuditLog, make_event: MakeEvent, details: dict[Any, Any], words: str
) -> None:
    with pytest.raises(InvalidAuditEventError, match=words):
        log.record(make_event(details=details))
    assert log.verify().last_seq == 0  # nothing written, not even the head


def test_details_accept_small_values(log: AuditLog, make_event: MakeEvent) -> None:
    details = {
        "scores": [0.9] * 16,
        "face_ids": ["f"] * 40,
        "counts": list(range(40)),
        "image": digest(b"jpeg bytes"),
        "reason": "no purpose given",
        "flags": (True, None),
    }
    entry = log.record(make_event(details=details))
    assert entry.details == {**details, "flags": [True, None]}  # stored as JSON: tuples become lists
    assert entry.details["image"] == "sha256:" + hashlib.sha256(b"jpeg bytes").hexdigest()
    assert log.verify().ok


@pytest.mark.parametrize(
    ("field", "value"),
    [("decision", "maybe"), ("action", ""), ("actor_key", "k" * 65), ("policy_version", "3"), ("surface", 5)],
)
def test_event_fields_are_checked(log: AuditLog, make_event: MakeEvent, field: str, value: object) -> None:
    with pytest.raises(InvalidAuditEventError):
        log.record(make_event(**{field: value}))


def test_key_must_be_long_enough(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError):
        AuditLog(sessions, b"short")
    assert repr(AuditLog(sessions, bytes(32))) == "AuditLog(<key hidden>)"


@pytest.fixture
def mixed(log: AuditLog, make_event: MakeEvent) -> list[int]:
    """Ten entries over two organisations, several actions, decisions and cases, one minute apart."""
    plan = [
        ("org-1", "face.search", "allow", "C-1"),
        ("org-2", "face.search", "deny", None),
        ("org-1", "face.index", "allow", None),
        ("org-1", "policy.change", "record", None),
        ("org-2", "face.compare", "allow", "C-2"),
        ("org-1", "face.search", "deny", "C-1"),
        ("org-2", "key.create", "record", None),
        ("org-1", "face.search", "allow", None),
        ("org-2", "face.search", "allow", "C-2"),
        ("org-1", "review.confirm", "record", "C-1"),
    ]
    return [
        log.record(
            make_event(
                i,
                actor_org_id=org,
                actor_org_name=org.replace("org", "name"),
                action=action,
                decision=decision,
                case_number=case,
            )
        ).seq
        for i, (org, action, decision, case) in enumerate(plan)
    ]


def seqs(entries: list[Any]) -> list[int]:
    return [e.seq for e in entries]


def test_search_filters(log: AuditLog, mixed: list[int]) -> None:
    first = log.search(AuditFilter(limit=1))[0].created_at
    assert seqs(log.search(AuditFilter(org_id="org-2"))) == [2, 5, 7, 9]
    assert seqs(log.search(AuditFilter(org_name="name-2"))) == [2, 5, 7, 9]
    assert seqs(log.search(AuditFilter(action="face.search"))) == [1, 2, 6, 8, 9]
    assert seqs(log.search(AuditFilter(action_prefix="face."))) == [1, 2, 3, 5, 6, 8, 9]
    assert seqs(log.search(AuditFilter(decision="deny"))) == [2, 6]
    assert seqs(log.search(AuditFilter(case_number="C-1"))) == [1, 6, 10]
    assert seqs(log.search(AuditFilter(org_id="org-1", action="face.search", decision="allow"))) == [1, 8]
    window = AuditFilter(since=first + timedelta(minutes=2), until=first + timedelta(minutes=5))
    assert seqs(log.search(window)) == [3, 4, 5]
    assert seqs(log.search(AuditFilter(after_seq=7))) == [8, 9, 10]
    assert seqs(log.search(AuditFilter(limit=3, offset=2))) == [3, 4, 5]
    with pytest.raises(InvalidParameterError):
        log.search(AuditFilter(limit=0))
    with pytest.raises(InvalidParameterError):
        log.search(AuditFilter(offset=-1))


def test_export_writes_json_lines(log: AuditLog, mixed: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "MAX_LIMIT", 3)  # several pages
    out = io.StringIO()
    assert log.export(out) == 10
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == mixed
    assert lines[0]["created_at"].endswith("+00:00") and len(lines[0]["hash"]) == 64
    assert lines[0]["details"]["n"] == 0

    out = io.StringIO()
    assert log.export(out, AuditFilter(org_id="org-1", action_prefix="face.")) == 4
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == [1, 3, 6, 8]
    out = io.StringIO()
    assert log.export(out, AuditFilter(limit=4, offset=1)) == 4
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == [2, 3, 4, 5]
