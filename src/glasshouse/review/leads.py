"""The human-review obligation, applied the same way on every surface."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from glasshouse.db import transaction
from glasshouse.governance.gate import Grant
from glasshouse.review.service import ReviewService


def record_results(
    sessions: sessionmaker[Session],
    reviews: ReviewService,
    grant: Grant,
    *,
    collection_id: str | None,
    probe: str,
    candidates: Sequence[tuple[str, str | None, float]],
) -> str | None:
    """Note a search's results on its grant; where the policy requires human review, record them as a
    lead awaiting it (with the audit entry, in one commit) and return the lead's id."""
    grant.note(matches=len(candidates), top_similarity=round(max((c[2] for c in candidates), default=0.0), 2))
    if grant.reviewers_required == 0 or not candidates:
        return None
    with transaction(sessions) as session:
        lead_id = reviews.create(
            session,
            grant.actor,
            capability=grant.capability,
            purpose=grant.request.purpose,
            case_number=grant.request.case_number,
            collection_id=collection_id,
            probe_digest=probe,
            reviewers_required=grant.reviewers_required,
            policy_version=grant.decision.policy_version,
            candidates=candidates,
        )
        grant.note(lead_id=lead_id)
    return lead_id
