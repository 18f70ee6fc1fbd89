"""The active policy: versions in the database, seeded from the policy file at start.

Every decision reads the newest version number (one indexed query), so a change made through any
surface or on any node takes effect at once; parsed documents are cached per version.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit.service import AuditLog
from glasshouse.db import serialise, transaction, utcnow
from glasshouse.errors import InvalidParameterError
from glasshouse.governance import policy as pol
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.governance.models import PolicyVersion

POLICY_LOCK = "policy-versions"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PolicyStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        policy_file: Path | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.policy_file = policy_file
        self.clock = clock
        self._cache: dict[int, pol.PolicyDocument] = {}
        self._lock = threading.Lock()

    # -- reading --------------------------------------------------------------------------------------
    def active(self) -> tuple[int, pol.PolicyDocument]:
        """(version, document) of the policy in force now; seeds it from the file if there is none."""
        with self.sessions() as session:
            version = session.scalar(select(func.max(PolicyVersion.version)))
        if version is None:
            self.load_file()
            return self.active()
        with self._lock:
            cached = self._cache.get(version)
        if cached is not None:
            return version, cached
        with self.sessions() as session:
            row = session.get(PolicyVersion, version)
            assert row is not None
            document = pol.PolicyDocument.model_validate(row.document)
        with self._lock:
            self._cache[version] = document
        return version, document

    def versions(self) -> list[PolicyVersion]:
        with self.sessions() as session:
            return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.version.desc())))

    # -- writing --------------------------------------------------------------------------------------
    def load_file(self) -> int | None:
        """Seed or refresh from the policy file: a new version only when the file's content changed since it
        was last loaded (changes made since through REST or CLI otherwise stay in force)."""
        text = self.policy_file.read_text() if self.policy_file else pol.default_policy_text()
        digest = _digest(text)
        document = pol.load_policy(text)
        source = str(self.policy_file) if self.policy_file else "glasshouse default policy"
        with transaction(self.sessions) as session:
            serialise(session, POLICY_LOCK)  # nodes starting at once load the file once
            last_file = session.scalar(
                select(PolicyVersion)
                .where(PolicyVersion.source == "file")
                .order_by(PolicyVersion.version.desc())
            )
            if last_file is not None and last_file.digest == digest:
                return None
            by = Actor(org_id="", org_name="glasshouse", surface="system")
            return self._append(session, by, document, "file", digest, f"loaded at start from {source}")

    def change(self, by: Actor, document: pol.PolicyDocument, reason: str) -> int:
        """Make ``document`` the active policy (a new version), audited with who and why."""
        if not reason.strip():
            raise InvalidParameterError("a policy change needs a reason")
        text = pol.dump_policy(document)
        with transaction(self.sessions) as session:
            return self._append(session, by, document, "change", _digest(text), reason)

    def lift(self, by: Actor, rule_id: str, reason: str) -> int:
        _, doc = self.active()
        return self.change(by, pol.lift(doc, rule_id, at=self.clock(), by=by.principal, why=reason), reason)

    def reimpose(self, by: Actor, rule_id: str, reason: str, end: datetime | None = None) -> int:
        _, doc = self.active()
        new = pol.reimpose(doc, rule_id, at=self.clock(), by=by.principal, why=reason, end=end)
        return self.change(by, new, reason)

    def extend(self, by: Actor, rule_id: str, reason: str, end: datetime | None) -> int:
        _, doc = self.active()
        return self.change(
            by, pol.extend(doc, rule_id, end=end, at=self.clock(), by=by.principal, why=reason), reason
        )

    def _append(
        self, session: Session, by: Actor, document: pol.PolicyDocument, source: str, digest: str, reason: str
    ) -> int:
        serialise(session, POLICY_LOCK)  # PostgreSQL: versions are max + 1, so one writer at a time
        previous = session.scalar(select(func.max(PolicyVersion.version))) or 0
        version = previous + 1
        session.add(
            PolicyVersion(
                version=version,
                name=document.name,
                document=document.model_dump(mode="json"),
                source=source,
                digest=digest,
                author=by.principal,
                reason=reason,
                created_at=self.clock(),
            )
        )
        session.flush()
        self.audit.append(
            session,
            change_event(
                by,
                "policy.change",
                {"version": version, "previous_version": previous, "source": source, "reason": reason},
                policy_version=version,
            ),
        )
        return version
