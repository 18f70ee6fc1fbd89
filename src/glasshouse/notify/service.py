"""Rekognition's ``NotificationChannel`` for video jobs, delivered to webhooks that operators configure.

An operator maps an organisation's SNS topic ARN to an HTTPS (or HTTP) URL (``glasshouse notify add``);
a Start operation naming an ARN with no target is refused with InvalidParameterException, never dropped.
When the job finishes, the transaction that records its status also writes the notification (the
outbox), so it survives a restart; the job runners' periodic sweep posts it, as SNS posts to an HTTP
subscriber: the SNS envelope (``Type``, ``MessageId``, ``TopicArn``, ``Message``, ``Timestamp``) whose
``Message`` is Rekognition's JSON (``JobId``, ``Status``, ``API``, ``JobTag``, ``Timestamp``, ``Video``).
Each post is signed with the target's secret: ``X-Glasshouse-Signature: t=<unix time>,v1=<hex
HMAC-SHA256(secret, "<t>." + body)>``. A failed post (no 2xx within the timeout) is retried with
exponential backoff up to ``notify_max_attempts`` times; the same body (same MessageId) every time.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import db
from glasshouse.audit.service import AuditLog
from glasshouse.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.jobs.models import Job
from glasshouse.keys.crypto import SecretBox
from glasshouse.notify.models import MAX_URL_LENGTH, Notification, NotificationTarget

log = logging.getLogger("glasshouse.notify")

#: AWS's pattern for NotificationChannel.SNSTopicArn.
TOPIC_ARN: Final = re.compile(r"^arn:aws:sns:[^:]*:\w{12}:[^:]+$")
SIGNATURE_HEADER: Final = "X-Glasshouse-Signature"
POST_TIMEOUT_SECONDS: Final = 10.0
#: A claimed delivery is not retried by another sweeper for this long (it is being posted).
CLAIM_SECONDS: Final = 60.0
MAX_BACKOFF_SECONDS: Final = 3600.0


@dataclass(frozen=True)
class TargetInfo:
    org_id: str
    topic_arn: str
    url: str
    created_at: datetime

    def view(self) -> dict[str, Any]:
        return {"topic_arn": self.topic_arn, "url": self.url, "created_at": self.created_at.isoformat()}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Glasshouse-Signature`` value for ``body`` sent at ``timestamp`` (what a receiver recomputes)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _iso(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError("a notification target is an http:// or https:// URL")
    return url


class NotificationService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        box: SecretBox,
        audit: AuditLog,
        *,
        max_attempts: int,
        backoff_seconds: float,
        clock: Callable[[], datetime] = db.utcnow,
        post: Callable[[str, bytes, dict[str, str]], int] | None = None,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.audit = audit
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.clock = clock
        self._post = post or _post

    # -- targets (operators) -----------------------------------------------------------------------------
    def add(self, by: Actor, org_id: str, topic_arn: str, url: str) -> tuple[TargetInfo, str]:
        """Deliver ``org_id``'s notifications for ``topic_arn`` to ``url``; returns the target and its
        signing secret (shown once; stored sealed with the server key)."""
        if not TOPIC_ARN.match(topic_arn) or len(topic_arn) > 1024:
            raise InvalidParameterError("an SNS topic ARN looks like arn:aws:sns:REGION:123456789012:NAME")
        _check_url(url)
        secret = secrets.token_urlsafe(32)
        target_id = db.new_id()
        try:
            with db.transaction(self.sessions) as session:
                row = NotificationTarget(
                    id=target_id,
                    org_id=org_id,
                    topic_arn=topic_arn,
                    url=url,
                    secret_sealed=self.box.seal(secret, context=f"notify:{target_id}"),
                    created_at=self.clock(),
                )
                session.add(row)
                session.flush()
                details = {"org_id": org_id, "topic_arn": topic_arn, "url": url}
                self.audit.append(session, change_event(by, "notify.target.add", details))
                info = TargetInfo(org_id, topic_arn, url, row.created_at)
        except IntegrityError:
            raise AlreadyExistsError(f"a notification target for {topic_arn} already exists") from None
        return info, secret

    def list(self, org_id: str | None = None) -> builtins.list[TargetInfo]:
        query = select(NotificationTarget).order_by(NotificationTarget.org_id, NotificationTarget.topic_arn)
        if org_id is not None:
            query = query.where(NotificationTarget.org_id == org_id)
        with self.sessions() as session:
            return [TargetInfo(r.org_id, r.topic_arn, r.url, r.created_at) for r in session.scalars(query)]

    def remove(self, by: Actor, org_id: str, topic_arn: str) -> None:
        """Stop delivering for ``topic_arn``; undelivered notifications for it fail ("target removed")."""
        with db.transaction(self.sessions) as session:
            row = self._target(session, org_id, topic_arn)
            if row is None:
                raise NotFoundError(f"no notification target for {topic_arn}")
            session.delete(row)
            session.flush()
            details = {"org_id": org_id, "topic_arn": topic_arn}
            self.audit.append(session, change_event(by, "notify.target.remove", details))

    @staticmethod
    def _target(session: Session, org_id: str, topic_arn: str) -> NotificationTarget | None:
        query = select(NotificationTarget).where(
            NotificationTarget.org_id == org_id, NotificationTarget.topic_arn == topic_arn
        )
        return session.scalar(query)

    def require_target(self, org_id: str, topic_arn: str) -> None:
        """Refuse a NotificationChannel nobody would receive (AWS: Rekognition cannot publish to it)."""
        with self.sessions() as session:
            if self._target(session, org_id, topic_arn) is None:
                raise InvalidParameterError(
                    f"Unable to publish to SNS topic {topic_arn}: no notification target is configured "
                    "for it in Glasshouse (an operator adds one with `glasshouse notify add`)."
                )

    # -- the outbox -------------------------------------------------------------------------------------
    def job_finished(self, session: Session, job: Job) -> None:
        """Called in the transaction that finishes ``job``: queue its notification, if it asked for one."""
        channel = (job.params or {}).get("notification_channel")
        if not channel:
            return
        arn = str(channel["SNSTopicArn"])
        target = self._target(session, job.org_id, arn)
        finished = job.finished_at or self.clock()
        s3 = job.params.get("s3_object") or {}
        message: dict[str, Any] = {
            "JobId": job.id,
            "Status": job.status,
            "API": channel.get("API", ""),
            "Timestamp": int(finished.replace(tzinfo=finished.tzinfo or UTC).timestamp() * 1000),
            "Video": {"S3ObjectName": s3.get("Name", ""), "S3Bucket": s3.get("Bucket", "")},
        }
        if job.job_tag:
            message["JobTag"] = job.job_tag
        envelope = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": arn,
            "Message": json.dumps(message, separators=(",", ":")),
            "Timestamp": _iso(self.clock()),
        }
        session.add(
            Notification(
                org_id=job.org_id,
                target_id=target.id if target is not None else None,
                job_id=job.id,
                topic_arn=arn,
                body=json.dumps(envelope, separators=(",", ":")),
                attempts=0,
                next_attempt_at=self.clock(),
                created_at=self.clock(),
            )
        )

    def deliver_due(self, limit: int = 20) -> int:
        """Post due notifications (each claimed first, so several sweepers never post one twice at once);
        how many were delivered."""
        now = self.clock()
        due = (
            Notification.delivered_at.is_(None)
            & Notification.failed_at.is_(None)
            & (Notification.next_attempt_at <= now)
        )
        with self.sessions() as session:
            ids = list(
                session.scalars(
                    select(Notification.id).where(due).order_by(Notification.next_attempt_at).limit(limit)
                )
            )
        delivered = 0
        for notification_id in ids:
            claim = (
                update(Notification)
                .where(Notification.id == notification_id, due)
                .values(
                    attempts=Notification.attempts + 1, next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)
                )
                .execution_options(synchronize_session=False)
            )
            with db.transaction(self.sessions) as session:
                if cast(CursorResult[Any], session.execute(claim)).rowcount != 1:
                    continue
            delivered += self._attempt(notification_id)
        return delivered

    def _attempt(self, notification_id: str) -> int:
        with self.sessions() as session:
            row = session.get(Notification, notification_id)
            assert row is not None
            target = session.get(NotificationTarget, row.target_id) if row.target_id else None
            body, attempts, arn = row.body.encode(), row.attempts, row.topic_arn
            message_id = json.loads(row.body)["MessageId"]
            url = target.url if target is not None else None
            secret = self.box.open(target.secret_sealed, context=f"notify:{target.id}") if target else None
        error: str | None = None
        if url is None or secret is None:
            error, attempts = (
                "no notification target is configured for this topic any more",
                self.max_attempts,
            )
        else:
            stamp = int(time.time())
            headers = {
                "Content-Type": "text/plain; charset=UTF-8",
                "x-amz-sns-message-type": "Notification",
                "x-amz-sns-message-id": message_id,
                "x-amz-sns-topic-arn": arn,
                SIGNATURE_HEADER: sign(secret, stamp, body),
                "User-Agent": "Glasshouse-Notification-Agent",
            }
            try:
                status = self._post(url, body, headers)
                if not 200 <= status < 300:
                    error = f"the target answered HTTP {status}"
            except Exception as exc:  # unreachable, refused, timed out: retried
                error = f"{type(exc).__name__}: {exc}"[:500]
        now = self.clock()
        values: dict[str, Any]
        if error is None:
            values = {"delivered_at": now, "last_error": None}
        elif attempts >= self.max_attempts:
            values = {"failed_at": now, "last_error": error}
            log.warning("notification %s given up after %d attempts: %s", notification_id, attempts, error)
        else:
            wait = min(self.backoff_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
            values = {"next_attempt_at": now + timedelta(seconds=wait), "last_error": error}
        with db.transaction(self.sessions) as session:
            session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return 1 if error is None else 0


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    response = httpx.post(
        url, content=body, headers=headers, timeout=POST_TIMEOUT_SECONDS, follow_redirects=False
    )
    return response.status_code
