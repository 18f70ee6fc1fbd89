"""Video jobs: face detection and face search over a stored video, run by the job runner (in-process or
Celery). The policy gate ran when the job was submitted; its obligations travel in the job's parameters
(threshold floor, candidate cap, human review), so the worker applies exactly what was granted."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select

from glasshouse.collections.models import Collection, Face, FaceUser
from glasshouse.collections.service import load_vectors
from glasshouse.db import transaction
from glasshouse.engine.pipeline import FaceEngine
from glasshouse.errors import NotFoundError
from glasshouse.governance.actor import Actor
from glasshouse.jobs.models import Job  # noqa: F401  (registers the table before handlers run)
from glasshouse.jobs.runner import JobContext
from glasshouse.jobs.service import JobView, register
from glasshouse.video.pipeline import PersonMatch, VideoAnalysis, analyse_video, search_tracks
from glasshouse.video.track import NormBox

FACE_DETECTION = "video.face_detection"
FACE_SEARCH = "video.face_search"


def _box(box: NormBox) -> dict[str, float]:
    return {"Width": box.width, "Height": box.height, "Left": box.left, "Top": box.top}


def _analyse(ctx: JobContext, job: JobView, until: int, engine: FaceEngine | None = None) -> VideoAnalysis:
    """Copy the stored video to a temporary file (bounded memory for any store) and analyse it with
    ``engine`` (default: the server's), reporting progress from 5% to ``until``% as the video is read."""
    svc = ctx.services
    s3 = job.params.get("s3_object") or {}
    if s3.get("Bucket") in svc.media.shared_buckets:  # shared footage: is it still shared with us, now?
        info = svc.media.resolve_s3_object(job.org_id, str(s3["Bucket"]), str(s3["Name"]))
        _, stream = svc.media.open(info.org_id, info.name)
    else:
        _, stream = svc.media.open(job.org_id, str(job.params["video"]))
    with tempfile.TemporaryDirectory(prefix="glasshouse-video-") as tmp:
        path = Path(tmp) / "video"
        with stream, path.open("wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
        ctx.progress(5, "decoding and tracking faces")

        def reading(fraction: float) -> None:
            ctx.progress(
                5 + fraction * (until - 5), f"decoding and tracking faces: {fraction:.0%} of the video"
            )

        analysis = analyse_video(engine or svc.face_engine, path, on_progress=reading)
    ctx.summary["VideoMetadata"] = analysis.metadata.to_rekognition()
    ctx.summary["tracks"] = len(analysis.tracks)
    return analysis


def face_detection(ctx: JobContext, job: JobView) -> Iterator[Mapping[str, Any]]:
    """Rekognition's GetFaceDetection ``Faces``: every sampled sighting of every tracked face, by time."""
    analysis = _analyse(ctx, job, until=95)
    ctx.progress(95, "writing the results")
    sightings = sorted(
        ((s, t.index) for t in analysis.tracks for s in t.sightings), key=lambda x: (x[0].timestamp_ms, x[1])
    )
    for sighting, _index in sightings:
        yield {"Timestamp": sighting.timestamp_ms, "Face": sighting.to_rekognition()}


def face_search(ctx: JobContext, job: JobView) -> Iterator[Mapping[str, Any]]:
    """Rekognition's GetFaceSearch ``Persons``: each timestamp at which a tracked person is visible, with the
    collection's faces it matches (``FaceMatches: []`` for a person matching nobody, as AWS lists them)."""
    svc, params = ctx.services, job.params
    collection_id = str(params["collection_id"])
    with svc.sessions() as session:
        collection = session.get(Collection, collection_id)
        if collection is None:
            raise NotFoundError("the collection searched by this job was deleted")
    engine = svc.collections.analyser_for(collection).engine  # the collection's face model
    analysis = _analyse(ctx, job, until=80, engine=engine)
    ctx.progress(80, "searching the collection")
    ids, vectors = load_vectors(svc.sessions, collection_id)
    matches = search_tracks(
        analysis.tracks,
        vectors,
        ids,
        float(params["threshold"]),
        max_faces=int(params["max_faces"]),
        include_unmatched=True,
        calibration=engine.calibration,
    )
    matched_ids = {m.face_id for p in matches for m in p.matches}
    faces = _faces(ctx, collection_id, matched_ids)
    best: dict[str, float] = {}
    for person in matches:
        for m in person.matches:
            best[m.face_id] = max(best.get(m.face_id, 0.0), m.similarity)
    ctx.summary["matched_people"] = len({p.index for p in matches if p.matches})
    _lead_if_required(ctx, job, collection_id, best, faces)
    for person in matches:
        yield {
            "Timestamp": person.timestamp_ms,
            "Person": {"Index": person.index, "Face": _face_detail(person)},
            "FaceMatches": [{"Similarity": m.similarity, "Face": faces[m.face_id]} for m in person.matches],
        }


def _face_detail(person: PersonMatch) -> dict[str, Any]:
    if person.sighting is not None:
        return person.sighting.to_rekognition()
    return {"BoundingBox": _box(person.box), "Confidence": round(person.confidence * 100, 4)}


def _faces(ctx: JobContext, collection_id: str, ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    with ctx.services.sessions() as session:
        rows = session.execute(
            select(Face, FaceUser.user_id)
            .outerjoin(FaceUser, Face.face_user_id == FaceUser.id)
            .where(Face.collection_id == collection_id, Face.id.in_(ids))
        ).all()
    out: dict[str, dict[str, Any]] = {}
    for face, user_id in rows:
        entry: dict[str, Any] = {
            "FaceId": face.id,
            "ImageId": face.image_id,
            "Confidence": round(face.confidence * 100, 4),
            "BoundingBox": {
                "Width": face.box_width / face.image_width,
                "Height": face.box_height / face.image_height,
                "Left": face.box_left / face.image_width,
                "Top": face.box_top / face.image_height,
            },
        }
        if face.external_image_id:
            entry["ExternalImageId"] = face.external_image_id
        if user_id:
            entry["UserId"] = user_id
        out[face.id] = entry
    return out


def _lead_if_required(
    ctx: JobContext,
    job: JobView,
    collection_id: str,
    best: dict[str, float],
    faces: dict[str, dict[str, Any]],
) -> None:
    """The human-review obligation granted at submission: matches become a lead awaiting review."""
    obligations = job.params.get("obligations") or {}
    reviewers = int(obligations.get("reviewers", 0))
    if reviewers == 0 or not best:
        return
    actor = Actor(
        org_id=job.org_id,
        org_name=str(obligations.get("org_name", "")),
        surface="job",
        key_id=obligations.get("key_id"),
        person=obligations.get("person"),
    )
    candidates = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
    with transaction(ctx.services.sessions) as session:
        lead_id = ctx.services.reviews.create(
            session,
            actor,
            capability=FACE_SEARCH,
            purpose=obligations.get("purpose"),
            case_number=obligations.get("case_number"),
            collection_id=collection_id,
            probe_digest=f"video:{job.params['video_sha256']}",
            reviewers_required=reviewers,
            policy_version=obligations.get("policy_version"),
            candidates=[(fid, faces.get(fid, {}).get("ExternalImageId"), sim) for fid, sim in candidates],
        )
    ctx.summary["lead_id"] = lead_id


register(FACE_DETECTION, face_detection)
register(FACE_SEARCH, face_search)
