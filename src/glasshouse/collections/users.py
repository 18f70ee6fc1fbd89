"""Users in Rekognition's sense: identities inside a collection that group up to 100 faces.

A user's status is derived, never stored: ``CREATED`` until a face is associated, then ``ACTIVE``.
Searching users ranks each user by its best-matching face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from glasshouse.collections.ids import check_user_id
from glasshouse.collections.index import SearchIndex
from glasshouse.collections.models import Collection, Face, FaceUser
from glasshouse.collections.search_index import Vectors
from glasshouse.collections.service import CollectionService, check_dimension, face_users_lock
from glasshouse.db import serialise, transaction
from glasshouse.errors import AlreadyExistsError, GlasshouseError, NotFoundError

#: Rekognition's limit on faces associated with one user.
MAX_FACES_PER_USER = 100


class QuotaExceededError(GlasshouseError):
    code = "ServiceQuotaExceeded"


@dataclass(frozen=True, slots=True)
class UserView:
    user_id: str
    status: str  # CREATED | ACTIVE
    key: str = ""  # internal id, the pagination key


@dataclass(frozen=True, slots=True)
class Association:
    associated: list[str]
    unsuccessful: list[tuple[str, str, float | None, str | None]]  # face id, reason, similarity, user id
    status: str


@dataclass(frozen=True, slots=True)
class UserMatch:
    user: UserView
    similarity: float


class UserService:
    def __init__(
        self, sessions: sessionmaker[Session], collections: CollectionService, index: SearchIndex
    ) -> None:
        self.sessions = sessions
        self.collections = collections
        self.index = index

    def create(self, org_id: str, collection_name: str, user_id: str, *, region: str | None = None) -> None:
        check_user_id(user_id)
        with transaction(self.sessions) as session:
            collection = self.collections.lookup(session, org_id, collection_name, region)
            serialise(session, face_users_lock(collection.id))
            if self._find(session, collection, user_id) is not None:
                raise AlreadyExistsError(f"user {user_id!r} already exists in collection {collection_name!r}")
            session.add(FaceUser(collection_id=collection.id, user_id=user_id))

    def delete(self, org_id: str, collection_name: str, user_id: str, *, region: str | None = None) -> None:
        """Delete the user; its faces stay in the collection, no longer associated."""
        with transaction(self.sessions) as session:
            collection = self.collections.lookup(session, org_id, collection_name, region)
            serialise(session, face_users_lock(collection.id))
            user = self._get(session, collection, user_id)
            session.execute(update(Face).where(Face.face_user_id == user.id).values(face_user_id=None))
            session.delete(user)

    def get_all(
        self,
        org_id: str,
        collection_name: str,
        *,
        after: str | None,
        limit: int,
        region: str | None = None,
    ) -> list[UserView]:
        """Users in a stable order (by internal id), starting after id ``after`` (keyset pagination)."""
        with self.sessions() as session:
            collection = self.collections.lookup(session, org_id, collection_name, region)
            query = select(FaceUser).where(FaceUser.collection_id == collection.id)
            if after is not None:
                query = query.where(FaceUser.id > after)
            users = list(session.scalars(query.order_by(FaceUser.id).limit(limit)))
            counts = self._face_counts(session, [u.id for u in users])
        return [UserView(u.user_id, "ACTIVE" if counts.get(u.id) else "CREATED", u.id) for u in users]

    def count(self, collection: Collection) -> int:
        with self.sessions() as session:
            n = session.scalar(select(func.count(FaceUser.id)).where(FaceUser.collection_id == collection.id))
        return int(n or 0)

    def associate(
        self,
        org_id: str,
        collection_name: str,
        user_id: str,
        face_ids: Sequence[str],
        threshold: float = 75.0,
        *,
        region: str | None = None,
    ) -> Association:
        """Associate faces with the user. A face must match the user's existing faces at ``threshold``."""
        with transaction(self.sessions) as session:
            collection = self.collections.lookup(session, org_id, collection_name, region)
            # PostgreSQL: one association change per collection at a time, so a face cannot go to two
            # users and a user cannot pass its quota through concurrent calls (SQLite: BEGIN IMMEDIATE).
            serialise(session, face_users_lock(collection.id))
            user = self._get(session, collection, user_id)
            faces = {
                f.id: f
                for f in session.scalars(
                    select(Face).where(Face.collection_id == collection.id, Face.id.in_(list(face_ids)))
                )
            }
            current = list(session.scalars(select(Face).where(Face.face_user_id == user.id)))
            reference = np.stack([f.vector for f in current]) if current else None
            calibration = self.collections.calibration_for(collection)
            associated: list[str] = []
            unsuccessful: list[tuple[str, str, float | None, str | None]] = []
            total = len(current)
            for fid in dict.fromkeys(face_ids):
                face = faces.get(fid)
                if face is None:
                    unsuccessful.append((fid, "FACE_NOT_FOUND", None, None))
                    continue
                if face.face_user_id == user.id:
                    associated.append(fid)
                    continue
                if face.face_user_id is not None:
                    other = session.get(FaceUser, face.face_user_id)
                    unsuccessful.append(
                        (fid, "ASSOCIATED_TO_A_DIFFERENT_USER", None, other.user_id if other else None)
                    )
                    continue
                if reference is not None:
                    similarity = calibration.similarity(float(np.max(reference @ face.vector)))
                    if similarity < threshold:
                        unsuccessful.append((fid, "LOW_MATCH_CONFIDENCE", round(similarity, 4), None))
                        continue
                if total >= MAX_FACES_PER_USER:
                    raise QuotaExceededError(f"a user can have at most {MAX_FACES_PER_USER} faces")
                face.face_user_id = user.id
                total += 1
                associated.append(fid)
        return Association(associated, unsuccessful, "ACTIVE" if total else "CREATED")

    def disassociate(
        self,
        org_id: str,
        collection_name: str,
        user_id: str,
        face_ids: Sequence[str],
        *,
        region: str | None = None,
    ) -> Association:
        with transaction(self.sessions) as session:
            collection = self.collections.lookup(session, org_id, collection_name, region)
            serialise(session, face_users_lock(collection.id))
            user = self._get(session, collection, user_id)
            faces = {
                f.id: f
                for f in session.scalars(
                    select(Face).where(Face.collection_id == collection.id, Face.id.in_(list(face_ids)))
                )
            }
            done: list[str] = []
            unsuccessful: list[tuple[str, str, float | None, str | None]] = []
            for fid in dict.fromkeys(face_ids):
                face = faces.get(fid)
                if face is None:
                    unsuccessful.append((fid, "FACE_NOT_FOUND", None, None))
                elif face.face_user_id != user.id:
                    unsuccessful.append((fid, "ASSOCIATED_TO_A_DIFFERENT_USER", None, None))
                else:
                    face.face_user_id = None
                    done.append(fid)
            session.flush()
            left = session.scalar(select(func.count(Face.id)).where(Face.face_user_id == user.id)) or 0
        return Association(done, unsuccessful, "ACTIVE" if left else "CREATED")

    def search(
        self,
        collection: Collection,
        query: Vectors,
        *,
        threshold: float,
        max_users: int,
        exclude: str | None = None,
    ) -> list[UserMatch]:
        """Users ranked by their best face's similarity to ``query`` (at least ``threshold``)."""
        self.collections.check_model_policy(collection)
        check_dimension(collection, np.asarray(query).shape[-1])
        calibration = self.collections.calibration_for(collection)
        cosine = calibration.cosine(threshold)
        limit = max(64, max_users * MAX_FACES_PER_USER)
        hits = self.index.search(collection.id, query, limit, cosine)
        if not hits:
            return []
        best: dict[str, float] = {}
        with self.sessions() as session:
            owner = dict(
                session.execute(
                    select(Face.id, FaceUser.user_id)
                    .join(FaceUser, Face.face_user_id == FaceUser.id)
                    .where(Face.id.in_([fid for fid, _ in hits]))
                ).all()
            )
        for fid, cos in hits:
            uid = owner.get(fid)
            if uid is not None and uid != exclude and uid not in best:
                best[uid] = cos  # hits are best first
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)[:max_users]
        return [
            UserMatch(UserView(uid, "ACTIVE"), round(calibration.similarity(cos), 4)) for uid, cos in ranked
        ]

    def user_vectors(
        self, org_id: str, collection_name: str, user_id: str, *, region: str | None = None
    ) -> tuple[Collection, Vectors]:
        """The embeddings of a user's faces (the probe for SearchUsers by UserId)."""
        with self.sessions() as session:
            collection = self.collections.lookup(session, org_id, collection_name, region)
            user = self._get(session, collection, user_id)
            faces = list(session.scalars(select(Face).where(Face.face_user_id == user.id)))
        if not faces:
            return collection, np.zeros((0, collection.embedding_dim), dtype=np.float32)
        return collection, np.stack([f.vector for f in faces])

    def user_of_faces(self, session: Session, face_user_ids: Sequence[str | None]) -> dict[str, str]:
        ids = [i for i in face_user_ids if i]
        if not ids:
            return {}
        return dict(session.execute(select(FaceUser.id, FaceUser.user_id).where(FaceUser.id.in_(ids))).all())

    @staticmethod
    def _find(session: Session, collection: Collection, user_id: str) -> FaceUser | None:
        return session.scalar(
            select(FaceUser).where(FaceUser.collection_id == collection.id, FaceUser.user_id == user_id)
        )

    def _get(self, session: Session, collection: Collection, user_id: str) -> FaceUser:
        user = self._find(session, collection, user_id)
        if user is None:
            raise NotFoundError(f"user {user_id!r} not found in collection {collection.name!r}")
        return user

    @staticmethod
    def _face_counts(session: Session, user_pks: list[str]) -> dict[str, int]:
        if not user_pks:
            return {}
        rows = session.execute(
            select(Face.face_user_id, func.count(Face.id))
            .where(Face.face_user_id.in_(user_pks))
            .group_by(Face.face_user_id)
        ).all()
        return {str(k): int(v) for k, v in rows}
