"""Collection service: create/list/delete collections, enrol faces, search, list and delete faces.

Every write is one transaction; the in-memory search index is told about a write only after it commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from glasshouse.audit.service import AuditLog
from glasshouse.collections.ids import check_consent_reference, check_external_image_id
from glasshouse.collections.index import SearchIndex
from glasshouse.collections.models import Collection, Face, FaceCrop, FaceRecord, FaceUser
from glasshouse.collections.search_index import Vectors
from glasshouse.collections.vector_type import DEFAULT_EMBEDDING_DIM
from glasshouse.db import after_commit, new_id, serialise, transaction
from glasshouse.engine.quality import QualityFilter, quality_refusal
from glasshouse.engine.similarity import Calibration
from glasshouse.engine.types import Box, Detection, Pose, Quality
from glasshouse.engine.types import Face as AnalysedFace
from glasshouse.errors import (
    AlreadyExistsError,
    EmbeddingDimensionError,
    InvalidParameterError,
    ModelMismatchError,
    NotFoundError,
)
from glasshouse.faces.crops import MAX_CROP_BYTES, crop_jpeg
from glasshouse.faces.models import MODEL_TAG, FaceModels
from glasshouse.faces.service import AnalysedImage, FaceAnalyser
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event
from glasshouse.governance.gate import PolicyDenied, current_grant
from glasshouse.keys.crypto import SecretBox
from glasshouse.tags.service import TagService

COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{1,255}$")
#: Longest reason for keeping enrolled faces' crops.
MAX_CROPS_REASON = 2000


def crop_context(face_id: str) -> str:
    """What a face's sealed crop is bound to: a crop copied onto another face's row does not open."""
    return f"face-crop:{face_id}"


class ConsentRequired(PolicyDenied):
    """Enrolment into a consent-required collection without a consent reference."""


@dataclass(frozen=True, slots=True)
class ImageMeta:
    """What is kept of an enrolled image: its size and digest (never its pixels)."""

    width: int
    height: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Unindexed:
    face: AnalysedFace
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class IndexOutcome:
    collection: Collection
    image: AnalysedImage
    indexed: list[tuple[FaceRecord, AnalysedFace]]
    unindexed: list[Unindexed]


@dataclass(frozen=True, slots=True)
class Match:
    face: FaceRecord
    similarity: float


@dataclass(frozen=True, slots=True)
class ImageSearch:
    """Matches for the largest face of an image (``probe`` is ``None`` when the image has no face)."""

    image: AnalysedImage
    probe: AnalysedFace | None
    matches: list[Match]


def load_vectors(sessions: sessionmaker[Session], collection_id: str) -> tuple[list[str], Vectors]:
    """Every face id of a collection and their embeddings, ``(n, embedding_dim)`` (also when ``n`` is 0)."""
    with sessions() as session:
        dim = session.scalar(select(Collection.embedding_dim).where(Collection.id == collection_id))
        rows = session.execute(
            select(Face.id, Face.embedding).where(Face.collection_id == collection_id)
        ).all()
    ids = [r[0] for r in rows]
    if dim is None:  # deleted meanwhile: nothing to search
        dim = DEFAULT_EMBEDDING_DIM
    if not rows:
        return ids, np.zeros((0, dim), dtype=np.float32)
    return ids, np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), dim)


def check_dimension(collection: Collection, *widths: int) -> None:
    """Refuse embeddings whose lengths (``widths``) are not those of ``collection``'s model."""
    width = next((w for w in widths if w != collection.embedding_dim), None)
    if width is not None:
        raise EmbeddingDimensionError(
            f"collection {collection.name!r} holds {collection.embedding_dim}-dimensional embeddings of "
            f"{collection.face_model_version}; this one has {width} (another face model): faces of "
            "different models are never mixed in a collection"
        )


class CollectionService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        models: FaceModels,
        index: SearchIndex,
        *,
        default_region: str = "us-east-1",
        box: SecretBox | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.sessions = sessions
        #: Each collection embeds with the face model it was created with (one analyser per model).
        self.models = models
        self.index = index
        #: Seals enrolled faces' crops (collections that opted in); without it no collection may opt in.
        self.box = box
        #: Records the crop opt-in (who, which collection, why).
        self.audit = audit
        #: Collections are regional (as on AWS): every lookup names a region; ``None`` means this one,
        #: the region of surfaces without one (CLI, REST, UI).
        self.default_region = default_region

    # -- collections ------------------------------------------------------------------------------------
    def create(
        self,
        org_id: str,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        retention_days: int | None = None,
        consent_required: bool = False,
        region: str | None = None,
        face_crops_reason: str | None = None,
        by: Actor | None = None,
        model: str | None = None,
    ) -> Collection:
        """A new collection. ``retention_days`` deletes faces that long after enrolment (the sweeper);
        ``consent_required`` makes every enrolment name a consent reference. ``face_crops_reason`` opts in
        to keeping each enrolled face's crop for reviewers (encrypted, deleted with the face); the opt-in
        is audited as ``collection.face_crops`` under ``by``, with the reason. ``model`` (else the tag
        ``glasshouse:face-model``, else the server's default) is the face model every face of it is
        embedded with, for good: ModelNotInstalledError unless installed here."""
        if retention_days is not None and not 1 <= retention_days <= 36500:
            raise InvalidParameterError("retention must be between 1 and 36500 days")
        if face_crops_reason is not None:
            face_crops_reason = face_crops_reason.strip()
            if not face_crops_reason:
                raise InvalidParameterError("keeping enrolled faces' crops needs a stated reason")
            if len(face_crops_reason) > MAX_CROPS_REASON:
                raise InvalidParameterError(f"the reason is at most {MAX_CROPS_REASON} characters")
            if by is None or self.box is None or self.audit is None:
                raise InvalidParameterError("keeping crops needs an audited caller and the server key")
        if not COLLECTION_NAME.match(name):
            raise InvalidParameterError(
                f"collection id {name!r} must match [a-zA-Z0-9_.\\-]+ (1–255 characters)"
            )
        region = region or self.default_region
        model = model or (tags or {}).get(MODEL_TAG) or self.models.default_name
        engine = self.models.analyser(model).engine
        with transaction(self.sessions) as session:
            serialise(session, f"collection:{org_id}:{region}:{name}")  # PostgreSQL: no twin create between
            if self._find(session, org_id, name, region) is not None:
                raise AlreadyExistsError(f"The collection id: {name} already exists")
            collection = Collection(
                org_id=org_id,
                region=region,
                name=name,
                face_model_version=engine.model_version,
                embedding_dim=engine.embedding_dim,
                retention_days=retention_days,
                consent_required=consent_required,
                face_crops_reason=face_crops_reason,
            )
            session.add(collection)
            session.flush()
            if tags:
                TagService.set_in(session, org_id, "collection", collection.id, tags)
            if face_crops_reason is not None and by is not None and self.audit is not None:
                details = {
                    "collection": name,
                    "region": region,
                    "reason": face_crops_reason,
                    "retention_days": retention_days,
                }
                self.audit.append(session, change_event(by, "collection.face_crops", details))
        self.index.prepare(collection.embedding_dim)  # PostgreSQL: a new dimension's HNSW index
        return collection

    def analyser_for(self, collection: Collection) -> FaceAnalyser:
        """The analyser of the collection's face model (ModelNotInstalledError if it is not installed)."""
        return self.models.for_version(collection.face_model_version)

    def check_model_policy(self, collection: Collection) -> None:
        """The gate's model obligation for a search of ``collection`` (its model's card against the
        policy's ``min_model_tar_at_fmr_1e_6``): PolicyDenied, audited, when the model falls short."""
        grant = current_grant()
        if grant is not None:
            card = self.analyser_for(collection).engine.model
            grant.require_model(card.name, collection.face_model_version, card.accuracy.tar_at_fmr_1e_6)

    def calibration_for(self, collection: Collection) -> Calibration:
        """The similarity scale of the collection's face model."""
        return self.analyser_for(collection).engine.calibration

    def get(self, org_id: str, name: str, *, region: str | None = None) -> Collection:
        with self.sessions() as session:
            return self._get(session, org_id, name, region)

    def get_all(
        self, org_id: str, *, after: str | None = None, limit: int | None = None, region: str | None = None
    ) -> list[Collection]:
        """A region's collections in a stable order (by internal id), starting after id ``after``
        (keyset pagination)."""
        with self.sessions() as session:
            query = select(Collection).where(
                Collection.org_id == org_id, Collection.region == (region or self.default_region)
            )
            if after is not None:
                query = query.where(Collection.id > after)
            return list(session.scalars(query.order_by(Collection.id).limit(limit)))

    def face_count(self, collection: Collection) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(select(func.count(Face.id)).where(Face.collection_id == collection.id)) or 0
            )

    def delete(self, org_id: str, name: str, *, region: str | None = None) -> None:
        with transaction(self.sessions) as session:
            collection = self._get(session, org_id, name, region)
            session.execute(delete(Face).where(Face.collection_id == collection.id))
            TagService.drop(session, "collection", collection.id)
            session.delete(collection)
            after_commit(session, lambda: self.index.dropped(collection.id))

    # -- enrolment --------------------------------------------------------------------------------------
    def index_image(
        self,
        org_id: str,
        name: str,
        data: bytes,
        *,
        external_image_id: str | None = None,
        max_faces: int | None = None,
        quality_filter: QualityFilter = QualityFilter.AUTO,
        consent_reference: str | None = None,
        region: str | None = None,
    ) -> IndexOutcome:
        """Detect faces in ``data``; enrol those passing the filter, largest first, up to ``max_faces``.

        Idempotent, as on AWS: the same image (by SHA-256) indexed again into the same collection with the
        same ``external_image_id`` stores nothing and returns the faces stored the first time (same face
        ids and image id), also when two such calls run at once."""
        check_external_image_id(external_image_id)
        consent_reference = check_consent_reference(consent_reference)
        collection = self.get(org_id, name, region=region)
        if collection.consent_required and not consent_reference:
            raise ConsentRequired(
                f"collection {name!r} requires consent: name the data subject's consent record "
                "(X-Glasshouse-Consent header, or --consent on the CLI)"
            )
        analyser = self.analyser_for(collection)
        image = analyser.analyse(data)
        keep: list[AnalysedFace] = []
        unindexed: list[Unindexed] = []
        for face in image.faces:
            reason = quality_refusal(face.detection, face.quality, face.pose, quality_filter)
            if reason is not None:
                unindexed.append(Unindexed(face, [reason]))
            elif max_faces is not None and len(keep) >= max_faces:
                unindexed.append(Unindexed(face, ["EXCEEDS_MAX_FACES"]))
            else:
                keep.append(face)
        crops = [face_crop(image, f) for f in keep] if collection.keeps_face_crops else None
        with transaction(self.sessions) as session:
            # One indexer per (collection, image) at a time (SQLite: BEGIN IMMEDIATE already serialises).
            serialise(session, f"index-image:{collection.id}:{image.sha256}")
            stored = self._stored_image(session, collection.id, image.sha256, external_image_id)
            if stored:
                return IndexOutcome(collection, image, stored, unindexed)
            rows = self.add_faces(
                collection,
                image,
                keep,
                external_image_id=external_image_id,
                consent_reference=consent_reference,
                crops=crops,
                model_version=analyser.engine.model_version,
            )
        return IndexOutcome(collection, image, list(zip(rows, keep, strict=True)), unindexed)

    @staticmethod
    def _stored_image(
        session: Session, collection_id: str, sha256: str, external_image_id: str | None
    ) -> list[tuple[FaceRecord, AnalysedFace]]:
        """The faces an earlier IndexFaces of this image stored (largest first), rebuilt as engine faces
        from the stored box, landmarks, pose and quality (their embeddings are the stored ones)."""
        same_external = (
            Face.external_image_id.is_(None)
            if external_image_id is None
            else Face.external_image_id == external_image_id
        )
        rows = list(
            session.scalars(
                select(Face)
                .options(selectinload(Face.user))
                .where(Face.collection_id == collection_id, Face.image_sha256 == sha256, same_external)
            )
        )
        rows.sort(key=lambda f: (-f.box_width * f.box_height, f.id))
        return [(FaceRecord.of(f, f.user.user_id if f.user else None), engine_face(f)) for f in rows]

    def add_faces(
        self,
        collection: Collection,
        image: AnalysedImage | ImageMeta,
        faces: Sequence[AnalysedFace],
        *,
        external_image_id: str | None = None,
        consent_reference: str | None = None,
        crops: Sequence[bytes] | None = None,
        model_version: str,
    ) -> list[FaceRecord]:
        """Store already-analysed faces of one image in one transaction."""
        meta = (
            ImageMeta(image.width, image.height, image.sha256) if isinstance(image, AnalysedImage) else image
        )
        images = [(meta, faces, external_image_id)]
        return self.add_images(
            collection,
            images,
            consent_reference=consent_reference,
            crops=None if crops is None else [crops],
            model_version=model_version,
        )[0]

    def add_images(
        self,
        collection: Collection,
        images: Sequence[tuple[ImageMeta, Sequence[AnalysedFace], str | None]],
        *,
        consent_reference: str | None = None,
        crops: Sequence[Sequence[bytes]] | None = None,
        model_version: str,
    ) -> list[list[FaceRecord]]:
        """Store the faces of several images in one transaction (bulk enrolment), then update the index.
        In a collection that keeps crops, ``crops`` holds each face's JPEG (:func:`face_crop`), sealed here.
        ``model_version`` names the model that embedded the faces: ModelMismatchError (nothing stored)
        unless it is the collection's, so faces of two models are never mixed in one collection."""
        check_model(collection, model_version)
        consent_reference = check_consent_reference(consent_reference)
        for _, _, external_image_id in images:
            check_external_image_id(external_image_id)
        per_image: list[list[Face]] = []
        for meta, faces, external_image_id in images:
            image_id = new_id()
            per_image.append([face_row(collection.id, image_id, meta, f, external_image_id) for f in faces])
        for group in per_image:
            for row in group:
                row.consent_reference = consent_reference
        rows = [row for group in per_image for row in group]
        sealed = self._sealed_crops(collection, per_image, crops)
        if rows:
            check_dimension(collection, *(r.embedding_dim for r in rows))  # before anything is written
            vectors = np.stack([r.vector for r in rows])
            with transaction(self.sessions) as session:
                session.add_all(rows)
                session.flush()
                session.add_all(sealed)
                after_commit(session, lambda: self.index.added(collection.id, [r.id for r in rows], vectors))
        return [[FaceRecord.of(row, None) for row in group] for group in per_image]

    def _sealed_crops(
        self,
        collection: Collection,
        per_image: Sequence[Sequence[Face]],
        crops: Sequence[Sequence[bytes]] | None,
    ) -> list[FaceCrop]:
        """The sealed crop rows of new faces: one per face where the collection keeps crops, else none."""
        if not collection.keeps_face_crops:
            return []
        if self.box is None:
            raise InvalidParameterError("this collection keeps face crops: the server key is needed")
        if crops is None or [len(c) for c in crops] != [len(g) for g in per_image]:
            raise InvalidParameterError("this collection keeps face crops: every enrolled face needs one")
        out = []
        for group, jpegs in zip(per_image, crops, strict=True):
            for row, jpeg in zip(group, jpegs, strict=True):
                if not jpeg or len(jpeg) > MAX_CROP_BYTES:
                    raise InvalidParameterError(f"a face crop must be 1 to {MAX_CROP_BYTES} bytes")
                out.append(FaceCrop(face_id=row.id, sealed=self.box.seal_bytes(jpeg, crop_context(row.id))))
        return out

    def open_crop(self, crop: FaceCrop) -> bytes:
        """A kept crop's JPEG (:class:`glasshouse.keys.crypto.UnsealError` if the row was tampered with)."""
        if self.box is None:
            raise InvalidParameterError("opening a face crop needs the server key")
        return self.box.open_bytes(crop.sealed, crop_context(crop.face_id))

    def has_image(self, collection: Collection, sha256: str) -> bool:
        with self.sessions() as session:
            return (
                session.scalar(
                    select(Face.id)
                    .where(Face.collection_id == collection.id, Face.image_sha256 == sha256)
                    .limit(1)
                )
                is not None
            )

    def indexed_digests(self, collection: Collection) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(Face.image_sha256).where(Face.collection_id == collection.id)))

    # -- faces ------------------------------------------------------------------------------------------
    def list_faces(
        self,
        org_id: str,
        name: str,
        *,
        after: str | None = None,
        limit: int = 1000,
        user_id: str | None = None,
        face_ids: Sequence[str] | None = None,
        region: str | None = None,
    ) -> list[FaceRecord]:
        """Faces ordered by id, starting after face id ``after`` (keyset pagination), optionally filtered to a
        user's faces or to given face ids. Each face's ``user`` is loaded."""
        with self.sessions() as session:
            collection = self._get(session, org_id, name, region)
            query = select(Face).options(selectinload(Face.user)).where(Face.collection_id == collection.id)
            if after is not None:
                query = query.where(Face.id > after)
            if user_id is not None:
                query = query.join(FaceUser, Face.face_user_id == FaceUser.id).where(
                    FaceUser.user_id == user_id
                )
            if face_ids is not None:
                query = query.where(Face.id.in_(list(face_ids)))
            return _records(session.scalars(query.order_by(Face.id).limit(limit)))

    def delete_faces(
        self, org_id: str, name: str, face_ids: Sequence[str], *, region: str | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """Delete the given faces. Returns the deleted ids and, for the others, Rekognition's reason
        (FACE_NOT_FOUND, or ASSOCIATED_TO_AN_EXISTING_USER: disassociate first)."""
        wanted = list(dict.fromkeys(face_ids))
        with transaction(self.sessions) as session:
            collection = self._get(session, org_id, name, region)
            serialise(session, face_users_lock(collection.id))  # no association slips in before the delete
            rows = dict(
                session.execute(
                    select(Face.id, Face.face_user_id).where(
                        Face.collection_id == collection.id, Face.id.in_(wanted)
                    )
                ).all()
            )
            deleted = [fid for fid in wanted if fid in rows and rows[fid] is None]
            refused = {
                fid: ("FACE_NOT_FOUND" if fid not in rows else "ASSOCIATED_TO_AN_EXISTING_USER")
                for fid in wanted
                if fid not in deleted
            }
            if deleted:
                session.execute(delete(Face).where(Face.id.in_(deleted)))
                after_commit(session, lambda: self.index.removed(collection.id, deleted))
        return deleted, refused

    # -- search -----------------------------------------------------------------------------------------
    def search_by_image(
        self,
        org_id: str,
        name: str,
        data: bytes,
        *,
        threshold: float = 80.0,
        max_faces: int = 1,
        quality_filter: QualityFilter = QualityFilter.NONE,
        region: str | None = None,
    ) -> ImageSearch:
        collection = self.get(org_id, name, region=region)
        image = self.analyser_for(collection).analyse(data)
        probe = image.faces[0] if image.faces else None
        if probe is None or probe.embedding is None:
            return ImageSearch(image, None, [])
        if quality_refusal(probe.detection, probe.quality, probe.pose, quality_filter) is not None:
            return ImageSearch(image, probe, [])
        return ImageSearch(image, probe, self._search(collection, probe.embedding, threshold, max_faces))

    def search_by_face_id(
        self,
        org_id: str,
        name: str,
        face_id: str,
        *,
        threshold: float = 80.0,
        max_faces: int = 1,
        region: str | None = None,
    ) -> tuple[FaceRecord, list[Match]]:
        with self.sessions() as session:
            collection = self._get(session, org_id, name, region)
            found = _records(
                session.scalars(
                    select(Face)
                    .options(selectinload(Face.user))
                    .where(Face.collection_id == collection.id, Face.id == face_id)
                )
            )
            if not found:
                raise NotFoundError(f"face {face_id!r} not found in collection {name!r}")
            face = found[0]
        matches = self._search(collection, face.vector, threshold, max_faces + 1)
        return face, [m for m in matches if m.face.id != face.id][:max_faces]

    def _search(
        self, collection: Collection, query: Vectors, threshold: float, max_faces: int
    ) -> list[Match]:
        self.check_model_policy(collection)
        check_dimension(collection, np.asarray(query).shape[-1])
        calibration = self.calibration_for(collection)
        hits = self.index.search(collection.id, query, max_faces, calibration.cosine(threshold))
        if not hits:
            return []
        with self.sessions() as session:
            found = select(Face).options(selectinload(Face.user)).where(Face.id.in_([fid for fid, _ in hits]))
            rows = {r.id: r for r in _records(session.scalars(found))}
        out: list[Match] = []
        for fid, cosine in hits:
            similarity = calibration.similarity(cosine)
            if fid in rows and similarity >= threshold:
                out.append(Match(rows[fid], round(similarity, 4)))
        return out

    # -- helpers ----------------------------------------------------------------------------------------
    def lookup(self, session: Session, org_id: str, name: str, region: str | None = None) -> Collection:
        """The collection in an open session (for other services of this domain); NotFoundError if absent."""
        return self._get(session, org_id, name, region)

    def _find(self, session: Session, org_id: str, name: str, region: str | None) -> Collection | None:
        return session.scalar(
            select(Collection).where(
                Collection.org_id == org_id,
                Collection.region == (region or self.default_region),
                Collection.name == name,
            )
        )

    def _get(self, session: Session, org_id: str, name: str, region: str | None) -> Collection:
        collection = self._find(session, org_id, name, region)
        if collection is None:
            raise NotFoundError(collection_not_found(name))
        return collection


def check_model(collection: Collection, model_version: str) -> None:
    """Refuse (ModelMismatchError) faces embedded by another model than the collection's; their length is
    checked against the collection's ``embedding_dim`` where they are stored (:func:`check_dimension`)."""
    if model_version != collection.face_model_version:
        raise ModelMismatchError(
            f"collection {collection.name!r} holds faces of face model {collection.face_model_version}; "
            f"faces embedded by {model_version} cannot be mixed into it (one model per collection: "
            "create a collection on that model, or glasshouse collection migrate)"
        )


def collection_not_found(name: str) -> str:
    """AWS's wording for a collection that does not exist (in the caller's organisation and region)."""
    return f"The collection id: {name} does not exist"


def face_users_lock(collection_id: str) -> str:
    """The lock serialising changes of face-to-user associations in a collection (see ``db.serialise``)."""
    return f"face-users:{collection_id}"


def _records(rows: Iterable[Face]) -> list[FaceRecord]:
    """Views of ORM rows whose ``user`` was eagerly loaded, usable after the session closes."""
    return [FaceRecord.of(f, f.user.user_id if f.user else None) for f in rows]


def engine_face(row: Face) -> AnalysedFace:
    """An enrolled face as the engine described it (box, confidence, landmarks, pose, quality, embedding)."""
    return AnalysedFace(
        detection=Detection(
            box=Box(row.box_left, row.box_top, row.box_left + row.box_width, row.box_top + row.box_height),
            confidence=row.confidence,
            landmarks=np.asarray(row.landmarks, dtype=np.float32).reshape(5, 2),
        ),
        pose=Pose(**row.pose),
        quality=Quality(**row.quality),
        embedding=row.vector,
    )


def face_crop(image: AnalysedImage, face: AnalysedFace) -> bytes:
    """The crop of an enrolled face kept for reviewers (collections that opted in), at most 64 KB."""
    return crop_jpeg(image.image, face.detection.box)


def face_row(
    collection_id: str,
    image_id: str,
    meta: ImageMeta,
    face: AnalysedFace,
    external_image_id: str | None,
) -> Face:
    if face.embedding is None:
        raise ValueError("face has no embedding")
    box = face.detection.box
    return Face(
        id=new_id(),
        collection_id=collection_id,
        image_id=image_id,
        external_image_id=external_image_id,
        image_sha256=meta.sha256,
        image_width=meta.width,
        image_height=meta.height,
        box_left=box.left,
        box_top=box.top,
        box_width=box.width,
        box_height=box.height,
        confidence=face.detection.confidence,
        landmarks=[[float(x), float(y)] for x, y in face.detection.landmarks],
        quality={"brightness": face.quality.brightness, "sharpness": face.quality.sharpness},
        pose={"roll": face.pose.roll, "yaw": face.pose.yaw, "pitch": face.pose.pitch},
        embedding=np.asarray(face.embedding, dtype="<f4").tobytes(),
    )
