"""What anyone may read without signing in: every request, and each agency's profile."""

from __future__ import annotations

from sqlalchemy import select

from glasshouse.errors import NotFoundError
from glasshouse.governance.policy import Sector
from glasshouse.organisations.models import Organisation
from glasshouse.portal.common import PortalBase, request_not_found
from glasshouse.portal.models import FootageRequest
from glasshouse.portal.views import AgencyProfile, PublicRequestView


class PublicPortal(PortalBase):
    """The public feed and agency profiles."""

    def public_feed(self, limit: int = 200) -> list[PublicRequestView]:
        """Every request, newest first: what, where, when, by whom, and how many owners shared."""
        with self.sessions() as session:
            rows = list(
                session.scalars(
                    select(FootageRequest)
                    .order_by(FootageRequest.created_at.desc(), FootageRequest.id)
                    .limit(max(1, min(limit, 1000)))
                )
            )
            return [PublicRequestView.of(v) for v in self._views(session, rows)]

    def public_request(self, request_id: str) -> PublicRequestView:
        with self.sessions() as session:
            row = session.get(FootageRequest, request_id)
            if row is None:
                raise request_not_found(request_id)
            return PublicRequestView.of(self._views(session, [row])[0])

    def agency_profile(self, org_name: str) -> AgencyProfile:
        """A law-enforcement organisation and all its requests (public)."""
        with self.sessions() as session:
            org = session.scalar(select(Organisation).where(Organisation.name == org_name))
            if org is None or org.sector != Sector.LAW_ENFORCEMENT.value:
                raise NotFoundError(f"agency {org_name!r} not found")
            rows = list(
                session.scalars(
                    select(FootageRequest)
                    .where(FootageRequest.agency_org_id == org.id)
                    .order_by(FootageRequest.created_at.desc(), FootageRequest.id)
                )
            )
            views = tuple(PublicRequestView.of(v) for v in self._views(session, rows))
            return AgencyProfile(org.name, org.jurisdiction, org.verified, views)

    def agencies(self) -> list[str]:
        """Names of law-enforcement organisations that have filed requests (for a public index)."""
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(Organisation.name)
                    .join(FootageRequest, FootageRequest.agency_org_id == Organisation.id)
                    .distinct()
                    .order_by(Organisation.name)
                )
            )
