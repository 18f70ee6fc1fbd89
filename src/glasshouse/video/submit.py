"""Starting a video job under a grant: the one path the Rekognition API, REST and the CLI share, so the
obligations granted (threshold floor, candidate cap, reviewers, purpose and case) travel with every job
in the same shape, and the worker applies exactly what the gate decided."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from glasshouse.collections.service import CollectionService
from glasshouse.errors import InvalidParameterError
from glasshouse.governance.gate import Grant
from glasshouse.jobs.service import JobService, JobView
from glasshouse.media.service import MediaInfo, MediaService
from glasshouse.video.jobs import FACE_DETECTION, FACE_SEARCH

#: Most FaceMatches per person returned by a video search (before the policy's own cap).
MAX_VIDEO_MATCHES = 100
VIDEO_KINDS = frozenset({FACE_DETECTION, FACE_SEARCH})


class Services(Protocol):
    """The services a video job's submission uses (the composition root's ``Services`` has them)."""

    @property
    def media(self) -> MediaService: ...
    @property
    def collections(self) -> CollectionService: ...
    @property
    def jobs(self) -> JobService: ...


def obligations(grant: Grant) -> dict[str, Any]:
    """What the worker needs of the grant: review, purpose, case, policy version and who asked."""
    return {
        "reviewers": grant.reviewers_required,
        "purpose": grant.request.purpose,
        "case_number": grant.request.case_number,
        "policy_version": grant.decision.policy_version,
        "org_name": grant.actor.org_name,
        "key_id": grant.actor.key_id,
        "person": grant.actor.person,
    }


def submit_video_job(
    services: Services,
    grant: Grant,
    kind: str,
    media: str | MediaInfo,
    *,
    collection: str | None = None,
    threshold: float = 80.0,
    token: str | None = None,
    tag: str | None = None,
    s3_object: Mapping[str, str] | None = None,
    region: str | None = None,
    notification: Mapping[str, str] | None = None,
) -> JobView:
    """Queue a face detection or face search job over the grant's organisation's media object ``media``
    (a name, or an object already resolved). ``collection`` is required for a search; the threshold is
    raised to the policy's floor and the matches capped by it. ``s3_object`` is the Rekognition
    ``S3Object`` that named ``media``; a shared bucket's object (another organisation's, e.g. a portal clip
    shared with the caller) is accepted only that way, and the job checks the share again when it runs.
    ``notification``: the Rekognition NotificationChannel (a configured target), posted when it ends."""
    if kind not in VIDEO_KINDS:
        raise InvalidParameterError(f"unknown video job kind {kind!r}")
    org_id = grant.actor.org_id
    info = media if isinstance(media, MediaInfo) else services.media.get(org_id, media)
    if info.org_id != org_id and (
        s3_object is None or s3_object["Bucket"] not in services.media.shared_buckets
    ):
        raise InvalidParameterError("a video job runs on the caller's own media or media shared with it")
    params: dict[str, Any] = {}
    if kind == FACE_SEARCH:
        if not collection:
            raise InvalidParameterError("a face search needs a collection")
        found = services.collections.get(org_id, collection, region=region)
        params = {
            "collection_id": found.id,
            "collection": found.name,
            "threshold": grant.similarity_at_least(threshold),
            "max_faces": grant.at_most(MAX_VIDEO_MATCHES),
        }
    params.update(
        video=info.name,
        video_sha256=info.sha256,
        # Each organisation's uploads form one bucket named like the organisation (Rekognition's S3Object).
        s3_object=dict(s3_object)
        if info.org_id != org_id and s3_object
        else {"Bucket": grant.actor.org_name, "Name": info.name},
        obligations=obligations(grant),
    )
    if notification:
        params["notification_channel"] = dict(notification)
    grant.note(video_sha256=info.sha256)
    job = services.jobs.submit(
        org_id, kind, params, token=token, tag=tag, created=lambda view: grant.note(job_id=view.id)
    )
    grant.note(job_id=job.id)  # an idempotent replay inserts nothing: the id is noted here instead
    return job
