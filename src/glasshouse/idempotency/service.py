"""Replay or run: the same token with the same parameters returns the stored answer; with different
parameters it is refused. Records expire after 24 hours (AWS keeps tokens for a comparable window)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.db import transaction, utcnow
from glasshouse.errors import GlasshouseError
from glasshouse.idempotency.models import IdempotencyRecord

TOKEN_LIFETIME = timedelta(hours=24)


class IdempotentParameterMismatchError(GlasshouseError):
    code = "IdempotentParameterMismatch"


def request_digest(params: Mapping[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def run(
        self,
        org_id: str,
        operation: str,
        token: str | None,
        params: Mapping[str, Any],
        action: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run ``action`` once per (org, operation, token); replay its stored answer afterwards."""
        if token is None:
            return action()
        digest = request_digest({k: v for k, v in params.items() if k != "ClientRequestToken"})
        stored = self._find(org_id, operation, token)
        if stored is not None:
            if stored.request_digest != digest:
                raise IdempotentParameterMismatchError(
                    "ClientRequestToken was already used with different parameters"
                )
            return dict(stored.response)
        response = action()
        try:
            with transaction(self.sessions) as session:
                session.execute(
                    delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - TOKEN_LIFETIME)
                )
                session.add(
                    IdempotencyRecord(
                        org_id=org_id,
                        operation=operation,
                        token=token,
                        request_digest=digest,
                        response=response,
                    )
                )
        except IntegrityError:
            pass  # a concurrent duplicate stored the same answer first
        return response

    def _find(self, org_id: str, operation: str, token: str) -> IdempotencyRecord | None:
        with self.sessions() as session:
            record = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.org_id == org_id,
                    IdempotencyRecord.operation == operation,
                    IdempotencyRecord.token == token,
                )
            )
        if (
            record is not None
            and record.created_at.replace(tzinfo=utcnow().tzinfo) < utcnow() - TOKEN_LIFETIME
        ):
            return None
        return record
