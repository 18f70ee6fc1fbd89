"""The policy engine on the shipped default policy: the 2020 police moratorium, its exemption, its
obligations, moratorium operations, YAML round trips and typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from glasshouse.errors import InvalidParameterError, NotFoundError
from glasshouse.governance.decision import Decision, ObligationError, Subject, check_purpose, decide
from glasshouse.governance.policy import (
    PROHIBITED_PURPOSE_CODES,
    PURPOSE_CODES,
    Capability,
    Obligations,
    PolicyConflictError,
    PolicyDocument,
    Sector,
    default_policy,
    default_policy_text,
    dump_policy,
    extend,
    lift,
    load_policy,
    reimpose,
)

MORATORIUM = "police-moratorium-2020"
SEARCHES = (
    Capability.FACE_COMPARE,
    Capability.FACE_INDEX,
    Capability.FACE_SEARCH,
    Capability.USER_SEARCH,
    Capability.VIDEO_FACE_SEARCH,
)
START = datetime(2020, 6, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

POLICE = Subject(org_id="o1", org_name="metro-police", sector=Sector.LAW_ENFORCEMENT)
CHILD_PROTECTION = Subject(
    org_id="o2",
    org_name="child-rescue-unit",
    sector=Sector.LAW_ENFORCEMENT,
    flags=frozenset({"child_protection"}),
)
SHOP = Subject(org_id="o3", org_name="shop", sector=Sector.COMMERCIAL)


@pytest.fixture(scope="module")
def policy() -> PolicyDocument:
    return default_policy()


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


# --- the moratorium ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when", [START, at(2021, 6, 9), NOW], ids=["exact-start", "2021-06-09", "2026-11-26"]
)
@pytest.mark.parametrize("capability", SEARCHES, ids=str)
def test_police_denied_searches_under_moratorium(
    policy: PolicyDocument, capability: Capability, when: datetime
) -> None:
    decision = decide(policy, 3, POLICE, capability, when)
    assert not decision.allowed
    assert decision.rule_id == MORATORIUM
    assert decision.until is None and decision.until_further_notice
    assert decision.obligations == Obligations()
    assert decision.message.startswith(f"Denied by policy 'glasshouse-default' v3, rule '{MORATORIUM}': ")
    assert decision.message.endswith(". In force until further notice.")


def test_police_allowed_before_moratorium_with_obligations(policy: PolicyDocument) -> None:
    decision = decide(policy, 1, POLICE, Capability.FACE_SEARCH, START - timedelta(microseconds=1))
    assert decision.allowed
    assert decision.obligations.similarity_floor == 99


@pytest.mark.parametrize("capability", [Capability.FACE_DETECT, Capability.VIDEO_FACE_DETECTION])
def test_police_allowed_detection(policy: PolicyDocument, capability: Capability) -> None:
    decision = decide(policy, 3, POLICE, capability, NOW)
    assert decision.allowed and decision.rule_id == "baseline-allow"
    assert decision.obligations == Obligations()


@pytest.mark.parametrize("capability", SEARCHES, ids=str)
def test_child_protection_exempt_with_obligations(policy: PolicyDocument, capability: Capability) -> None:
    decision = decide(policy, 3, CHILD_PROTECTION, capability, NOW)
    assert decision.allowed
    ob = decision.obligations
    assert ob.purpose_required and ob.case_required
    assert ob.similarity_floor == 99 and ob.max_candidates == 5 and ob.reviewers == 2
    assert ob.warrant_required is (capability is Capability.VIDEO_FACE_SEARCH)


@pytest.mark.parametrize(
    "capability", [c for c in Capability if c is not Capability.FOOTAGE_REQUEST], ids=str
)
def test_commercial_unaffected(policy: PolicyDocument, capability: Capability) -> None:
    for when in (START, NOW):
        decision = decide(policy, 3, SHOP, capability, when)
        assert decision.allowed and decision.obligations == Obligations()


def test_footage_request_only_for_law_enforcement(policy: PolicyDocument) -> None:
    denied = decide(policy, 3, SHOP, Capability.FOOTAGE_REQUEST, NOW)
    assert not denied.allowed and denied.rule_id is None
    assert denied.message == (
        "Denied by policy 'glasshouse-default' v3: no rule allows footage.request for sector commercial."
    )
    allowed = decide(policy, 3, POLICE, Capability.FOOTAGE_REQUEST, NOW)
    assert allowed.allowed and allowed.obligations.case_required
    check_purpose(allowed, "missing_person", "CASE-1")
    with pytest.raises(ObligationError, match="not permitted"):
        check_purpose(allowed, "fraud_prevention", "CASE-1")
    with pytest.raises(ObligationError) as err:
        check_purpose(allowed, "missing_person")
    assert err.value.missing == ("case_number",)


def test_no_allow_message_names_capability_and_sector() -> None:
    empty = PolicyDocument(name="empty", rules=[])
    decision = decide(empty, 7, POLICE, Capability.FACE_SEARCH, NOW)
    assert decision.message == (
        "Denied by policy 'empty' v7: no rule allows face.search for sector law_enforcement."
    )


# --- moratorium operations ---------------------------------------------------------------------------------


def test_lift_then_reimpose(policy: PolicyDocument) -> None:
    lifted = lift(policy, MORATORIUM, NOW, "board", "regulation passed")
    assert policy.rule(MORATORIUM).periods[0].end is None  # the original is untouched
    assert decide(lifted, 4, POLICE, Capability.FACE_SEARCH, NOW - timedelta(seconds=1)).rule_id == MORATORIUM
    after = decide(lifted, 4, POLICE, Capability.FACE_SEARCH, NOW)
    assert after.allowed
    assert after.obligations.similarity_floor == 99 and after.obligations.reviewers == 2
    assert lifted.rule(MORATORIUM).history[-1].by == "board"
    assert "regulation passed" in lifted.rule(MORATORIUM).history[-1].note

    later = NOW + timedelta(days=30)
    again = reimpose(lifted, MORATORIUM, later, "board", "abuse reported")
    assert decide(again, 5, POLICE, Capability.FACE_SEARCH, NOW + timedelta(days=1)).allowed
    denied = decide(again, 5, POLICE, Capability.FACE_SEARCH, later)
    assert not denied.allowed and denied.until_further_notice
    assert [p.end for p in again.rule(MORATORIUM).periods] == [NOW, None]


def test_extend_with_a_date(policy: PolicyDocument) -> None:
    end = at(2027, 1, 1)
    extended = extend(policy, MORATORIUM, end, NOW, "board", "review due")
    decision = decide(extended, 4, POLICE, Capability.FACE_SEARCH, NOW)
    assert decision.until == end and not decision.until_further_notice
    assert decision.message.endswith(" In force until 2027-01-01T00:00:00Z.")
    assert decide(extended, 4, POLICE, Capability.FACE_SEARCH, end).allowed
    back = extend(extended, MORATORIUM, None, NOW, "board", "indefinite")
    assert decide(back, 5, POLICE, Capability.FACE_SEARCH, at(2030, 1, 1)).until_further_notice


def test_original_one_year_term_message() -> None:
    text = default_policy_text().replace("end: null", "end: '2021-06-10T00:00:00Z'")
    decision = decide(load_policy(text), 1, POLICE, Capability.FACE_SEARCH, at(2021, 6, 9))
    assert decision.message.endswith(" In force until 2021-06-10T00:00:00Z.")
    assert decide(load_policy(text), 1, POLICE, Capability.FACE_SEARCH, at(2021, 6, 10)).allowed


def test_moratorium_operation_errors(policy: PolicyDocument) -> None:
    with pytest.raises(NotFoundError):
        lift(policy, "no-such-rule", NOW, "board", "why")
    with pytest.raises(PolicyConflictError):
        lift(policy, "baseline-allow", NOW, "board", "why")  # not a moratorium
    lifted = lift(policy, MORATORIUM, NOW, "board", "why")
    with pytest.raises(PolicyConflictError, match="not in force"):
        lift(lifted, MORATORIUM, NOW, "board", "again")
    with pytest.raises(PolicyConflictError, match="not in force"):
        extend(lifted, MORATORIUM, None, NOW, "board", "why")
    with pytest.raises(PolicyConflictError, match="already in force"):
        reimpose(policy, MORATORIUM, NOW, "board", "why")
    with pytest.raises(PolicyConflictError, match="already runs"):
        extend(policy, MORATORIUM, None, NOW, "board", "why")
    with pytest.raises(InvalidParameterError):
        extend(policy, MORATORIUM, NOW - timedelta(days=1), NOW, "board", "why")  # end not after now
    with pytest.raises(InvalidParameterError):
        lift(policy, MORATORIUM, NOW, " ", "why")
    with pytest.raises(InvalidParameterError):
        lift(policy, MORATORIUM, NOW, "board", "")
    with pytest.raises(InvalidParameterError, match="timezone"):
        lift(policy, MORATORIUM, datetime(2026, 11, 26), "board", "why")
    # reimposing before a later period would overlap it
    scheduled = reimpose(lifted, MORATORIUM, NOW + timedelta(days=10), "board", "scheduled")
    with pytest.raises(PolicyConflictError, match="overlap"):
        reimpose(scheduled, MORATORIUM, NOW + timedelta(days=1), "board", "why")


def test_lift_at_exact_start_leaves_an_empty_period(policy: PolicyDocument) -> None:
    lifted = lift(policy, MORATORIUM, START, "board", "never mind")
    assert decide(lifted, 2, POLICE, Capability.FACE_SEARCH, START).allowed
    assert load_policy(dump_policy(lifted)) == lifted


# --- purposes and obligations ------------------------------------------------------------------------------


def _allowed_search(policy: PolicyDocument, capability: Capability = Capability.FACE_SEARCH) -> Decision:
    decision = decide(policy, 3, CHILD_PROTECTION, capability, NOW)
    assert decision.allowed
    return decision


def test_check_purpose_passes_when_met(policy: PolicyDocument) -> None:
    check_purpose(_allowed_search(policy), "child_exploitation_investigation", "CASE-42")
    video = _allowed_search(policy, Capability.VIDEO_FACE_SEARCH)
    check_purpose(video, "child_exploitation_investigation", "CASE-42", "W-1", NOW + timedelta(days=1), NOW)


def test_check_purpose_names_what_is_missing(policy: PolicyDocument) -> None:
    with pytest.raises(ObligationError) as err:
        check_purpose(_allowed_search(policy, Capability.VIDEO_FACE_SEARCH), None, "  ", None)
    assert err.value.code == "ObligationNotMet"
    assert err.value.missing == ("purpose", "case_number", "warrant")
    assert "purpose, case number, warrant" in err.value.message


def test_expired_warrant_refused(policy: PolicyDocument) -> None:
    video = _allowed_search(policy, Capability.VIDEO_FACE_SEARCH)
    with pytest.raises(ObligationError, match="expired"):
        check_purpose(video, "missing_person", "C-1", "W-1", NOW, NOW)
    with pytest.raises(InvalidParameterError):
        check_purpose(video, "missing_person", "C-1", "W-1", NOW)  # expiry without the time of the check


@pytest.mark.parametrize("purpose", sorted(PROHIBITED_PURPOSE_CODES))
def test_prohibited_purposes_always_refused(policy: PolicyDocument, purpose: str) -> None:
    no_obligations = decide(policy, 3, SHOP, Capability.FACE_SEARCH, NOW)
    assert no_obligations.allowed and no_obligations.obligations == Obligations()
    with pytest.raises(ObligationError, match="prohibited"):
        check_purpose(no_obligations, purpose)
    with pytest.raises(ObligationError, match="prohibited"):
        check_purpose(_allowed_search(policy), purpose, "CASE-1")


def test_unknown_purpose_refused(policy: PolicyDocument) -> None:
    shop = decide(policy, 3, SHOP, Capability.FACE_SEARCH, NOW)
    check_purpose(shop)  # nothing required, nothing declared
    with pytest.raises(ObligationError, match="unknown purpose"):
        check_purpose(shop, "curiosity")


def test_denied_decision_never_passes(policy: PolicyDocument) -> None:
    denied = decide(policy, 3, POLICE, Capability.FACE_SEARCH, NOW)
    with pytest.raises(ObligationError, match=MORATORIUM):
        check_purpose(denied, "criminal_investigation", "C-1", "W-1")


def test_purpose_vocabulary_is_disjoint() -> None:
    assert PURPOSE_CODES.isdisjoint(PROHIBITED_PURPOSE_CODES)
    assert {"child_exploitation_investigation", "missing_person", "criminal_investigation"} <= PURPOSE_CODES


def test_obligations_merge_most_restrictive() -> None:
    a = Obligations(
        purpose_required=True, similarity_floor=90, max_candidates=10, purposes=["missing_person"]
    )
    b = Obligations(case_required=True, similarity_floor=99, max_candidates=5, reviewers=1)
    merged = a.merge(b)
    assert merged == Obligations(
        purpose_required=True,
        case_required=True,
        similarity_floor=99,
        max_candidates=5,
        reviewers=1,
        purposes=["missing_person"],
    )
    assert merged == b.merge(a)


# --- documents, YAML and validation ------------------------------------------------------------------------


def test_yaml_round_trip(policy: PolicyDocument, tmp_path: Path) -> None:
    text = dump_policy(policy)
    assert load_policy(text) == policy
    assert "end: null" in text
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    assert load_policy(path) == policy


def test_stored_json_validates(policy: PolicyDocument) -> None:
    """What the store keeps (model_dump in JSON mode) and what REST bodies carry validates back."""
    assert PolicyDocument.model_validate(policy.model_dump(mode="json")) == policy


def test_subject_accepts_stored_sector_string() -> None:
    subject = Subject.model_validate({"org_id": "o", "org_name": "n", "sector": "research"})
    assert subject.sector is Sector.RESEARCH


_RULE = """
name: p
rules:
  - id: r
    effect: allow
    capabilities: [face.detect]
    sectors: ["*"]
    reason: because
"""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name: p\nrules: [", "not valid YAML"),
        (_RULE + "    colour: blue\n", "colour"),  # unknown key
        (_RULE.replace("face.detect", "face.guess"), "capabilities"),
        (_RULE.replace('["*"]', "[police]"), "sectors"),
        (
            _RULE
            + "  - id: r\n    effect: deny\n    capabilities: ['*']\n    sectors: ['*']\n    reason: x\n",
            "duplicate",
        ),
        (_RULE + "    effect: deny\n", "duplicate keys"),  # PyYAML would keep the last silently
        (_RULE + "    obligations: {similarity_floor: '99'}\n", "similarity_floor"),
        (_RULE + "    obligations: {case_required: 'yes'}\n", "case_required"),
        (_RULE + "    obligations: {reviewers: 3}\n", "reviewers"),
        (_RULE + "    obligations: {purposes: [protest_monitoring]}\n", "prohibited"),
        (_RULE + "    periods: [{start: 2020-06-10T00:00:00}]\n", "timezone"),  # naive time
        (_RULE + "    periods: [{start: 1591747200}]\n", "ISO 8601"),
        (_RULE + "    periods: [{start: '2021-01-01T00:00:00Z', end: '2020-01-01T00:00:00Z'}]\n", "before"),
        (
            _RULE + "    periods: [{start: '2020-01-01T00:00:00Z'}, {start: '2021-01-01T00:00:00Z'}]\n",
            "overlap",
        ),
        (_RULE.replace("effect: allow", "effect: deny") + "    obligations: {reviewers: 1}\n", "deny rule"),
        (_RULE.replace("effect: allow", "kind: moratorium\n    effect: deny"), "moratorium"),
        (_RULE.replace("reason: because", "reason: ''"), "reason"),
    ],
)
def test_invalid_policies_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidParameterError, match=fragment) as err:
        load_policy(text)
    assert err.value.code == "InvalidParameter"


def test_decide_needs_aware_time(policy: PolicyDocument) -> None:
    with pytest.raises(InvalidParameterError, match="timezone"):
        decide(policy, 1, POLICE, Capability.FACE_SEARCH, datetime(2026, 1, 1))


def test_unknown_rule_lookup(policy: PolicyDocument) -> None:
    with pytest.raises(NotFoundError) as err:
        policy.rule("nope")
    assert err.value.code == "NotFound"
    assert PolicyConflictError("x").code == "PolicyConflict"
