"""Tables for collections, faces and users (Rekognition's identities that group faces)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from glasshouse.collections.vector_type import DEFAULT_EMBEDDING_DIM, EmbeddingType
from glasshouse.db import Base, new_id, utcnow


class Collection(Base):
    """A face collection of one organisation in one region (as on AWS, a region's collections are its own)."""

    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("org_id", "region", "name", name="uq_collection_org_region_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    region: Mapped[str] = mapped_column(String(64))  # as long as SigV4 accepts (rekognition/sigv4.py)
    name: Mapped[str] = mapped_column(String(255))
    #: The engine's model identifier when the collection was created (``FaceEngine.model_version``).
    face_model_version: Mapped[str] = mapped_column(String(64))
    #: Faces are deleted this many days after enrolment (None: kept until deleted).
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Length of its model's embeddings: every face in it has exactly this many (one model per collection).
    embedding_dim: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_EMBEDDING_DIM, server_default=str(DEFAULT_EMBEDDING_DIM)
    )
    #: Enrolment needs a consent reference (Illinois BIPA-style written release).
    consent_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: Why each enrolled face's crop is kept for reviewers (opted in at creation, audited); None: no crop.
    face_crops_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    faces: Mapped[list[Face]] = relationship(
        back_populates="collection", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def keeps_face_crops(self) -> bool:
        return self.face_crops_reason is not None


class FaceUser(Base):
    """A user in Rekognition's sense: one identity that several faces are associated with."""

    __tablename__ = "face_users"
    __table_args__ = (UniqueConstraint("collection_id", "user_id", name="uq_face_user"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Face(Base):
    """An enrolled face. The embedding is ``embedding_dim`` float32 values as raw little-endian bytes in
    Python (stored as an untyped pgvector ``vector`` on PostgreSQL, searched there by one partial HNSW index
    per dimension, ``ix_faces_embedding_hnsw_<dim>``: ``vector_type`` and migration 0014)."""

    __tablename__ = "faces"
    __table_args__ = (
        Index("ix_faces_collection_sha", "collection_id", "image_sha256"),
        Index("ix_faces_collection_external", "collection_id", "external_image_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[str] = mapped_column(String(36))
    external_image_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_width: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int] = mapped_column(Integer)
    box_left: Mapped[float] = mapped_column(Float)
    box_top: Mapped[float] = mapped_column(Float)
    box_width: Mapped[float] = mapped_column(Float)
    box_height: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    pose: Mapped[dict[str, Any]] = mapped_column(JSON)
    embedding: Mapped[bytes] = mapped_column(EmbeddingType())
    #: The embedding's length, kept beside it: the predicate of the per-dimension HNSW indexes (PostgreSQL
    #: indexes only rows of one dimension). Set from ``embedding`` whenever that is assigned.
    embedding_dim: Mapped[int] = mapped_column(Integer, server_default=str(DEFAULT_EMBEDDING_DIM))
    face_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("face_users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    consent_reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)

    collection: Mapped[Collection] = relationship(back_populates="faces")
    user: Mapped[FaceUser | None] = relationship()

    @validates("embedding")
    def _set_dim(self, _key: str, value: bytes) -> bytes:
        self.embedding_dim = len(value) // 4
        return value

    @property
    def vector(self) -> npt.NDArray[np.float32]:
        return np.frombuffer(self.embedding, dtype="<f4")


@dataclass(frozen=True, slots=True)
class FaceRecord:
    """A read-only view of an enrolled face, safe to use after its session has closed."""

    id: str
    collection_id: str
    image_id: str
    external_image_id: str | None
    image_width: int
    image_height: int
    box_left: float
    box_top: float
    box_width: float
    box_height: float
    confidence: float
    user_id: str | None
    created_at: datetime
    vector: npt.NDArray[np.float32] = field(repr=False, compare=False)

    @classmethod
    def of(cls, face: Face, user_id: str | None) -> FaceRecord:
        return cls(
            id=face.id,
            collection_id=face.collection_id,
            image_id=face.image_id,
            external_image_id=face.external_image_id,
            image_width=face.image_width,
            image_height=face.image_height,
            box_left=face.box_left,
            box_top=face.box_top,
            box_width=face.box_width,
            box_height=face.box_height,
            confidence=face.confidence,
            user_id=user_id,
            created_at=face.created_at,
            vector=face.vector,
        )


class DeletionCertificate(Base):
    """Proof that faces were deleted: when, why, how many, and a digest of their ids (not the faces)."""

    __tablename__ = "deletion_certificates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    collection_name: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(32))  # retention | subject_request
    selector: Mapped[dict[str, Any]] = mapped_column(JSON)
    face_count: Mapped[int] = mapped_column(Integer)
    face_ids_sha256: Mapped[str] = mapped_column(String(64))
    #: How many of the deleted faces had a kept crop (deleted with them, in the same transaction).
    crops_deleted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    requested_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FaceCrop(Base):
    """An enrolled face's crop (a JPEG of at most 64 KB), kept only in collections that opted in, sealed
    with the server key (``SecretBox``, bound to the face id); deleted with its face (foreign key cascade)."""

    __tablename__ = "face_crops"

    face_id: Mapped[str] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
