"""Changing the active policy in a test the way an operator does: a new version with one more rule."""

from __future__ import annotations

from glasshouse.governance import policy as pol
from glasshouse.governance.actor import Actor
from glasshouse.services import Services


def add_rule(svc: Services, by: Actor, rule: pol.Rule, why: str = "test") -> None:
    """Append ``rule`` to the active policy (a new, audited policy version made by ``by``)."""
    _, document = svc.policies.active()
    svc.policies.change(by, document.model_copy(update={"rules": [*document.rules, rule]}), why)
