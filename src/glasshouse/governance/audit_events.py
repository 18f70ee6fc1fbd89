"""Audit events built from an actor: one place that maps who did what onto the audit log's fields."""

from __future__ import annotations

from typing import Any, Literal

from glasshouse.audit.service import AuditEvent
from glasshouse.governance.actor import Actor


def change_event(
    by: Actor, action: str, details: dict[str, Any], *, policy_version: int | None = None
) -> AuditEvent:
    """A recorded change (policy, key, organisation, review): not a gate decision."""
    return event(by, action, "record", details=details, policy_version=policy_version)


def event(
    by: Actor,
    action: str,
    decision: Literal["allow", "deny", "record"],
    *,
    rule: str | None = None,
    policy_version: int | None = None,
    purpose: str | None = None,
    case_number: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent(
        actor_org_id=by.org_id or None,
        actor_org_name=by.org_name,
        actor_person=by.person,
        actor_key=by.key_id,
        surface=by.surface,
        action=action,
        decision=decision,
        rule=rule,
        policy_version=policy_version,
        purpose=purpose,
        case_number=case_number,
        details=dict(details or {}),
    )
