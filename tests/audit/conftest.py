"""A fresh migrated SQLite database and an audit log over it, with a clock the test controls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit import AuditEvent, AuditLog

KEY = bytes(range(32))
MakeEvent = Callable[..., AuditEvent]


class Clock:
    """Starts at a fixed time and moves one minute per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def engine(migrated_engine: Callable[[], Engine]) -> Engine:
    return migrated_engine()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return db.make_sessionmaker(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(sessions: sessionmaker[Session], clock: Clock) -> AuditLog:
    return AuditLog(sessions, KEY, clock=clock)


def _event(n: int = 0, **overrides: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "action": "face.search",
        "decision": "allow",
        "surface": "rekognition-api",
        "actor_org_id": "org-1",
        "actor_org_name": "acme",
        "actor_key": "GHAAAAAAAAAAAAAAAAAA",
        "rule": "default-allow",
        "policy_version": 3,
        "purpose": "access control",
        "details": {"n": n, "faces": 1, "best": 0.875, "image": "sha256:" + "ab" * 32},
    }
    values.update(overrides)
    return AuditEvent(**values)


@pytest.fixture
def make_event() -> MakeEvent:
    """``make_event(n, **overrides)``: a plausible gated call; ``n`` varies the details."""
    return _event


@pytest.fixture
def chain(log: AuditLog) -> Callable[[int], list[str]]:
    """``chain(n)`` records n entries (odd ones denied) and returns their hashes."""

    def build(n: int = 6) -> list[str]:
        return [log.record(_event(i, decision="deny" if i % 2 else "allow")).hash for i in range(n)]

    return build
