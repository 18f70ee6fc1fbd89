"""Public transparency reports: what organisations did through Glasshouse, counted from the audit log.

A report names organisations (public actors), sectors, capabilities and policy rules, and holds counts
only: never a person, an access key, a purpose, a case number or anything else an entry's details hold.
It is computed by one ``GROUP BY`` query per period bucket (portable SQL, memory bounded by the number
of distinct organisation × action × rule groups, not by the size of the log).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast, get_args

from sqlalchemy import ColumnElement, Table, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.audit.models import AuditEntry
from glasshouse.audit.service import AuditLog
from glasshouse.db import utcnow
from glasshouse.errors import InvalidParameterError
from glasshouse.governance.policy import PolicyDocument, Sector
from glasshouse.governance.store import PolicyStore
from glasshouse.organisations.models import Organisation

__all__ = [
    "MAX_BUCKETS",
    "SECTORS",
    "UNKNOWN_SECTOR",
    "Bucket",
    "Figures",
    "OrgFigures",
    "Period",
    "Report",
    "TransparencyService",
    "explain_rule",
]

Period = Literal["month", "quarter", "year"]
PERIODS: Final[tuple[str, ...]] = get_args(Period)
UNKNOWN_SECTOR: Final = "unknown"
#: Sectors a report can be filtered by: the policy's, and ``unknown`` (no organisation row).
SECTORS: Final[tuple[str, ...]] = (*(s.value for s in Sector), UNKNOWN_SECTOR)
#: Denials recorded without a rule: nothing in the policy allowed the call.
NO_RULE: Final = "no-rule-allows"
#: Most buckets one report may hold (50 years of months): bounds the work one public request causes.
MAX_BUCKETS: Final = 600

REVIEW_CONFIRM: Final = "review.confirm"
REVIEW_REJECT: Final = "review.reject"
POLICY_CHANGE: Final = "policy.change"
FOOTAGE_REQUEST: Final = "footage.request"
FOOTAGE_SHARE: Final = "footage.share"
EMERGENCY_DISCLOSURE: Final = "footage.emergency_disclosure"
#: One entry per clip handed to an agency (consent or emergency): with faces redacted, or as recorded.
SHARE_REDACTED: Final = "footage.share_redacted"
SHARE_UNREDACTED: Final = "footage.share_unredacted"
#: Agencies' requests for the original of a clip shared redacted, and the owners' answers.
UNREDACTION_REQUEST: Final = "footage.unredaction_request"
UNREDACTION_ACCEPT: Final = "footage.unredaction_accept"
UNREDACTION_REFUSE: Final = "footage.unredaction_refuse"
#: Recorded (non-gate) actions a report counts, by the figure they feed.
_RECORDED: Final = {
    REVIEW_CONFIRM: "reviews_confirmed",
    REVIEW_REJECT: "reviews_rejected",
    POLICY_CHANGE: "policy_changes",
    EMERGENCY_DISCLOSURE: "emergency_disclosures",
    SHARE_REDACTED: "redacted_shares",
    SHARE_UNREDACTED: "unredacted_shares",
    UNREDACTION_REQUEST: "unredaction_requests",
    UNREDACTION_ACCEPT: "unredactions_accepted",
    UNREDACTION_REFUSE: "unredactions_refused",
}
#: Footage actions are also capabilities: an allowed (or recorded) one is a request or share.
_FOOTAGE: Final = {FOOTAGE_REQUEST: "footage_requests", FOOTAGE_SHARE: "footage_shares"}
#: The scalar figures, in output order.
SCALARS: Final[tuple[str, ...]] = (
    "reviews_confirmed",
    "reviews_rejected",
    "footage_requests",
    "footage_shares",
    "emergency_disclosures",
    "policy_changes",
    "redacted_shares",
    "unredacted_shares",
    "unredaction_requests",
    "unredactions_accepted",
    "unredactions_refused",
)

_entries = cast(Table, AuditEntry.__table__)
_orgs = cast(Table, Organisation.__table__)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- figures ------------------------------------------------------------------------------------------


def _bump(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


@dataclass
class Figures:
    """Counts for one scope (an organisation in a bucket, a bucket, or the whole report)."""

    #: Allowed calls, by capability.
    calls: dict[str, int] = field(default_factory=dict)
    #: Refused calls, by the rule that refused them (``no-rule-allows`` when none allowed the call).
    denials: dict[str, int] = field(default_factory=dict)
    #: Refused calls, by capability.
    denied_calls: dict[str, int] = field(default_factory=dict)
    reviews_confirmed: int = 0
    reviews_rejected: int = 0
    footage_requests: int = 0
    footage_shares: int = 0
    emergency_disclosures: int = 0
    policy_changes: int = 0
    #: Clips handed to agencies with faces redacted / as recorded (consent or emergency).
    redacted_shares: int = 0
    unredacted_shares: int = 0
    unredaction_requests: int = 0
    unredactions_accepted: int = 0
    unredactions_refused: int = 0

    def count(self, action: str, decision: str, rule: str | None, n: int) -> None:
        """Add ``n`` audit entries of one (action, decision, rule) group."""
        if decision == "deny":
            _bump(self.denials, rule or NO_RULE, n)
            _bump(self.denied_calls, action, n)
            return
        if decision == "allow":
            _bump(self.calls, action, n)
        scalar = _FOOTAGE.get(action) or (_RECORDED.get(action) if decision == "record" else None)
        if scalar is not None:
            setattr(self, scalar, getattr(self, scalar) + n)

    def add(self, other: Figures) -> None:
        for mine, theirs in (
            (self.calls, other.calls),
            (self.denials, other.denials),
            (self.denied_calls, other.denied_calls),
        ):
            for key, n in theirs.items():
                _bump(mine, key, n)
        for name in SCALARS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_denials(self) -> int:
        return sum(self.denials.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self.calls.items())),
            "denials": dict(sorted(self.denials.items())),
            "denied_calls": dict(sorted(self.denied_calls.items())),
            **{name: getattr(self, name) for name in SCALARS},
        }

    def metrics(self) -> Iterable[tuple[str, str, int]]:
        """(metric, key, count) triples: one per capability or rule, and every scalar (zeros included)."""
        for metric, counts in (
            ("calls", self.calls),
            ("denials", self.denials),
            ("denied_calls", self.denied_calls),
        ):
            for key, n in sorted(counts.items()):
                yield metric, key, n
        for name in SCALARS:
            yield name, "", getattr(self, name)


@dataclass
class OrgFigures:
    organisation: str
    sector: str
    figures: Figures = field(default_factory=Figures)


@dataclass(frozen=True)
class Bucket:
    """One period of the report; ``start``/``end`` are the counted range (the calendar period clipped to
    the report's own range), ``end`` exclusive."""

    label: str
    start: datetime
    end: datetime


@dataclass
class BucketFigures:
    bucket: Bucket
    organisations: list[OrgFigures]

    @property
    def totals(self) -> Figures:
        out = Figures()
        for org in self.organisations:
            out.add(org.figures)
        return out


# -- periods ------------------------------------------------------------------------------------------


def _floor(moment: datetime, period: Period) -> datetime:
    month = {"month": moment.month, "quarter": (moment.month - 1) // 3 * 3 + 1, "year": 1}[period]
    return datetime(moment.year, month, 1, tzinfo=UTC)


def _next(start: datetime, period: Period) -> datetime:
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    index = start.year * 12 + start.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _label(start: datetime, period: Period) -> str:
    if period == "year":
        return f"{start.year}"
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def buckets(period: Period, since: datetime, until: datetime) -> list[Bucket]:
    """Calendar periods (UTC) covering [since, until), each clipped to that range."""
    if period not in PERIODS:
        raise InvalidParameterError(f"period must be one of {', '.join(PERIODS)}")
    out: list[Bucket] = []
    start = _floor(since, period)
    while start < until:
        end = _next(start, period)
        if len(out) == MAX_BUCKETS:
            raise InvalidParameterError(
                f"the range holds more than {MAX_BUCKETS} {period}s: choose a longer period or a shorter range"
            )
        out.append(Bucket(_label(start, period), max(start, since), min(end, until)))
        start = end
    return out


# -- explanations -------------------------------------------------------------------------------------


def _sectors(sectors: Iterable[str]) -> str:
    names = [s.replace("_", "-") for s in sectors]
    return "all" if "*" in names else " and ".join(names)


def explain_rule(rule_id: str, document: PolicyDocument | None, *, portal: bool = False) -> str:
    """What a denial under ``rule_id`` means, in a sentence for the public. ``portal``: the community camera
    portal refused a footage request under one of its own rules (``glasshouse.portal.rules``), which every
    request must keep whatever the policy says."""
    if rule_id == NO_RULE:
        return "calls that no rule of the policy allows for the organisation's sector"
    rule = next((r for r in document.rules if r.id == rule_id), None) if document else None
    if rule is None and portal:
        return (
            f"footage requests refused under the camera portal's rule {rule_id}: one of the limits every "
            "footage request must keep (a bounded area and time window, a case number, a description)"
        )
    if rule is None:
        return f"calls refused by rule {rule_id}, which is not part of the active policy"
    sectors = _sectors(str(s) for s in rule.sectors)
    if rule.kind == "moratorium":
        return f"calls by {sectors} organisations that the moratorium stopped"
    if rule.effect == "deny":
        return f"calls by {sectors} organisations that this rule refuses"
    # The gate records an unmet obligation under the first rule that allows the call.
    return (
        "calls that this rule allows, refused because a safeguard the policy attaches to them "
        "(a stated purpose, a case number or a warrant) was missing or not permitted"
    )


# -- the report ---------------------------------------------------------------------------------------


@dataclass
class Report:
    period: Period
    since: datetime | None
    until: datetime | None
    sector: str | None
    organisation: str | None
    generated_at: datetime
    periods: list[BucketFigures]
    #: Explanation of every rule that appears in a denial count.
    rules: dict[str, str]

    @property
    def totals(self) -> Figures:
        out = Figures()
        for bucket in self.periods:
            out.add(bucket.totals)
        return out

    def to_json(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "period": self.period,
            "since": iso(self.since),
            "until": iso(self.until),
            "sector": self.sector,
            "organisation": self.organisation,
            "generated_at": iso(self.generated_at),
            "rules": self.rules,
            "totals": self.totals.to_json(),
            "periods": [
                {
                    "label": b.bucket.label,
                    "start": iso(b.bucket.start),
                    "end": iso(b.bucket.end),
                    "totals": b.totals.to_json(),
                    "organisations": [
                        {"organisation": o.organisation, "sector": o.sector, **o.figures.to_json()}
                        for o in b.organisations
                    ],
                }
                for b in self.periods
            ],
        }

    def to_csv(self) -> str:
        """One row per bucket × organisation × metric (× capability or rule for the counted ones)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for b in self.periods:
            for o in b.organisations:
                for metric, key, n in o.figures.metrics():
                    row = [self.period, b.bucket.label, b.bucket.start.isoformat(), b.bucket.end.isoformat()]
                    writer.writerow([*row, _cell(o.sector), _cell(o.organisation), metric, _cell(key), n])
        return out.getvalue()


CSV_HEADER: Final = (
    "period",
    "bucket",
    "bucket_start",
    "bucket_end",
    "sector",
    "organisation",
    "metric",
    "key",
    "count",
)


def _cell(text: str) -> str:
    """Defuse spreadsheet formulas in a text cell."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class TransparencyService:
    """Reports over the audit log. Read-only: it never writes, and reads only the columns it counts."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        *,
        policies: PolicyStore | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.audit = audit  # the log whose table is read; kept for symmetry with the other services
        self.policies = policies
        self.clock = clock

    def organisations(self) -> list[tuple[str, str]]:
        """(name, sector) of every organisation, for filter forms."""
        with self.sessions() as session:
            rows = session.execute(select(_orgs.c.name, _orgs.c.sector).order_by(_orgs.c.name)).all()
        return [(str(name), str(sector)) for name, sector in rows]

    def report(
        self,
        period: Period = "month",
        since: datetime | None = None,
        until: datetime | None = None,
        sector: str | None = None,
        org: str | None = None,
    ) -> Report:
        """Counts per ``period`` bucket and organisation over [since, until) (UTC; open ends: the start of
        the first entry's period, and now), optionally for one sector and/or organisation (by name)."""
        if period not in PERIODS:
            raise InvalidParameterError(f"period must be one of {', '.join(PERIODS)}")
        if sector is not None and sector not in SECTORS:
            raise InvalidParameterError(f"sector must be one of {', '.join(SECTORS)}")
        since = None if since is None else _utc(since)
        until = None if until is None else _utc(until)
        if since is not None and until is not None and since >= until:
            raise InvalidParameterError("the start of the range must be before its end")
        now = _utc(self.clock())
        scope = self._scope(sector, org)
        with self.sessions() as session:
            first, last = session.execute(
                select(func.min(_entries.c.created_at), func.max(_entries.c.created_at))
                .select_from(_joined())
                .where(*scope, *_range(since, until))
            ).one()
            # Open start: the calendar start of the first entry's period.
            start = since if since is not None else None if first is None else _floor(_utc(first), period)
            if start is None:
                periods: list[BucketFigures] = []
            else:
                end = until if until is not None else max(now, _utc(last) + timedelta(microseconds=1))
                periods = [self._bucket(session, bucket, scope) for bucket in buckets(period, start, end)]
            rule_ids = sorted({rule for b in periods for o in b.organisations for rule in o.figures.denials})
            # Footage requests refused by the portal's own rules (not the policy's), for their wording.
            portal = (
                set(
                    session.scalars(
                        select(_entries.c.rule)
                        .select_from(_joined())
                        .where(
                            *scope,
                            *_range(since, until),
                            _entries.c.action == FOOTAGE_REQUEST,
                            _entries.c.decision == "deny",
                        )
                        .distinct()
                    )
                )
                if rule_ids
                else set()
            )
        # Only when there is something to explain: on an empty database ``active()`` would seed the policy.
        document = self.policies.active()[1] if self.policies is not None and rule_ids else None
        return Report(
            period=period,
            since=since,
            until=until,
            sector=sector,
            organisation=org,
            generated_at=now,
            periods=periods,
            rules={rule: explain_rule(rule, document, portal=rule in portal) for rule in rule_ids},
        )

    @staticmethod
    def _scope(sector: str | None, org: str | None) -> list[ColumnElement[bool]]:
        c = _entries.c
        counted = or_(
            c.decision.in_(("allow", "deny")),
            c.action.in_((*_RECORDED, *_FOOTAGE)),
        )
        out: list[ColumnElement[bool]] = [counted]
        if sector is not None:
            out.append(_sector_column() == sector)
        if org is not None:
            out.append(c.actor_org_name == org)
        return out

    @staticmethod
    def _bucket(session: Session, bucket: Bucket, scope: list[ColumnElement[bool]]) -> BucketFigures:
        c = _entries.c
        sector = _sector_column()
        group = (c.actor_org_name, sector, c.action, c.decision, c.rule)
        rows = session.execute(
            select(*group, func.count())
            .select_from(_joined())
            .where(*scope, *_range(bucket.start, bucket.end))
            .group_by(*group)
        ).all()
        orgs: dict[tuple[str, str], OrgFigures] = {}
        for org_name, org_sector, action, decision, rule, n in rows:
            key = (str(org_name), str(org_sector))
            figures = orgs.setdefault(key, OrgFigures(*key)).figures
            figures.count(str(action), str(decision), rule, int(n))
        return BucketFigures(bucket, [orgs[k] for k in sorted(orgs)])


def _joined() -> Any:
    return _entries.outerjoin(_orgs, _orgs.c.id == _entries.c.actor_org_id)


def _sector_column() -> ColumnElement[str]:
    return func.coalesce(_orgs.c.sector, UNKNOWN_SECTOR)


def _range(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if since is not None:
        out.append(_entries.c.created_at >= since)
    if until is not None:
        out.append(_entries.c.created_at < until)
    return out
