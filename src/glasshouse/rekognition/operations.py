"""Rekognition operations: validated parameters in, response dicts out, through the domain services.

Each handler receives parameters already validated against botocore's input shape (blobs decoded to
bytes) and returns a dict matching the output shape. Handlers never touch the engine or the database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from glasshouse.collections.models import Collection
from glasshouse.collections.users import UserMatch
from glasshouse.engine.quality import QualityFilter, quality_refusal
from glasshouse.errors import (
    AlreadyExistsError,
    InvalidParameterError,
    NotFoundError,
)
from glasshouse.faces.service import MAX_FACES_PER_IMAGE
from glasshouse.rekognition import pagination
from glasshouse.rekognition.registry import (
    Caller,
    ConflictError,
    Context,
    Params,
    Response,
    image_bytes,
    operation,
)
from glasshouse.rekognition.shapes import (
    bounding_box,
    compare_face,
    face_detail,
    stored_face,
    unindexed_reasons,
)
from glasshouse.review.leads import record_results, search_collection


def collection_arn(caller: Caller, name: str, *, prefix: str = "arn:") -> str:
    """The collection's ARN in the caller's account and signed region (collections are regional)."""
    return f"{prefix}aws:rekognition:{caller.region}:{caller.account_id}:collection/{name}"


_ARN = re.compile(r"^(?:arn:)?aws:rekognition:([a-z0-9-]*):(\d{12}):collection/([a-zA-Z0-9_.\-]+)$")


def _collection_of_arn(ctx: Context, arn: str) -> str:
    """The collection id named by ``arn``; another account's or another region's ARN answers exactly like
    a missing resource."""
    match = _ARN.match(arn)
    if match is None:
        raise InvalidParameterError(f"ResourceArn {arn!r} is not a Rekognition collection ARN")
    region, account, name = match.groups()
    if account != ctx.caller.account_id or region != ctx.caller.region:
        raise NotFoundError("The resource does not exist")
    return name


def _quality(params: Params, default: QualityFilter) -> QualityFilter:
    return QualityFilter(params.get("QualityFilter", default.value))


def _collection(ctx: Context, name: str) -> Collection:
    """The caller's collection ``name`` in the region the request was signed for."""
    return ctx.services.collections.get(ctx.caller.org_id, name, region=ctx.caller.region)


def _model_version(ctx: Context, name: str) -> str:
    """The model version of the caller's collection ``name`` (the engine's, stored at creation)."""
    return _collection(ctx, name).face_model_version


def _note(ctx: Context, **counts: Any) -> None:
    if ctx.grant is not None:
        ctx.grant.note(**counts)


def _lead(
    ctx: Context, collection_id: str | None, probe: str, candidates: list[tuple[str, str | None, float]]
) -> None:
    """Record the results on the grant; where review is required they become a lead."""
    if ctx.grant is None:
        return
    svc = ctx.services
    lead_id = record_results(
        svc.sessions, svc.reviews, ctx.grant, collection_id=collection_id, probe=probe, candidates=candidates
    )
    _announce_lead(ctx, lead_id)


def _announce_lead(ctx: Context, lead_id: str | None) -> None:
    """Results awaiting human review: the response says so in two headers."""
    if lead_id is not None:
        ctx.response_headers["X-Glasshouse-Lead-Id"] = lead_id
        ctx.response_headers["X-Glasshouse-Review"] = "pending"


def _user_candidates(matches: list[UserMatch]) -> list[tuple[str, str | None, float]]:
    return [(f"user:{m.user.user_id}", m.user.user_id, m.similarity) for m in matches]


# -- faces in images -----------------------------------------------------------------------------------------
@operation("DetectFaces")
def detect_faces(ctx: Context, p: Params) -> Response:
    image = ctx.services.analyser.analyse(image_bytes(ctx, p["Image"]), embed=False)
    return {"FaceDetails": [face_detail(f, image.width, image.height) for f in image.faces]}


@operation("CompareFaces")
def compare_faces(ctx: Context, p: Params) -> Response:
    threshold = ctx.threshold(float(p.get("SimilarityThreshold", 80.0)))
    result = ctx.services.analyser.compare(
        image_bytes(ctx, p["SourceImage"]),
        image_bytes(ctx, p["TargetImage"]),
        similarity_threshold=threshold,
        quality_filter=_quality(p, QualityFilter.NONE),
    )
    if result is None:
        raise InvalidParameterError("There are no faces in the source image")
    matches = result.matches[: ctx.at_most(len(result.matches))]
    unmatched = result.unmatched + [m.face for m in result.matches[len(matches) :]]
    _note(ctx, matches=len(matches), unmatched=len(unmatched))
    sw, sh = result.source_size
    tw, th = result.target_size
    return {
        "SourceImageFace": {
            "BoundingBox": bounding_box(result.source.detection.box, sw, sh),
            "Confidence": round(result.source.detection.confidence * 100.0, 5),
        },
        "FaceMatches": [{"Similarity": m.similarity, "Face": compare_face(m.face, tw, th)} for m in matches],
        "UnmatchedFaces": [compare_face(f, tw, th) for f in unmatched],
    }


# -- collections ---------------------------------------------------------------------------------------------
@operation("CreateCollection")
def create_collection(ctx: Context, p: Params) -> Response:
    name = p["CollectionId"]
    retention = ctx.request_headers.get("x-glasshouse-retention-days")
    if retention is not None and not retention.isdigit():
        raise InvalidParameterError("X-Glasshouse-Retention-Days must be a whole number of days")
    collection = ctx.services.collections.create(
        ctx.caller.org_id,
        name,
        tags=p.get("Tags") or {},
        retention_days=int(retention) if retention else None,
        consent_required=ctx.request_headers.get("x-glasshouse-consent-required", "").lower() == "true",
        region=ctx.caller.region,
        # A header, not a tag: tags change later (TagResource/UntagResource), this opt-in may not.
        face_crops_reason=ctx.request_headers.get("x-glasshouse-keep-face-crops"),
        by=ctx.caller.actor,
    )
    return {
        "StatusCode": 200,
        "CollectionArn": collection_arn(ctx.caller, name, prefix=""),
        "FaceModelVersion": collection.face_model_version,
    }


@operation("DescribeCollection")
def describe_collection(ctx: Context, p: Params) -> Response:
    svc = ctx.services
    collection = _collection(ctx, p["CollectionId"])
    return {
        "FaceCount": svc.collections.face_count(collection),
        "UserCount": svc.users.count(collection),
        "FaceModelVersion": collection.face_model_version,
        "CollectionARN": collection_arn(ctx.caller, collection.name),
        "CreationTimestamp": collection.created_at.timestamp(),
    }


@operation("ListCollections")
def list_collections(ctx: Context, p: Params) -> Response:
    limit = int(p.get("MaxResults", 1000)) or 1000
    scope = f"collections:{ctx.caller.org_id}"
    after = pagination.decode(p.get("NextToken"), "c", scope)
    page = ctx.services.collections.get_all(
        ctx.caller.org_id, after=after, limit=limit + 1, region=ctx.caller.region
    )
    out: Response = {
        "CollectionIds": [c.name for c in page[:limit]],
        "FaceModelVersions": [c.face_model_version for c in page[:limit]],
    }
    if len(page) > limit:
        out["NextToken"] = pagination.encode("c", scope, page[limit - 1].id)
    return out


@operation("DeleteCollection")
def delete_collection(ctx: Context, p: Params) -> Response:
    ctx.services.collections.delete(ctx.caller.org_id, p["CollectionId"], region=ctx.caller.region)
    return {"StatusCode": 200}


# -- enrolled faces ------------------------------------------------------------------------------------------
@operation("IndexFaces")
def index_faces(ctx: Context, p: Params) -> Response:
    max_faces = p.get("MaxFaces")
    if max_faces is not None and max_faces > MAX_FACES_PER_IMAGE:
        raise InvalidParameterError(f"MaxFaces must be between 1 and {MAX_FACES_PER_IMAGE}")
    outcome = ctx.services.collections.index_image(
        ctx.caller.org_id,
        p["CollectionId"],
        image_bytes(ctx, p["Image"]),
        external_image_id=p.get("ExternalImageId"),
        max_faces=max_faces,
        quality_filter=_quality(p, QualityFilter.AUTO),
        consent_reference=ctx.request_headers.get("x-glasshouse-consent"),
        region=ctx.caller.region,
    )
    w, h = outcome.image.width, outcome.image.height
    version = outcome.collection.face_model_version
    return {
        "FaceRecords": [
            {"Face": stored_face(row, version), "FaceDetail": face_detail(face, w, h)}
            for row, face in outcome.indexed
        ],
        "UnindexedFaces": [
            {"Reasons": unindexed_reasons(u.reasons), "FaceDetail": face_detail(u.face, w, h)}
            for u in outcome.unindexed
        ],
        "FaceModelVersion": version,
    }


@operation("ListFaces")
def list_faces(ctx: Context, p: Params) -> Response:
    name = p["CollectionId"]
    limit = int(p.get("MaxResults", 1000)) or 1000
    collection = _collection(ctx, name)
    scope = f"faces:{collection.id}:{p.get('UserId')}:{sorted(p.get('FaceIds') or [])}"
    after = pagination.decode(p.get("NextToken"), "f", scope)
    page = ctx.services.collections.list_faces(
        ctx.caller.org_id,
        name,
        after=after,
        limit=limit + 1,
        user_id=p.get("UserId"),
        face_ids=p.get("FaceIds"),
        region=ctx.caller.region,
    )
    version = collection.face_model_version
    out: Response = {"Faces": [stored_face(f, version) for f in page[:limit]], "FaceModelVersion": version}
    if len(page) > limit:
        out["NextToken"] = pagination.encode("f", scope, page[limit - 1].id)
    return out


@operation("DeleteFaces")
def delete_faces(ctx: Context, p: Params) -> Response:
    deleted, refused = ctx.services.collections.delete_faces(
        ctx.caller.org_id, p["CollectionId"], p["FaceIds"], region=ctx.caller.region
    )
    out: Response = {
        "UnsuccessfulFaceDeletions": [{"FaceId": fid, "Reasons": [reason]} for fid, reason in refused.items()]
    }
    if deleted:  # the model requires at least one id when the member is present
        out["DeletedFaces"] = deleted
    return out


@operation("SearchFaces")
def search_faces(ctx: Context, p: Params) -> Response:
    face, matches = ctx.services.collections.search_by_face_id(
        ctx.caller.org_id,
        p["CollectionId"],
        p["FaceId"],
        threshold=ctx.threshold(float(p.get("FaceMatchThreshold", 80.0))),
        max_faces=ctx.at_most(int(p.get("MaxFaces", 4096))),
        region=ctx.caller.region,
    )
    version = _model_version(ctx, p["CollectionId"])
    _lead(
        ctx,
        face.collection_id,
        f"face:{face.id}",
        [(m.face.id, m.face.external_image_id, m.similarity) for m in matches],
    )
    return {
        "SearchedFaceId": face.id,
        "FaceMatches": [{"Similarity": m.similarity, "Face": stored_face(m.face, version)} for m in matches],
        "FaceModelVersion": version,
    }


@operation("SearchFacesByImage")
def search_faces_by_image(ctx: Context, p: Params) -> Response:
    assert ctx.grant is not None, "SearchFacesByImage is a gated operation"
    found = search_collection(
        ctx.services.collections,
        ctx.services.reviews,
        ctx.grant,
        p["CollectionId"],
        image_bytes(ctx, p["Image"]),
        threshold=float(p.get("FaceMatchThreshold", 80.0)),
        max_faces=int(p.get("MaxFaces", 4096)),
        quality_filter=_quality(p, QualityFilter.NONE),
        region=ctx.caller.region,
    )
    result = found.result
    if result.probe is None:
        raise InvalidParameterError("There are no faces in the image. Should be at least 1.")
    _announce_lead(ctx, found.lead_id)
    version = _model_version(ctx, p["CollectionId"])
    return {
        "SearchedFaceBoundingBox": bounding_box(
            result.probe.detection.box, result.image.width, result.image.height
        ),
        "SearchedFaceConfidence": round(result.probe.detection.confidence * 100.0, 5),
        "FaceMatches": [
            {"Similarity": m.similarity, "Face": stored_face(m.face, version)} for m in result.matches
        ],
        "FaceModelVersion": version,
    }


# -- users ---------------------------------------------------------------------------------------------------
def _idempotent(ctx: Context, op: str, p: Params, action: Callable[[], Response]) -> Response:
    return ctx.services.idempotency.run(ctx.caller.org_id, op, p.get("ClientRequestToken"), p, action)


@operation("CreateUser")
def create_user(ctx: Context, p: Params) -> Response:
    def action() -> Response:
        try:
            ctx.services.users.create(
                ctx.caller.org_id, p["CollectionId"], p["UserId"], region=ctx.caller.region
            )
        except AlreadyExistsError as exc:
            raise ConflictError(exc.message) from exc
        return {}

    return _idempotent(ctx, "CreateUser", p, action)


@operation("DeleteUser")
def delete_user(ctx: Context, p: Params) -> Response:
    def action() -> Response:
        ctx.services.users.delete(ctx.caller.org_id, p["CollectionId"], p["UserId"], region=ctx.caller.region)
        return {}

    return _idempotent(ctx, "DeleteUser", p, action)


@operation("ListUsers")
def list_users(ctx: Context, p: Params) -> Response:
    name = p["CollectionId"]
    limit = int(p.get("MaxResults", 500))
    collection = _collection(ctx, name)
    scope = f"users:{collection.id}"
    after = pagination.decode(p.get("NextToken"), "u", scope)
    page = ctx.services.users.get_all(
        ctx.caller.org_id, name, after=after, limit=limit + 1, region=ctx.caller.region
    )
    out: Response = {"Users": [{"UserId": u.user_id, "UserStatus": u.status} for u in page[:limit]]}
    if len(page) > limit:
        out["NextToken"] = pagination.encode("u", scope, page[limit - 1].key)
    return out


@operation("AssociateFaces")
def associate_faces(ctx: Context, p: Params) -> Response:
    def action() -> Response:
        result = ctx.services.users.associate(
            ctx.caller.org_id,
            p["CollectionId"],
            p["UserId"],
            p["FaceIds"],
            threshold=float(p.get("UserMatchThreshold", 75.0)),
            region=ctx.caller.region,
        )
        unsuccessful = []
        for fid, reason, similarity, user_id in result.unsuccessful:
            item: Response = {"FaceId": fid, "Reasons": [reason]}
            if similarity is not None:
                item["Confidence"] = similarity
            if user_id is not None:
                item["UserId"] = user_id
            unsuccessful.append(item)
        return {
            "AssociatedFaces": [{"FaceId": fid} for fid in result.associated],
            "UnsuccessfulFaceAssociations": unsuccessful,
            "UserStatus": result.status,
        }

    return _idempotent(ctx, "AssociateFaces", p, action)


@operation("DisassociateFaces")
def disassociate_faces(ctx: Context, p: Params) -> Response:
    def action() -> Response:
        result = ctx.services.users.disassociate(
            ctx.caller.org_id, p["CollectionId"], p["UserId"], p["FaceIds"], region=ctx.caller.region
        )
        return {
            "DisassociatedFaces": [{"FaceId": fid} for fid in result.associated],
            "UnsuccessfulFaceDisassociations": [
                {"FaceId": fid, "Reasons": [reason]} for fid, reason, _, _ in result.unsuccessful
            ],
            "UserStatus": result.status,
        }

    return _idempotent(ctx, "DisassociateFaces", p, action)


@operation("SearchUsers")
def search_users(ctx: Context, p: Params) -> Response:
    svc = ctx.services
    name = p["CollectionId"]
    threshold = ctx.threshold(float(p.get("UserMatchThreshold", 80.0)))
    max_users = ctx.at_most(int(p.get("MaxUsers", 500)))
    if ("UserId" in p) == ("FaceId" in p):
        raise InvalidParameterError("Exactly one of UserId and FaceId must be given")
    out: Response = {"FaceModelVersion": _model_version(ctx, name)}
    if "FaceId" in p:
        face, _ = svc.collections.search_by_face_id(
            ctx.caller.org_id, name, p["FaceId"], max_faces=1, region=ctx.caller.region
        )
        collection = _collection(ctx, name)
        exclude = face.user_id
        matches = svc.users.search(
            collection, face.vector, threshold=threshold, max_users=max_users, exclude=exclude
        )
        out["SearchedFace"] = {"FaceId": face.id}
    else:
        collection, vectors = svc.users.user_vectors(
            ctx.caller.org_id, name, p["UserId"], region=ctx.caller.region
        )
        best: dict[str, Any] = {}
        for vector in vectors:
            for m in svc.users.search(
                collection, vector, threshold=threshold, max_users=max_users + 1, exclude=p["UserId"]
            ):
                if m.user.user_id not in best or best[m.user.user_id].similarity < m.similarity:
                    best[m.user.user_id] = m
        matches = sorted(best.values(), key=lambda m: m.similarity, reverse=True)[:max_users]
        out["SearchedUser"] = {"UserId": p["UserId"]}
    _lead(ctx, collection.id, f"search-users:{p.get('FaceId') or p.get('UserId')}", _user_candidates(matches))
    out["UserMatches"] = [
        {"Similarity": m.similarity, "User": {"UserId": m.user.user_id, "UserStatus": m.user.status}}
        for m in matches
    ]
    return out


@operation("SearchUsersByImage")
def search_users_by_image(ctx: Context, p: Params) -> Response:
    svc = ctx.services
    collection = _collection(ctx, p["CollectionId"])
    image = svc.collections.analyser_for(collection).analyse(image_bytes(ctx, p["Image"]))
    if not image.faces:
        raise InvalidParameterError("There are no faces in the image. Should be at least 1.")
    quality = _quality(p, QualityFilter.NONE)
    probe, *others = image.faces
    w, h = image.width, image.height
    unsearched = [{"Reasons": ["FACE_NOT_LARGEST"], "FaceDetails": face_detail(f, w, h)} for f in others]
    matches = []
    if (
        quality_refusal(probe.detection, probe.quality, probe.pose, quality) is None
        and probe.embedding is not None
    ):
        matches = svc.users.search(
            collection,
            probe.embedding,
            threshold=ctx.threshold(float(p.get("UserMatchThreshold", 80.0))),
            max_users=ctx.at_most(int(p.get("MaxUsers", 500))),
        )
    _lead(ctx, collection.id, f"sha256:{image.sha256}", _user_candidates(matches))
    return {
        "UserMatches": [
            {"Similarity": m.similarity, "User": {"UserId": m.user.user_id, "UserStatus": m.user.status}}
            for m in matches
        ],
        "FaceModelVersion": collection.face_model_version,
        "SearchedFace": {"FaceDetail": face_detail(probe, w, h)},
        "UnsearchedFaces": unsearched,
    }


# -- tags ----------------------------------------------------------------------------------------------------
@operation("TagResource")
def tag_resource(ctx: Context, p: Params) -> Response:
    collection = _collection(ctx, _collection_of_arn(ctx, p["ResourceArn"]))
    ctx.services.tags.set(ctx.caller.org_id, "collection", collection.id, p["Tags"])
    return {}


@operation("UntagResource")
def untag_resource(ctx: Context, p: Params) -> Response:
    collection = _collection(ctx, _collection_of_arn(ctx, p["ResourceArn"]))
    ctx.services.tags.remove("collection", collection.id, p["TagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: Context, p: Params) -> Response:
    collection = _collection(ctx, _collection_of_arn(ctx, p["ResourceArn"]))
    return {"Tags": ctx.services.tags.get("collection", collection.id)}
