"""Organisation lookups."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from glasshouse.errors import NotFoundError
from glasshouse.organisations.models import Organisation


def get_by_name(session: Session, name: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise NotFoundError(f"organisation {name!r} not found")
    return org


def get_or_create(session: Session, name: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name)
        session.add(org)
        session.flush()
    return org
