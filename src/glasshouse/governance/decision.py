"""Decisions: may this organisation use this capability now, and under which obligations?

Pure functions of (policy, version, subject, capability, time). A matching deny always wins (the first in
document order is reported); without a matching allow the answer is no; the obligations of every matching
allow are merged into the most restrictive combination.
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from glasshouse.errors import GlasshouseError, InvalidParameterError
from glasshouse.governance.policy import (
    PROHIBITED_PURPOSES,
    PURPOSE_CODES,
    Capability,
    Instant,
    Obligations,
    PolicyDocument,
    Rule,
    Sector,
    format_time,
    require_aware,
)

_MODEL = ConfigDict(extra="forbid", frozen=True)


class Subject(BaseModel):
    """The organisation asking. ``approvals`` holds only those valid at decision time: the caller filters
    expired ones out. ``sector`` also accepts its string value (as stored in a database row)."""

    model_config = _MODEL

    org_id: StrictStr
    org_name: StrictStr
    sector: Sector
    flags: frozenset[StrictStr] = frozenset()
    approvals: frozenset[StrictStr] = frozenset()


class Decision(BaseModel):
    """The answer for one (subject, capability, time). ``until`` is the end of the denying rule's period;
    ``until_further_notice`` is true when a deny has no end."""

    model_config = _MODEL

    allowed: StrictBool
    capability: Capability
    rule_id: StrictStr | None
    reason: StrictStr
    until: Instant | None = None
    until_further_notice: StrictBool = False
    obligations: Obligations = Obligations()
    #: The allow rules that attached obligations (named when an obligation is not met).
    obligation_rules: tuple[StrictStr, ...] = ()
    policy_name: StrictStr
    policy_version: StrictInt = Field(ge=1)

    @property
    def message(self) -> str:
        """The human sentence: names the policy, the rule and until when a denial holds."""
        verdict = "Allowed" if self.allowed else "Denied"
        policy = f"policy '{self.policy_name}' v{self.policy_version}"
        if self.rule_id is None:
            return f"{verdict} by {policy}: {self.reason.rstrip('.')}."
        head = f"{verdict} by {policy}, rule '{self.rule_id}'"
        if self.allowed:
            return f"{head}."
        text = f"{head}: {self.reason.rstrip('.')}."
        if self.until_further_notice:
            return f"{text} In force until further notice."
        if self.until is not None:
            return f"{text} In force until {format_time(self.until)}."
        return text


class ObligationError(GlasshouseError):
    """An operation was attempted without what the policy requires, or for a refused purpose.
    ``missing`` lists the absent items (``purpose``, ``case_number``, ``warrant``) when that is the cause."""

    code = "ObligationNotMet"

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


def rule_matches(rule: Rule, subject: Subject, capability: Capability, at: datetime) -> bool:
    return (
        ("*" in rule.capabilities or capability in rule.capabilities)
        and ("*" in rule.sectors or subject.sector in rule.sectors)
        and subject.flags.issuperset(rule.require_flags)
        and subject.flags.isdisjoint(rule.exempt_flags)
        and subject.approvals.issuperset(rule.require_approvals)
        and rule.in_force(at)
    )


def decide(
    policy: PolicyDocument, version: int, subject: Subject, capability: Capability, at: datetime
) -> Decision:
    require_aware(at)
    matching = [rule for rule in policy.rules if rule_matches(rule, subject, capability, at)]
    name, cap = policy.name, capability
    deny = next((rule for rule in matching if rule.effect == "deny"), None)
    if deny is not None:
        period = deny.period_at(at)
        until = period.end if period is not None else None
        return Decision(
            allowed=False,
            capability=cap,
            rule_id=deny.id,
            reason=deny.reason,
            until=until,
            until_further_notice=until is None,
            policy_name=name,
            policy_version=version,
        )
    allows = [rule for rule in matching if rule.effect == "allow"]
    if not allows:
        reason = f"no rule allows {capability.value} for sector {subject.sector.value}"
        return Decision(
            allowed=False,
            capability=cap,
            rule_id=None,
            reason=reason,
            policy_name=name,
            policy_version=version,
        )
    merged = reduce(Obligations.merge, (r.obligations for r in allows if r.obligations), Obligations())
    return Decision(
        allowed=True,
        capability=cap,
        rule_id=allows[0].id,
        reason=allows[0].reason,
        obligations=merged,
        obligation_rules=tuple(r.id for r in allows if r.obligations),
        policy_name=name,
        policy_version=version,
    )


_PROHIBITED = {p.code: p.description for p in PROHIBITED_PURPOSES}


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def check_purpose(
    decision: Decision,
    purpose: str | None = None,
    case_number: str | None = None,
    warrant: str | None = None,
    warrant_expires: datetime | None = None,
    at: datetime | None = None,
) -> None:
    """Raise ObligationError unless purpose, case number and warrant satisfy the decision's obligations.

    Prohibited purposes are refused whatever the obligations, unknown ones too, and so is any call on a
    denied decision. A warrant with an expiry must still be valid at ``at``."""
    if not decision.allowed:
        raise ObligationError(decision.message)
    code = "" if purpose is None else purpose.strip()
    cap = decision.capability.value
    if code in _PROHIBITED:
        raise ObligationError(f"purpose {code!r} is prohibited: {_PROHIBITED[code].rstrip('.')}.")
    if code and code not in PURPOSE_CODES:
        raise ObligationError(
            f"unknown purpose {code!r}; known purposes: {', '.join(sorted(PURPOSE_CODES))}."
        )
    obligations = decision.obligations
    if code and obligations.purposes is not None and code not in obligations.purposes:
        permitted = ", ".join(obligations.purposes) or "none"
        raise ObligationError(f"purpose {code!r} is not permitted for {cap}; permitted: {permitted}.")
    missing: list[str] = []
    if not code and (obligations.purpose_required or obligations.purposes is not None):
        missing.append("purpose")
    if obligations.case_required and _blank(case_number):
        missing.append("case_number")
    if obligations.warrant_required and _blank(warrant):
        missing.append("warrant")
    if missing:
        raise ObligationError(
            f"{cap} requires {', '.join(m.replace('_', ' ') for m in missing)}.", tuple(missing)
        )
    if obligations.warrant_required and warrant_expires is not None:
        if at is None:
            raise InvalidParameterError("checking a warrant's expiry needs the time of the check")
        require_aware(warrant_expires, "warrant_expires")
        require_aware(at)
        if warrant_expires <= at:
            raise ObligationError(f"the warrant expired at {format_time(warrant_expires)}.", ("warrant",))


def obligations_in_words(o: Obligations) -> list[str]:
    """What a caller must supply or accept, as short phrases for people (UI forms show them up front)."""
    needs = []
    if o.purpose_required or o.purposes is not None:
        needs.append("a purpose" + (f" ({', '.join(o.purposes)})" if o.purposes else ""))
    if o.case_required:
        needs.append("a case number")
    if o.warrant_required:
        needs.append("a warrant reference")
    if o.similarity_floor is not None:
        needs.append(f"a similarity of at least {o.similarity_floor:g}%")
    if o.max_candidates is not None:
        needs.append(f"at most {o.max_candidates} candidates")
    if o.reviewers:
        needs.append(f"{o.reviewers} human reviewer{'s' if o.reviewers > 1 else ''} before a match is used")
    if o.min_model_tar_at_fmr_1e_6 is not None:
        needs.append(
            f"a face model measured at {o.min_model_tar_at_fmr_1e_6:.0%} or more true matches at FMR 1e-6"
        )
    return needs
