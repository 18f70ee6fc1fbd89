"""The human-review obligation, applied the same way on every surface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from glasshouse.collections.service import CollectionService, ImageSearch
from glasshouse.db import transaction
from glasshouse.engine.quality import QualityFilter
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


@dataclass(frozen=True, slots=True)
class GovernedSearch:
    """A collection search under a grant: the threshold actually used (never below the policy's floor),
    the results (at most the policy's cap), and the lead they became where review is required."""

    result: ImageSearch
    threshold: float
    lead_id: str | None


def search_collection(
    collections: CollectionService,
    reviews: ReviewService,
    grant: Grant,
    collection: str,
    data: bytes,
    *,
    threshold: float,
    max_faces: int,
    quality_filter: QualityFilter = QualityFilter.NONE,
    region: str | None = None,
) -> GovernedSearch:
    """SearchFacesByImage with the grant's obligations applied, the same on every surface."""
    used = grant.similarity_at_least(threshold)
    result = collections.search_by_image(
        grant.actor.org_id,
        collection,
        data,
        threshold=used,
        max_faces=grant.at_most(max_faces),
        quality_filter=quality_filter,
        region=region,
    )
    lead_id = record_results(
        collections.sessions,
        reviews,
        grant,
        collection_id=result.matches[0].face.collection_id if result.matches else None,
        probe=f"sha256:{result.image.sha256}",
        candidates=[(m.face.id, m.face.external_image_id, m.similarity) for m in result.matches],
    )
    return GovernedSearch(result, used, lead_id)
