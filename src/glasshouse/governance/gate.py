"""The policy gate: the one choke point every biometric operation passes, on every surface.

    with gate.guard(actor, Capability.FACE_SEARCH, request) as grant:
        threshold = grant.similarity_at_least(requested)      # obligations applied
        ... analysis, reads and writes through the domain services ...
        grant.note(matches=3)

A denial is audited and raised as :class:`PolicyDenied` (AccessDeniedException / HTTP 403). An allowed
call is audited exactly once: in the first write transaction it makes (the entry is appended just before
that transaction commits, so it commits or rolls back with the action), otherwise when the guard exits;
with the counts and digests noted so far and the outcome.

Services that process biometric data call :func:`require_grant`, so a surface that forgets the gate
fails loudly instead of skipping it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit.service import AuditLog
from glasshouse.db import before_commit, utcnow
from glasshouse.errors import GlasshouseError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import event
from glasshouse.governance.decision import Decision, ObligationError, Subject, check_purpose, decide
from glasshouse.governance.policy import Capability
from glasshouse.governance.store import PolicyStore
from glasshouse.organisations.service import OrganisationService


class PolicyDenied(GlasshouseError):
    """The policy refuses this actor this capability now (or an obligation was not met)."""

    code = "AccessDenied"

    def __init__(self, message: str, decision: Decision | None = None) -> None:
        super().__init__(message)
        self.decision = decision


class UngatedAccessError(GlasshouseError):
    """A biometric service was called outside the gate: a programming error, never a user's."""

    code = "InternalError"


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What the caller declares about a call: purpose, case and warrant (obligations check them)."""

    purpose: str | None = None
    case_number: str | None = None
    warrant: str | None = None
    warrant_expires: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)  # digests of inputs, never the inputs


_active: ContextVar[Grant | None] = ContextVar("glasshouse_grant", default=None)


def current_grant() -> Grant | None:
    """The grant of the gated operation in progress, if any."""
    return _active.get()


def require_grant() -> Grant:
    """The grant of the gated operation in progress; raises if a biometric service is called ungated."""
    grant = _active.get()
    if grant is None:
        raise UngatedAccessError("biometric processing attempted outside the policy gate")
    return grant


@contextmanager
def ambient_grant(grant: Grant) -> Iterator[None]:
    """Carry a parent's grant into a worker (a process pool's initialiser, a job runner)."""
    token = _active.set(grant)
    try:
        yield
    finally:
        _active.reset(token)


class Grant:
    """An allowed call in progress: its decision, obligations, and the audit entry to be written."""

    def __init__(self, gate: Gate, actor: Actor, decision: Decision, request: RequestContext) -> None:
        self.gate = gate
        self.actor = actor
        self.decision = decision
        self.request = request
        self.details: dict[str, Any] = dict(request.inputs)
        self.recorded = False

    @property
    def capability(self) -> str:
        return str(self.decision.capability)

    @property
    def reviewers_required(self) -> int:
        return self.decision.obligations.reviewers

    def similarity_at_least(self, requested: float) -> float:
        """The threshold to use: the caller's, raised to the policy's floor (callers cannot lower it)."""
        floor = self.decision.obligations.similarity_floor
        return max(requested, floor) if floor is not None else requested

    def at_most(self, requested: int) -> int:
        """The candidate count to return: the caller's, capped by the policy."""
        cap = self.decision.obligations.max_candidates
        return min(requested, cap) if cap is not None else requested

    def require_model(self, name: str, version: str, tar_at_fmr_1e_6: float | None) -> None:
        """Refuse (PolicyDenied, audited as a denial) a face model whose card shows a true-accept rate at
        FMR 1e-6 below the policy's ``min_model_tar_at_fmr_1e_6`` (or none at all)."""
        floor = self.decision.obligations.min_model_tar_at_fmr_1e_6
        if floor is None or (tar_at_fmr_1e_6 is not None and tar_at_fmr_1e_6 >= floor):
            return
        d = self.decision
        rule = d.obligation_rules[0] if d.obligation_rules else d.rule_id
        shown = "no measurement" if tar_at_fmr_1e_6 is None else f"{tar_at_fmr_1e_6:.1%}"
        message = (
            f"{self.capability} requires a face model whose card shows at least {floor:.0%} true matches at "
            f"FMR 1e-6; this collection's model {name} ({version}) shows {shown} "
            f"(policy '{d.policy_name}' v{d.policy_version}, rule '{rule}')"
        )
        self.recorded = True  # the denial is this call's audit entry
        self.request.inputs.update(self.details, model=name, model_version=version)
        self.gate._deny(self.actor, d, self.request, message, rule=rule)

    def note(self, **details: Any) -> None:
        """Counts and digests for the audit entry (never images or embeddings)."""
        self.details.update(details)

    def _append_in(self, session: Session) -> None:
        """Before the action's first write commits: its audit entry joins that commit."""
        if not self.recorded:
            self.gate.audit.append(session, self._event("ok"))
            self.recorded = True

    def _event(self, outcome: str) -> Any:
        return event(
            self.actor,
            self.capability,
            "allow",
            rule=self.decision.rule_id,
            policy_version=self.decision.policy_version,
            purpose=self.request.purpose,
            case_number=self.request.case_number,
            details={**self.details, "outcome": outcome},
        )


class Gate:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        policies: PolicyStore,
        organisations: OrganisationService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.policies = policies
        self.organisations = organisations
        self.clock = clock

    def decide(self, actor: Actor, capability: Capability) -> Decision:
        """The decision without side effects (the UI uses it to show a notice instead of a form)."""
        org = self.organisations.get_by_id(actor.org_id)
        now = self.clock()
        subject = Subject(
            org_id=org.id,
            org_name=org.name,
            sector=org.sector,
            flags=frozenset(org.flags or []),
            approvals=self.organisations.current_approvals(org.id, now),
        )
        version, document = self.policies.active()
        return decide(document, version, subject, capability, now)

    def ensure(self, actor: Actor, capability: Capability, request: RequestContext | None = None) -> Decision:
        """The allowing decision, obligations checked; a denial is audited and raised. For a service that
        writes its own allow entry (the testing API counts its runs from them) rather than hold a grant."""
        request = request or RequestContext()
        decision = self.decide(actor, capability)
        if not decision.allowed:
            self._deny(actor, decision, request, decision.message)
        try:
            check_purpose(
                decision,
                request.purpose,
                request.case_number,
                request.warrant,
                request.warrant_expires,
                self.clock(),
            )
        except ObligationError as exc:
            # Name the rule that imposed the obligations (prohibited purposes are refused whatever the rules).
            rule = decision.obligation_rules[0] if decision.obligation_rules else decision.rule_id
            where = f"policy '{decision.policy_name}' v{decision.policy_version}, rule '{rule}'"
            self._deny(actor, decision, request, f"{exc.message} ({where})", rule=rule)
        return decision

    @contextmanager
    def guard(
        self, actor: Actor, capability: Capability, request: RequestContext | None = None
    ) -> Iterator[Grant]:
        request = request or RequestContext()
        decision = self.ensure(actor, capability, request)
        grant = Grant(self, actor, decision, request)
        token = _active.set(grant)
        try:
            with before_commit(grant._append_in):
                yield grant
        except Exception as exc:
            if not grant.recorded:
                code = exc.code if isinstance(exc, GlasshouseError) else "InternalError"
                self.audit.record(grant._event(f"error:{code}"))
                grant.recorded = True
            raise
        finally:
            _active.reset(token)
        if not grant.recorded:
            self.audit.record(grant._event("ok"))
            grant.recorded = True

    def _deny(
        self, actor: Actor, decision: Decision, request: RequestContext, message: str, rule: str | None = None
    ) -> None:
        self.audit.record(
            event(
                actor,
                str(decision.capability),
                "deny",
                rule=rule or decision.rule_id,
                policy_version=decision.policy_version,
                purpose=request.purpose,
                case_number=request.case_number,
                details={**request.inputs, "reason": message},
            )
        )
        raise PolicyDenied(message, decision)
