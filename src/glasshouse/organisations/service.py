"""Organisations: lookups for every surface; creation, updates and approvals for operators (audited)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit.service import AuditEvent, AuditLog
from glasshouse.db import serialise, transaction, utcnow
from glasshouse.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.governance.policy import Sector
from glasshouse.organisations.models import APPROVAL_KINDS, ApprovalRecord, Organisation

_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{1,255}$")
_FLAG = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def get_by_name(session: Session, name: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise NotFoundError(f"organisation {name!r} not found")
    return org


def get_or_create(session: Session, name: str, sector: str | None = None) -> Organisation:
    """Organisation ``name``, created (with ``sector`` if given) when missing; safe with concurrent nodes."""
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        serialise(session, f"organisation:{name}")  # PostgreSQL: nodes creating it at once make one
        org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = (
            Organisation(name=name, flags=[])
            if sector is None
            else Organisation(name=name, sector=sector, flags=[])
        )
        session.add(org)
        session.flush()
    return org


def _sector(value: str) -> str:
    try:
        return Sector(value).value
    except ValueError:
        allowed = ", ".join(s.value for s in Sector)
        raise InvalidParameterError(f"sector {value!r} is not one of: {allowed}") from None


def _flags(values: Iterable[str]) -> list[str]:
    flags = sorted(set(values))
    for flag in flags:
        if not _FLAG.match(flag):
            raise InvalidParameterError(f"flag {flag!r} must be lower-case letters, digits and underscores")
    return flags


class OrganisationService:
    def __init__(self, sessions: sessionmaker[Session], audit: AuditLog) -> None:
        self.sessions = sessions
        self.audit = audit

    def get(self, name: str) -> Organisation:
        with self.sessions() as session:
            return get_by_name(session, name)

    def get_by_id(self, org_id: str) -> Organisation:
        with self.sessions() as session:
            org = session.get(Organisation, org_id)
            if org is None:
                raise NotFoundError("organisation not found")
            return org

    def get_all(self) -> list[Organisation]:
        with self.sessions() as session:
            return list(session.scalars(select(Organisation).order_by(Organisation.name)))

    def create(
        self,
        by: Actor,
        name: str,
        *,
        sector: str,
        jurisdiction: str | None = None,
        flags: Iterable[str] = (),
        is_operator: bool = False,
    ) -> Organisation:
        if not _NAME.match(name):
            raise InvalidParameterError(f"organisation name {name!r} must match [a-zA-Z0-9_.-]{{1,255}}")
        with transaction(self.sessions) as session:
            serialise(session, f"organisation:{name}")
            if session.scalar(select(Organisation).where(Organisation.name == name)) is not None:
                raise AlreadyExistsError(f"organisation {name!r} already exists")
            org = Organisation(
                name=name,
                sector=_sector(sector),
                jurisdiction=jurisdiction,
                flags=_flags(flags),
                is_operator=is_operator,
            )
            session.add(org)
            session.flush()
            self.audit.append(session, _change(by, "org.create", org))
        return org

    def update(
        self,
        by: Actor,
        name: str,
        *,
        sector: str | None = None,
        jurisdiction: str | None = None,
        add_flags: Iterable[str] = (),
        remove_flags: Iterable[str] = (),
        verified: bool | None = None,
        reason: str = "",
    ) -> Organisation:
        with transaction(self.sessions) as session:
            org = get_by_name(session, name)
            before = org.view()
            if sector is not None:
                org.sector = _sector(sector)
            if jurisdiction is not None:
                org.jurisdiction = jurisdiction
            flags = (set(org.flags or []) | set(_flags(add_flags))) - set(remove_flags)
            org.flags = sorted(flags)
            if verified is not None:
                org.verified = verified
            session.flush()
            self.audit.append(session, _change(by, "org.update", org, before=before, reason=reason))
        return org

    def add_approval(
        self, by: Actor, name: str, *, kind: str, reference: str, expires_at: datetime | None
    ) -> ApprovalRecord:
        if kind not in APPROVAL_KINDS:
            raise InvalidParameterError(f"approval kind must be one of {', '.join(APPROVAL_KINDS)}")
        with transaction(self.sessions) as session:
            org = get_by_name(session, name)
            record = ApprovalRecord(
                org_id=org.id, kind=kind, reference=reference, expires_at=expires_at, recorded_by=by.principal
            )
            session.add(record)
            session.flush()
            approval: dict[str, object] = {
                "kind": kind,
                "reference": reference,
                "expires_at": expires_at.isoformat() if expires_at else None,
            }
            self.audit.append(session, _change(by, "org.approval", org, extra=approval))
        return record

    def approvals(self, org_id: str) -> list[ApprovalRecord]:
        with self.sessions() as session:
            query = (
                select(ApprovalRecord)
                .where(ApprovalRecord.org_id == org_id)
                .order_by(ApprovalRecord.created_at)
            )
            return list(session.scalars(query))

    def current_approvals(self, org_id: str, at: datetime | None = None) -> frozenset[str]:
        """Kinds of approval on file and not expired at ``at``."""
        at = at or utcnow()
        valid = set()
        for record in self.approvals(org_id):
            expires = record.expires_at
            if expires is not None and expires.tzinfo is None:
                expires = expires.replace(tzinfo=at.tzinfo)
            if expires is None or expires > at:
                valid.add(record.kind)
        return frozenset(valid)


def _change(
    by: Actor,
    action: str,
    org: Organisation,
    *,
    before: dict[str, object] | None = None,
    reason: str = "",
    extra: dict[str, object] | None = None,
) -> AuditEvent:
    details: dict[str, object] = {
        "organisation": org.name,
        "after": {k: v for k, v in org.view().items() if k != "created_at"},
    }
    if before is not None:
        details["before"] = {k: v for k, v in before.items() if k != "created_at"}
    if reason:
        details["reason"] = reason
    details.update(extra or {})
    return change_event(by, action, details)
