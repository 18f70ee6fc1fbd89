"""Properties of the policy engine over random rule sets, subjects, capabilities and times.

Times are drawn from a small grid of hours so that decision times often fall exactly on period edges."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.governance.decision import Subject, decide
from glasshouse.governance.policy import (
    Capability,
    Obligations,
    Period,
    PolicyConflictError,
    PolicyDocument,
    Rule,
    Sector,
    dump_policy,
    lift,
    load_policy,
    reimpose,
)

BASE = datetime(2020, 6, 10, tzinfo=UTC)
GRID = 12  # hours
FLAGS = ("child_protection", "accredited", "pilot")
APPROVALS = ("accountability_report", "governing_body_approval")
PURPOSE_POOL = ("missing_person", "criminal_investigation", "fraud_prevention", "research_evaluation")

settings.register_profile("governance", deadline=None, max_examples=150)
settings.load_profile("governance")


def hour(k: int) -> datetime:
    return BASE + timedelta(hours=k)


times = st.integers(0, GRID).map(hour)
capabilities = st.sampled_from(list(Capability))


@st.composite
def periods(draw: st.DrawFn) -> list[Period]:
    points = sorted(draw(st.sets(st.integers(0, GRID), max_size=6)))
    pairs = [Period(start=hour(a), end=hour(b)) for a, b in zip(points[::2], points[1::2], strict=False)]
    if len(points) % 2 == 1:  # an odd point opens a last period until further notice
        pairs.append(Period(start=hour(points[-1]), end=None))
    return pairs


obligations = st.builds(
    Obligations,
    purpose_required=st.booleans(),
    case_required=st.booleans(),
    similarity_floor=st.none() | st.floats(0, 100, allow_nan=False),
    max_candidates=st.none() | st.integers(1, 50),
    reviewers=st.integers(0, 2),
    warrant_required=st.booleans(),
    purposes=st.none() | st.lists(st.sampled_from(PURPOSE_POOL), max_size=4),
)


def _subset(pool: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(pool), max_size=2, unique=True)


@st.composite
def rules(draw: st.DrawFn, rule_id: str = "r", effect: str | None = None) -> Rule:
    effect = effect or draw(st.sampled_from(["allow", "deny"]))
    spans = draw(periods())
    caps = draw(st.just(["*"]) | st.lists(capabilities, min_size=1, max_size=4, unique=True))
    sectors = draw(
        st.just(["*"]) | st.lists(st.sampled_from(list(Sector)), min_size=1, max_size=3, unique=True)
    )
    is_moratorium = effect == "deny" and bool(spans) and draw(st.booleans())
    return Rule(
        id=rule_id,
        kind="moratorium" if is_moratorium else "rule",
        effect=effect,
        capabilities=caps,
        sectors=sectors,
        require_flags=draw(_subset(FLAGS)),
        exempt_flags=draw(_subset(FLAGS)),
        require_approvals=draw(_subset(APPROVALS)),
        periods=spans,
        obligations=draw(st.none() | obligations) if effect == "allow" else None,
        reason=f"reason of {rule_id}",
    )


@st.composite
def documents(draw: st.DrawFn, effect: str | None = None, max_size: int = 6) -> PolicyDocument:
    n = draw(st.integers(0, max_size))
    return PolicyDocument(name="random", rules=[draw(rules(f"r{i}", effect)) for i in range(n)])


subjects = st.builds(
    Subject,
    org_id=st.just("org"),
    org_name=st.just("org"),
    sector=st.sampled_from(list(Sector)),
    flags=st.frozensets(st.sampled_from(FLAGS)),
    approvals=st.frozensets(st.sampled_from(APPROVALS)),
)


def oracle_matches(rule: Rule, subject: Subject, capability: Capability, at: datetime) -> bool:
    """An independent statement of when a rule applies."""
    if "*" not in rule.capabilities and capability not in rule.capabilities:
        return False
    if "*" not in rule.sectors and subject.sector not in rule.sectors:
        return False
    if any(flag not in subject.flags for flag in rule.require_flags):
        return False
    if any(flag in subject.flags for flag in rule.exempt_flags):
        return False
    if any(approval not in subject.approvals for approval in rule.require_approvals):
        return False
    if not rule.periods:
        return True
    return any(p.start <= at and (p.end is None or at < p.end) for p in rule.periods)


@given(documents(), subjects, capabilities, times)
def test_decision_agrees_with_oracle(
    doc: PolicyDocument, subject: Subject, cap: Capability, at: datetime
) -> None:
    decision = decide(doc, 1, subject, cap, at)
    matching = [r for r in doc.rules if oracle_matches(r, subject, cap, at)]
    denies = [r for r in matching if r.effect == "deny"]
    allows = [r for r in matching if r.effect == "allow"]
    assert decision.allowed == (bool(allows) and not denies)
    if denies:
        assert decision.rule_id == denies[0].id  # the first matching deny, in document order
    elif allows:
        assert decision.rule_id == allows[0].id
        expected = reduce(Obligations.merge, [r.obligations or Obligations() for r in allows], Obligations())
        assert decision.obligations == expected
    else:
        assert decision.rule_id is None
        assert decision.message.endswith(f"no rule allows {cap.value} for sector {subject.sector.value}.")


@given(documents(effect="deny"), subjects, capabilities, times)
def test_nothing_allowed_without_an_allow(
    doc: PolicyDocument, subject: Subject, cap: Capability, at: datetime
) -> None:
    assert not decide(doc, 1, subject, cap, at).allowed


@given(documents(), subjects, capabilities, times, st.data())
def test_matching_deny_always_wins(
    doc: PolicyDocument, subject: Subject, cap: Capability, at: datetime, data: st.DataObject
) -> None:
    spans = data.draw(
        st.sampled_from([[], [Period(start=at, end=None)], [Period(start=at, end=at + timedelta(1))]])
    )
    deny = Rule(
        id="the-deny",
        kind="moratorium" if spans else "rule",
        effect="deny",
        capabilities=[data.draw(st.sampled_from(["*", cap]))],
        sectors=[data.draw(st.sampled_from(["*", subject.sector]))],
        require_flags=sorted(subject.flags),
        require_approvals=sorted(subject.approvals),
        exempt_flags=[f for f in FLAGS if f not in subject.flags],
        periods=spans,
        reason="no",
    )
    position = data.draw(st.integers(0, len(doc.rules)))
    rules_ = [*doc.rules[:position], deny, *doc.rules[position:]]
    decision = decide(PolicyDocument(name="random", rules=rules_), 2, subject, cap, at)
    assert not decision.allowed
    earlier = [r for r in rules_[:position] if r.effect == "deny" and oracle_matches(r, subject, cap, at)]
    assert decision.rule_id == (earlier[0].id if earlier else "the-deny")
    assert decision.obligations == Obligations()


@given(st.integers(0, GRID - 1), st.integers(1, GRID), st.booleans(), subjects, capabilities)
def test_time_windows_honoured_at_their_edges(
    start_k: int, length: int, open_ended: bool, subject: Subject, cap: Capability
) -> None:
    start = hour(start_k)
    end = None if open_ended else start + timedelta(hours=length)
    rule = Rule(
        id="w",
        effect="allow",
        capabilities=["*"],
        sectors=["*"],
        periods=[Period(start=start, end=end)],
        reason="w",
    )
    doc = PolicyDocument(name="window", rules=[rule])
    tick = timedelta(microseconds=1)
    assert decide(doc, 1, subject, cap, start).allowed  # at == start matches
    assert not decide(doc, 1, subject, cap, start - tick).allowed
    if end is None:
        assert decide(doc, 1, subject, cap, datetime(9999, 12, 31, tzinfo=UTC)).allowed  # never expires
    else:
        assert decide(doc, 1, subject, cap, end - tick).allowed
        assert not decide(doc, 1, subject, cap, end).allowed  # at == end does not


@given(obligations, obligations, obligations)
def test_merge_is_most_restrictive_and_order_independent(
    a: Obligations, b: Obligations, c: Obligations
) -> None:
    ab = a.merge(b)
    assert ab == b.merge(a)
    assert ab.merge(c) == a.merge(b.merge(c))
    assert a.merge(Obligations()) == a and a.merge(a) == a
    for part in (a, b):
        assert ab.purpose_required >= part.purpose_required
        assert ab.case_required >= part.case_required
        assert ab.warrant_required >= part.warrant_required
        assert ab.reviewers >= part.reviewers
        if part.similarity_floor is not None:
            assert ab.similarity_floor is not None and ab.similarity_floor >= part.similarity_floor
        if part.max_candidates is not None:
            assert ab.max_candidates is not None and ab.max_candidates <= part.max_candidates
        if part.purposes is not None:
            assert ab.purposes is not None and set(ab.purposes) <= set(part.purposes)
    assert ab.reviewers == max(a.reviewers, b.reviewers)


@given(documents(), subjects, capabilities, times, st.randoms(use_true_random=False))
def test_decision_independent_of_allow_order(
    doc: PolicyDocument, subject: Subject, cap: Capability, at: datetime, rnd: random.Random
) -> None:
    allows = [r for r in doc.rules if r.effect == "allow"]
    denies = [r for r in doc.rules if r.effect == "deny"]
    rnd.shuffle(allows)
    shuffled = PolicyDocument(name=doc.name, rules=denies + allows)
    one, other = decide(doc, 1, subject, cap, at), decide(shuffled, 1, subject, cap, at)
    assert one.allowed == other.allowed
    assert one.obligations == other.obligations


@given(documents())
def test_yaml_round_trip(doc: PolicyDocument) -> None:
    assert load_policy(dump_policy(doc)) == doc


@given(periods().filter(bool), st.integers(0, GRID), subjects, capabilities, st.data())
def test_lift_and_reimpose(
    spans: list[Period], gap: int, subject: Subject, cap: Capability, data: st.DataObject
) -> None:
    period = data.draw(st.sampled_from(spans))
    hours = GRID if period.end is None else (period.end - period.start) // timedelta(hours=1)
    at = period.start + timedelta(hours=data.draw(st.integers(0, hours - 1)))
    moratorium = Rule(
        id="m", kind="moratorium", effect="deny", capabilities=["*"], sectors=["*"], periods=spans, reason="m"
    )
    baseline = Rule(id="all", effect="allow", capabilities=["*"], sectors=["*"], reason="all")
    doc = PolicyDocument(name="m", rules=[moratorium, baseline])
    assert decide(doc, 1, subject, cap, at).rule_id == "m"

    lifted = lift(doc, "m", at, "tester", "lifted")
    assert decide(lifted, 2, subject, cap, at).allowed
    tick = timedelta(microseconds=1)
    assert decide(lifted, 2, subject, cap, at - tick).allowed == (at == period.start)
    with pytest.raises(PolicyConflictError):
        lift(lifted, "m", at, "tester", "twice")

    later = at + timedelta(hours=gap)
    rule = lifted.rule("m")
    if rule.period_at(later) is not None or any(p.start > later for p in rule.periods):
        with pytest.raises(PolicyConflictError):
            reimpose(lifted, "m", later, "tester", "again")
        return
    again = reimpose(lifted, "m", later, "tester", "again")
    assert decide(again, 3, subject, cap, later).rule_id == "m"
    assert decide(again, 3, subject, cap, datetime(9999, 1, 1, tzinfo=UTC)).until_further_notice
    assert [n.note for n in again.rule("m").history] == [
        "Lifted: lifted",
        "Reimposed until further notice: again",
    ]
