"""Policy vocabulary and documents: what may be done, by whom, when, and under which obligations.

Documents are immutable pydantic models with unknown keys refused and strict scalars (no "yes" for true, no
"99" for 99). Enums and times accept their JSON spelling (``"face.search"``, an ISO time with a zone), so the
same models validate YAML, stored JSON and REST bodies. YAML timestamps stay strings until pydantic parses
them, so a naive or malformed date is an error, not a guess. Moratorium operations return a new document
with a history note; they never mutate one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Self

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from glasshouse.errors import GlasshouseError, InvalidParameterError, NotFoundError
from glasshouse.people.models import ROLES


class PolicyConflictError(GlasshouseError):
    """A policy change that contradicts the document's current state (e.g. lifting a lifted moratorium)."""

    code = "PolicyConflict"


class Capability(StrEnum):
    FACE_DETECT = "face.detect"
    FACE_COMPARE = "face.compare"
    FACE_INDEX = "face.index"
    FACE_SEARCH = "face.search"
    USER_SEARCH = "user.search"
    VIDEO_FACE_DETECTION = "video.face_detection"
    VIDEO_FACE_SEARCH = "video.face_search"
    FOOTAGE_REQUEST = "footage.request"
    FOOTAGE_SHARE = "footage.share"
    #: Running the independent testing API (aggregate accuracy figures on the caller's own pairs).
    TESTING_RUN = "testing.run"
    #: Covering faces in a copy of an image or video (redaction for release).
    MEDIA_REDACT = "media.redact"


class Sector(StrEnum):
    LAW_ENFORCEMENT = "law_enforcement"
    OTHER_GOVERNMENT = "other_government"
    COMMERCIAL = "commercial"
    NONPROFIT = "nonprofit"
    RESEARCH = "research"


class Purpose(NamedTuple):
    code: str
    description: str


#: Purposes a caller may declare. A purpose outside this list is refused as unknown.
PURPOSES: tuple[Purpose, ...] = (
    Purpose(
        "child_exploitation_investigation", "Identifying victims or offenders in child sexual abuse material."
    ),
    Purpose("human_trafficking_investigation", "Finding and rescuing victims of human trafficking."),
    Purpose("missing_person", "Locating a specific person reported missing."),
    Purpose("criminal_investigation", "A specific, open criminal case with a case number."),
    Purpose("identity_verification", "Confirming that a person is who they claim to be, with their consent."),
    Purpose("access_control", "Admitting enrolled, consenting people to a building or system."),
    Purpose("fraud_prevention", "Detecting reuse of one face across accounts or identity documents."),
    Purpose("research_evaluation", "Measuring accuracy and bias of the system on consented data."),
    Purpose("photo_organisation", "Grouping a user's own photos by the people in them."),
)

#: Purposes refused always, whatever the rules say: identifying people for exercising rights or for who they
#: are. immigration_status is included because matching faces to find people by status has no case, warrant
#: or review behind it and is the use most often cited against police face recognition.
PROHIBITED_PURPOSES: tuple[Purpose, ...] = (
    Purpose("protest_monitoring", "Identifying people taking part in lawful protest or assembly."),
    Purpose("religious_activity", "Identifying people attending or practising a religion."),
    Purpose("political_activity", "Identifying people for their political opinions, membership or activity."),
    Purpose(
        "immigration_status", "Identifying people in order to establish or act on their immigration status."
    ),
    Purpose("mass_surveillance", "Untargeted identification of everyone passing a camera."),
)

PURPOSE_CODES: frozenset[str] = frozenset(p.code for p in PURPOSES)
PROHIBITED_PURPOSE_CODES: frozenset[str] = frozenset(p.code for p in PROHIBITED_PURPOSES)


def _no_numbers(value: object) -> object:
    if isinstance(value, int | float):
        raise ValueError("a time must be an ISO 8601 string with a zone, not a number")
    return value


#: A timezone-aware instant; epoch numbers are refused (too easy to get wrong in a policy file).
Instant = Annotated[AwareDatetime, BeforeValidator(_no_numbers)]
Slug = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Name = Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=128)]
Text = Annotated[StrictStr, Field(min_length=1)]
Wildcard = Literal["*"]

_MODEL = ConfigDict(extra="forbid", frozen=True)


def require_aware(at: datetime, name: str = "at") -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidParameterError(f"{name} must be timezone-aware, got {at.isoformat()}")


class Period(BaseModel):
    """Half-open [start, end); end None means until further notice. start == end is an empty period
    (a moratorium lifted the moment it began), kept for the record."""

    model_config = _MODEL

    start: Instant
    end: Instant | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end is not None and self.end < self.start:
            raise ValueError(
                f"period ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})"
            )
        return self

    def contains(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


def _max_opt(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _min_opt(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


class Obligations(BaseModel):
    """What an allowed operation must satisfy. ``purposes``, when set, requires a purpose from that list."""

    model_config = _MODEL

    purpose_required: StrictBool = False
    case_required: StrictBool = False
    similarity_floor: StrictFloat | None = Field(default=None, ge=0, le=100)
    max_candidates: StrictInt | None = Field(default=None, ge=1)
    reviewers: StrictInt = Field(default=0, ge=0, le=2)
    warrant_required: StrictBool = False
    purposes: list[StrictStr] | None = None
    #: Only a face model whose card shows at least this true-accept rate at a false-match rate of 1e-6
    #: (fraction, 0–1) may be used: e.g. 0.75 keeps police search off models for which the 99 floor is a
    #: silent "never matches" (dlib's card: 0.283). Checked against the searched collection's model.
    min_model_tar_at_fmr_1e_6: StrictFloat | None = Field(default=None, ge=0, le=1)

    @field_validator("purposes")
    @classmethod
    def _known_purposes(cls, purposes: list[str] | None) -> list[str] | None:
        if purposes is None:
            return None
        unknown = sorted(set(purposes) - PURPOSE_CODES)
        if unknown:
            raise ValueError(f"unknown or prohibited purposes: {', '.join(unknown)}")
        return sorted(set(purposes))  # canonical form, so that merge is commutative

    def merge(self, other: Obligations) -> Obligations:
        """The most restrictive combination; commutative, associative, with Obligations() as identity."""
        if self.purposes is None or other.purposes is None:
            purposes = other.purposes if self.purposes is None else self.purposes
        else:
            purposes = sorted(set(self.purposes) & set(other.purposes))
        return Obligations(
            purpose_required=self.purpose_required or other.purpose_required,
            case_required=self.case_required or other.case_required,
            similarity_floor=_max_opt(self.similarity_floor, other.similarity_floor),
            max_candidates=_min_opt(self.max_candidates, other.max_candidates),
            reviewers=max(self.reviewers, other.reviewers),
            warrant_required=self.warrant_required or other.warrant_required,
            purposes=None if purposes is None else list(purposes),
            min_model_tar_at_fmr_1e_6=_max_opt(
                self.min_model_tar_at_fmr_1e_6, other.min_model_tar_at_fmr_1e_6
            ),
        )


class HistoryNote(BaseModel):
    """Who changed a rule, when, and why: published with the policy for transparency."""

    model_config = _MODEL

    at: Instant
    by: Text
    note: Text


class Rule(BaseModel):
    model_config = _MODEL

    id: Name
    description: StrictStr = ""
    kind: Literal["rule", "moratorium"] = "rule"
    effect: Literal["allow", "deny"]
    capabilities: list[Capability | Wildcard] = Field(min_length=1)
    sectors: list[Sector | Wildcard] = Field(min_length=1)
    require_flags: list[Slug] = []
    exempt_flags: list[Slug] = []
    require_approvals: list[Slug] = []
    periods: list[Period] = []
    obligations: Obligations | None = None
    reason: Text
    history: list[HistoryNote] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.effect == "deny" and self.obligations is not None:
            raise ValueError(f"rule {self.id!r}: a deny rule cannot carry obligations")
        if self.kind == "moratorium" and (self.effect != "deny" or not self.periods):
            raise ValueError(f"rule {self.id!r}: a moratorium must deny and have at least one period")
        for before, after in zip(self.periods, self.periods[1:], strict=False):
            if before.end is None or before.end > after.start:
                raise ValueError(f"rule {self.id!r}: periods must be in order and must not overlap")
        return self

    def period_at(self, at: datetime) -> Period | None:
        return next((p for p in self.periods if p.contains(at)), None)

    def in_force(self, at: datetime) -> bool:
        """No periods means always in force (ordinary rules only: a moratorium always has periods)."""
        return not self.periods or self.period_at(at) is not None


Role = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z-]*$", max_length=32)]


class Duties(BaseModel):
    """Separation of duties: the roles a *person* must hold for each four-eyes step. Organisation-wide keys
    never qualify, and the people of one action are distinct (the one who asked never approves)."""

    model_config = _MODEL

    #: Confirming or rejecting a candidate of an investigative lead.
    review: list[Role] = Field(default=["reviewer"], min_length=1)
    #: Asking for an emergency disclosure of footage without the owners' consent.
    emergency_request: list[Role] = Field(default=["operator"], min_length=1)
    #: Approving it (a second person, never the one who asked).
    emergency_approval: list[Role] = Field(default=["operator"], min_length=1)

    @field_validator("review", "emergency_request", "emergency_approval")
    @classmethod
    def _known_roles(cls, roles: list[str]) -> list[str]:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles: {', '.join(unknown)}; roles are {', '.join(ROLES)}")
        return sorted(set(roles))


class PolicyDocument(BaseModel):
    model_config = _MODEL

    name: Name
    rules: list[Rule]
    duties: Duties = Duties()

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise NotFoundError(f"policy {self.name!r} has no rule {rule_id!r}")

    def replace_rule(self, rule: Rule) -> PolicyDocument:
        self.rule(rule.id)  # raises NotFoundError
        rules = [rule if r.id == rule.id else r for r in self.rules]
        return PolicyDocument(name=self.name, rules=rules, duties=self.duties)


class _PolicyLoader(yaml.SafeLoader):
    """Safe YAML without implicit timestamps (pydantic parses dates strictly) and with duplicate keys
    refused (PyYAML would silently keep the last one, e.g. of two ``effect:`` lines)."""


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key_node) for key_node, _ in node.value]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    if duplicates:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate keys: {', '.join(duplicates)}", node.start_mark
        )
    return loader.construct_mapping(node)


_PolicyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_policy(source: str | Path) -> PolicyDocument:
    """A policy from YAML text (``str``) or a YAML file (``Path``)."""
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    try:
        data = yaml.load(text, Loader=_PolicyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InvalidParameterError(f"policy is not valid YAML: {exc}") from exc
    return parse_policy(data)


def parse_policy(data: object) -> PolicyDocument:
    """A policy from plain data (parsed YAML, or JSON from the API); :class:`InvalidParameterError` naming
    every problem otherwise. Through JSON, so both sources are held to the same strict types."""
    try:
        payload = json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"policy holds a value that is not plain data: {exc}") from exc
    try:
        return PolicyDocument.model_validate_json(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<document>'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidParameterError(f"invalid policy: {problems}") from exc


def dump_policy(doc: PolicyDocument) -> str:
    """YAML that ``load_policy`` reads back to an equal document."""
    data = doc.model_dump(mode="json", exclude_defaults=True)
    for rule in data["rules"]:
        for period in rule.get("periods", []):
            period.setdefault("end", None)  # say "until further notice" explicitly
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def default_policy_text() -> str:
    """The YAML of the policy shipped with Glasshouse (``default_policy.yaml`` in this package)."""
    return (
        resources.files("glasshouse.governance").joinpath("default_policy.yaml").read_text(encoding="utf-8")
    )


def default_policy() -> PolicyDocument:
    return load_policy(default_policy_text())


# --- moratorium operations -------------------------------------------------------------------------------


def format_time(at: datetime) -> str:
    """``2021-06-10T00:00:00Z``: UTC, as policies and messages print times."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _until(end: datetime | None) -> str:
    return "further notice" if end is None else format_time(end)


def _moratorium(doc: PolicyDocument, rule_id: str) -> Rule:
    rule = doc.rule(rule_id)  # NotFoundError
    if rule.kind != "moratorium":
        raise PolicyConflictError(f"rule {rule_id!r} is not a moratorium")
    return rule


def _current(rule: Rule, at: datetime) -> int:
    for index, period in enumerate(rule.periods):
        if period.contains(at):
            return index
    raise PolicyConflictError(f"moratorium {rule.id!r} is not in force at {format_time(at)}")


def _check_change(at: datetime, end: datetime | None, by: str, why: str) -> None:
    require_aware(at)
    if end is not None:
        require_aware(end, "end")
        if end <= at:
            raise InvalidParameterError(f"end {format_time(end)} is not after {format_time(at)}")
    if not by.strip():
        raise InvalidParameterError("a policy change must name who made it")
    if not why.strip():
        raise InvalidParameterError("a policy change must say why")


def _changed(
    doc: PolicyDocument, rule: Rule, periods: list[Period], at: datetime, by: str, note: str
) -> PolicyDocument:
    history = [*rule.history, HistoryNote(at=at, by=by.strip(), note=note)]
    return doc.replace_rule(Rule(**{**dict(rule), "periods": periods, "history": history}))


def extend(
    doc: PolicyDocument, rule_id: str, end: datetime | None, at: datetime, by: str, why: str
) -> PolicyDocument:
    """Set the end of the moratorium period in force at ``at`` (None: until further notice)."""
    _check_change(at, end, by, why)
    rule = _moratorium(doc, rule_id)
    index = _current(rule, at)
    periods = list(rule.periods)
    if periods[index].end == end:
        raise PolicyConflictError(f"moratorium {rule_id!r} already runs until {_until(end)}")
    following = periods[index + 1] if index + 1 < len(periods) else None
    if following is not None and (end is None or end > following.start):
        raise PolicyConflictError(
            f"extending {rule_id!r} would overlap its period from {format_time(following.start)}"
        )
    periods[index] = Period(start=periods[index].start, end=end)
    return _changed(doc, rule, periods, at, by, f"Extended until {_until(end)}: {why.strip()}")


def lift(doc: PolicyDocument, rule_id: str, at: datetime, by: str, why: str) -> PolicyDocument:
    """End the moratorium period in force at ``at``, at ``at``."""
    _check_change(at, None, by, why)
    rule = _moratorium(doc, rule_id)
    index = _current(rule, at)
    periods = list(rule.periods)
    periods[index] = Period(start=periods[index].start, end=at)
    return _changed(doc, rule, periods, at, by, f"Lifted: {why.strip()}")


def reimpose(
    doc: PolicyDocument, rule_id: str, at: datetime, by: str, why: str, end: datetime | None = None
) -> PolicyDocument:
    """Open a new moratorium period [at, end) (end None: until further notice)."""
    _check_change(at, end, by, why)
    rule = _moratorium(doc, rule_id)
    if rule.period_at(at) is not None:
        raise PolicyConflictError(f"moratorium {rule_id!r} is already in force at {format_time(at)}")
    later = [p for p in rule.periods if p.start > at]
    if later and (end is None or end > later[0].start):
        raise PolicyConflictError(
            f"reimposing {rule_id!r} would overlap its period from {format_time(later[0].start)}"
        )
    periods = sorted([*rule.periods, Period(start=at, end=end)], key=lambda p: p.start)
    return _changed(doc, rule, periods, at, by, f"Reimposed until {_until(end)}: {why.strip()}")
