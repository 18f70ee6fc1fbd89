"""Rekognition Video on Glasshouse's media store: StartFaceDetection / GetFaceDetection and
StartFaceSearch / GetFaceSearch, run as durable jobs. The Start operations pass the policy gate (capabilities
video.face_detection and video.face_search, with the same obligations as image search plus a warrant where
the policy asks for one); the obligations granted travel with the job."""

from __future__ import annotations

from typing import Any

from glasshouse.errors import InvalidParameterError
from glasshouse.jobs.service import JobView
from glasshouse.rekognition import pagination
from glasshouse.rekognition.registry import Context, Params, Response, operation, stored_object
from glasshouse.video.jobs import FACE_DETECTION, FACE_SEARCH
from glasshouse.video.submit import submit_video_job


def _notification(ctx: Context, p: Params, api: str) -> dict[str, str] | None:
    """``NotificationChannel`` if it names a topic with a configured webhook; refused otherwise."""
    channel = p.get("NotificationChannel")
    if not channel:
        return None
    arn = str(channel["SNSTopicArn"])
    ctx.services.notifications.require_target(ctx.caller.org_id, arn)
    return {"SNSTopicArn": arn, "RoleArn": str(channel.get("RoleArn", "")), "API": api}


def _submit(ctx: Context, kind: str, p: Params, collection: str | None = None) -> Response:
    s3 = p["Video"]["S3Object"]
    info = stored_object(ctx, s3)
    api = "StartFaceSearch" if kind == FACE_SEARCH else "StartFaceDetection"
    notification = _notification(ctx, p, api)
    grant = ctx.grant
    assert grant is not None, "Start operations are gated"
    job = submit_video_job(
        ctx.services,
        grant,
        kind,
        info,
        collection=collection,
        threshold=float(p.get("FaceMatchThreshold", 80.0)),
        token=p.get("ClientRequestToken"),
        tag=p.get("JobTag"),
        s3_object={"Bucket": str(s3["Bucket"]), "Name": str(s3["Name"])},
        region=ctx.caller.region,
        notification=notification,
    )
    return {"JobId": job.id}


@operation("StartFaceDetection")
def start_face_detection(ctx: Context, p: Params) -> Response:
    if p.get("FaceAttributes", "DEFAULT") not in ("DEFAULT", "ALL"):
        raise InvalidParameterError("FaceAttributes must be DEFAULT or ALL")
    return _submit(ctx, FACE_DETECTION, p)


@operation("StartFaceSearch")
def start_face_search(ctx: Context, p: Params) -> Response:
    return _submit(ctx, FACE_SEARCH, p, collection=p["CollectionId"])


def _status(job: JobView) -> dict[str, Any]:
    out: dict[str, Any] = {"JobStatus": job.status.value, "JobId": job.id}
    if job.status_message:
        out["StatusMessage"] = job.status_message
    if job.job_tag:
        out["JobTag"] = job.job_tag
    if "s3_object" in job.params:
        out["Video"] = {"S3Object": job.params["s3_object"]}
    metadata = (job.result_summary or {}).get("VideoMetadata")
    if metadata:
        out["VideoMetadata"] = metadata
    return out


def _page(ctx: Context, job_id: str, kind: str, p: Params, field: str, order: str = "TIMESTAMP") -> Response:
    jobs = ctx.services.jobs
    job = jobs.get(ctx.caller.org_id, job_id, kind=kind)
    out = _status(job)
    if job.status.value != "SUCCEEDED":
        return out
    limit = int(p.get("MaxResults", 1000))
    scope = f"{job.id}:{order}"
    start = pagination.decode_offset(p.get("NextToken"), kind, scope)
    if order == "INDEX":
        items = _all(ctx, job)
        items.sort(key=lambda r: (r["Person"]["Index"], r["Timestamp"]))
        page = items[start : start + limit]
        more = start + limit < len(items)
    else:
        results = jobs.results(ctx.caller.org_id, job.id, after_seq=start, limit=limit, kind=kind)
        page = [dict(r) for r in results.items]
        more = results.next_after_seq is not None
    out[field] = page
    if more:
        out["NextToken"] = pagination.encode_offset(kind, scope, start + limit)
    return out


def _all(ctx: Context, job: JobView) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = ctx.services.jobs.results(
            ctx.caller.org_id, job.id, after_seq=after, limit=1000, kind=job.kind
        )
        items += [dict(r) for r in page.items]
        if page.next_after_seq is None:
            return items
        after = page.next_after_seq


@operation("GetFaceDetection")
def get_face_detection(ctx: Context, p: Params) -> Response:
    return _page(ctx, p["JobId"], FACE_DETECTION, p, "Faces")


@operation("GetFaceSearch")
def get_face_search(ctx: Context, p: Params) -> Response:
    return _page(ctx, p["JobId"], FACE_SEARCH, p, "Persons", order=p.get("SortBy", "TIMESTAMP"))
