"""Collections of different embedding dimensions (one face model each) in one database, on the backend under
test: each is stored and searched with its own dimension (exact and approximate/HNSW paths), an embedding of
another dimension is refused and changes nothing, PostgreSQL serves each dimension from its own partial HNSW
index, and migration 0014 upgrades existing 128-d faces in place and downgrades them.

The 128-d side uses real embeddings from the engine (LFW images) where the engine's output is what is stored.
No 192-d model exists on this branch and the store is the thing under test, so the 192-d side (and the 64-d
one that exercises an index made on demand) uses deterministic, seeded random unit vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, func, select, text, update

from glasshouse import db
from glasshouse.collections.ann import ApproximateIndex
from glasshouse.collections.models import Collection, Face
from glasshouse.collections.pgvector_index import PgVectorSearchIndex, search_sql
from glasshouse.collections.search_index import FaceSearchIndex
from glasshouse.collections.service import ImageMeta, load_vectors
from glasshouse.collections.vector_type import EmbeddingType, hnsw_index_name, vector_literal
from glasshouse.config import Settings
from glasshouse.engine.types import Box, Detection, Pose, Quality
from glasshouse.engine.types import Face as AnalysedFace
from glasshouse.errors import EmbeddingDimensionError
from glasshouse.governance.policy import Capability
from glasshouse.rekognition.errors import aws_error
from glasshouse.services import Services

DIM2 = 192


def _units(seed: int, n: int, dim: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _face(vector: np.ndarray) -> AnalysedFace:
    return AnalysedFace(
        detection=Detection(Box(10, 10, 60, 60), 0.99, np.full((5, 2), 30.0, dtype=np.float32)),
        pose=Pose(0.0, 0.0, 0.0),
        quality=Quality(50.0, 50.0),
        embedding=np.asarray(vector, dtype=np.float32),
    )


def _collection(svc: Services, org: str, name: str, dim: int) -> Collection:
    """A collection of ``dim``-d embeddings. Collections take their dimension from the engine's model card
    (the model registry, built elsewhere); until then a non-default dimension is set on the row directly."""
    collection = svc.collections.create(org, name)
    if dim != collection.embedding_dim:
        with db.transaction(svc.sessions) as session:
            session.execute(
                update(Collection).where(Collection.id == collection.id).values(embedding_dim=dim)
            )
        svc.search_index.prepare(dim)
    return svc.collections.get(org, name)


def _store(svc: Services, collection: Collection, vectors: np.ndarray, tag: str) -> list[str]:
    images = [
        (ImageMeta(100, 100, f"{tag}{i}".ljust(64, "0")), [_face(v)], f"{tag}-{i}")
        for i, v in enumerate(vectors)
    ]
    stored = svc.collections.add_images(collection, images, model_version=collection.face_model_version)
    return [group[0].id for group in stored]


def _enrol_real(svc: Services, org: str, name: str, paths: list[Path]) -> list[str]:
    ids = []
    with svc.gate.guard(svc.cli_actor(), Capability.FACE_INDEX):
        for path in paths:
            outcome = svc.collections.index_image(org, name, path.read_bytes(), max_faces=1)
            ids += [face.id for face, _ in outcome.indexed]
    return ids


def _exact(svc: Services, collection_id: str, query: np.ndarray, k: int) -> list[str]:
    ids, vectors = load_vectors(svc.sessions, collection_id)
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [ids[i] for i in order]


@pytest.fixture(scope="module")
def lfw_people(shared_data: Path) -> list[list[Path]]:
    """Three images each of 4 LFW people (the third is a held-out probe)."""
    root = shared_data / "lfw" / "lfw-deepfunneled"
    people = [sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir()]
    return [p[:3] for p in people if len(p) >= 3][:4]


def _open(settings: Settings, approximate_above: int | None = None) -> Services:
    return Services(
        settings.model_copy(update={"approximate_above": approximate_above, "approximate_save_seconds": 0})
    )


def _check_both_dimensions(svc: Services, org: str, lfw_people: list[list[Path]]) -> None:
    """Search the real 128-d collection and the 192-d one side by side, each with its own probes."""
    real = svc.collections.get(org, "dlib")
    wide = svc.collections.get(org, "wide")
    assert (real.embedding_dim, wide.embedding_dim) == (128, DIM2)
    _, real_vectors = load_vectors(svc.sessions, real.id)
    wide_ids, wide_vectors = load_vectors(svc.sessions, wide.id)
    assert real_vectors.shape[1] == 128 and wide_vectors.shape == (len(wide_ids), DIM2)
    for person in lfw_people:  # held-out real probes find their person's face, as exact search does
        with svc.gate.guard(svc.cli_actor(), Capability.FACE_SEARCH):
            found = svc.collections.search_by_image(org, "dlib", person[2].read_bytes(), threshold=0)
            probe = svc.analyser.analyse(person[2].read_bytes()).faces[0].embedding
        assert probe is not None
        assert [m.face.id for m in found.matches] == _exact(svc, real.id, probe, 1)
        assert found.matches[0].face.external_image_id in {p.name for p in person[:2]}
    noisy = wide_vectors[::7] + 0.05 * _units(9, len(wide_vectors[::7]), DIM2)
    for want, query in zip(wide_ids[::7], noisy, strict=True):
        hits = svc.search_index.search(wide.id, query / np.linalg.norm(query), 5)
        assert hits[0][0] == want and [h[0] for h in hits] == _exact(svc, wide.id, query, 5)
    face, matches = svc.collections.search_by_face_id(org, "wide", wide_ids[3], threshold=0, max_faces=3)
    assert face.vector.shape == (DIM2,)
    assert [m.face.id for m in matches] == _exact(svc, wide.id, wide_vectors[3], 4)[1:]


def _external_names(lfw_people: list[list[Path]]) -> list[Path]:
    return [p for person in lfw_people for p in person[:2]]


def test_two_dimensions_in_one_database_each_searched_with_its_own(
    settings: Settings, lfw_people: list[list[Path]]
) -> None:
    """Exact in-memory search on SQLite, pgvector (per-dimension HNSW) on PostgreSQL."""
    svc = _open(settings)
    try:
        org = svc.org_id()
        _collection(svc, org, "dlib", 128)
        _collection(svc, org, "wide", DIM2)
        with svc.gate.guard(svc.cli_actor(), Capability.FACE_INDEX):
            for path in _external_names(lfw_people):
                svc.collections.index_image(
                    org, "dlib", path.read_bytes(), max_faces=1, external_image_id=path.name
                )
        _store(svc, svc.collections.get(org, "wide"), _units(1, 60, DIM2), "w")
        if isinstance(svc.search_index, FaceSearchIndex):
            assert not svc.search_index.is_approximate(svc.collections.get(org, "wide").id)
        _check_both_dimensions(svc, org, lfw_people)
    finally:
        svc.close()


def test_approximate_indexes_of_two_dimensions_survive_a_restart(
    settings: Settings, lfw_people: list[list[Path]], caplog: pytest.LogCaptureFixture
) -> None:
    """The in-process HNSW graphs (SQLite): one per collection, each of its collection's dimension, saved
    and loaded again (not rebuilt) after a restart."""
    svc = _open(settings, approximate_above=5)
    if not isinstance(svc.search_index, FaceSearchIndex):
        svc.close()
        pytest.skip("PostgreSQL searches in the database (its HNSW paths: the tests above and below)")
    org = svc.org_id()
    try:
        _collection(svc, org, "dlib", 128)
        wide = _collection(svc, org, "wide", DIM2)
        assert svc.search_index.size(wide.id) == 0  # loaded empty, as a (0, 192) matrix
        with svc.gate.guard(svc.cli_actor(), Capability.FACE_INDEX):
            for path in _external_names(lfw_people):
                svc.collections.index_image(
                    org, "dlib", path.read_bytes(), max_faces=1, external_image_id=path.name
                )
        _store(svc, wide, _units(1, 60, DIM2), "w")
        for name in ("dlib", "wide"):
            assert svc.search_index.is_approximate(svc.collections.get(org, name).id)
        _check_both_dimensions(svc, org, lfw_people)
    finally:
        svc.close()
    graph = settings.data_dir / "index" / f"{wide.id}.hnsw"
    saved = ApproximateIndex.load(graph, None)
    assert saved is not None and saved.dim == DIM2 and len(saved) == 60

    again = _open(settings, approximate_above=5)
    try:
        caplog.clear()  # the first server's builds were logged too when an earlier test set INFO
        with caplog.at_level(logging.INFO, logger="glasshouse.collections.search_index"):
            _check_both_dimensions(again, org, lfw_people)
        built = [r.getMessage() for r in caplog.records if "built" in r.getMessage()]
        assert built == []  # both graphs were loaded from their files
    finally:
        again.close()


def test_an_embedding_of_another_dimension_is_refused_and_changes_nothing(settings: Settings) -> None:
    svc = _open(settings)
    try:
        org = svc.org_id()
        narrow = _collection(svc, org, "narrow", 128)
        wide = _collection(svc, org, "wide", DIM2)
        kept = _store(svc, narrow, _units(2, 5, 128), "n")
        assert svc.search_index.size(narrow.id) == 5
        one_good = [_face(_units(3, 1, 128)[0]), _face(_units(5, 1, DIM2)[0])]
        for bad in ([_face(_units(4, 1, DIM2)[0])], one_good):
            with pytest.raises(EmbeddingDimensionError, match="192"):
                svc.collections.add_faces(
                    narrow, ImageMeta(100, 100, "b" * 64), bad, model_version=narrow.face_model_version
                )
        with pytest.raises(EmbeddingDimensionError, match="128"):
            svc.collections.add_faces(
                wide,
                ImageMeta(100, 100, "c" * 64),
                [_face(_units(6, 1, 128)[0])],
                model_version=wide.face_model_version,
            )
        with svc.sessions() as session:
            stored = session.scalars(
                select(Face.id).where(Face.collection_id.in_([narrow.id, wide.id]))
            ).all()
        assert sorted(stored) == sorted(kept)  # nothing of the refused batches, not even the 128-d face
        assert (svc.search_index.size(narrow.id), svc.search_index.size(wide.id)) == (5, 0)
        # A probe of another model is refused too, not searched against the wrong vectors.
        with pytest.raises(EmbeddingDimensionError):
            svc.users.search(narrow, _units(7, 1, DIM2)[0], threshold=0, max_users=1)
        status, name, _ = aws_error(EmbeddingDimensionError("x"))
        assert (status, name) == (400, "InvalidParameterException")
    finally:
        svc.close()


# -- PostgreSQL: one HNSW index per dimension ---------------------------------------------------------------


def _plan(engine: Engine, collection_id: str, query: np.ndarray) -> str:
    """The search's plan when the HNSW index can serve it. At 1,500 rows a collection the planner may still
    prefer sorting the collection's rows exactly (a cost estimate that moves with ANALYZE's sample), so
    sorting is priced out: an index whose expression or predicate did not match the query would leave the
    sort as the only plan, and the assertion on the plan would fail."""
    with engine.connect() as conn:
        conn.execute(text("SET LOCAL enable_sort = off"))
        rows = conn.execute(
            text("EXPLAIN " + search_sql(query.size).text),
            {"c": collection_id, "q": vector_literal(query), "k": 10},
        ).all()
    return "\n".join(str(r[0]) for r in rows)


def test_postgresql_serves_each_dimension_from_its_own_hnsw_index(settings: Settings) -> None:
    svc = _open(settings)
    if not isinstance(svc.search_index, PgVectorSearchIndex):
        svc.close()
        pytest.skip("PostgreSQL only: SQLite searches in the process")
    try:
        org = svc.org_id()
        stored: dict[int, tuple[str, list[str], np.ndarray]] = {}
        for dim in (128, DIM2, 64):  # 64: not made by the migration, its index is made with the collection
            collection = _collection(svc, org, f"d{dim}", dim)
            vectors = _units(dim, 1500, dim)
            stored[dim] = (collection.id, _store(svc, collection, vectors, f"d{dim}"), vectors)
        with svc.db_engine.begin() as conn:
            conn.execute(text("ANALYZE faces"))
            names = set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'faces'")))
        assert {hnsw_index_name(d) for d in (128, DIM2, 64)} <= names
        assert "ix_faces_embedding_hnsw" not in names
        for dim, (collection_id, ids, vectors) in stored.items():
            plan = _plan(svc.db_engine, collection_id, vectors[0])
            assert f"Index Scan using {hnsw_index_name(dim)}" in plan, plan
            for i in (0, 500, 1499):
                hits = svc.search_index.search(collection_id, vectors[i], 3)
                assert hits[0][0] == ids[i] and hits[0][1] == pytest.approx(1.0, abs=1e-5)
                assert [h[0] for h in hits] == _exact(svc, collection_id, vectors[i], 3)
    finally:
        svc.close()


# -- migration 0014 ---------------------------------------------------------------------------------------


def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", db.normalise_url(url).replace("%", "%%"))
    return cfg


def _faces_0013() -> sa.TableClause:
    """``faces`` as revision 0013 left it (the ORM model describes the new schema)."""
    return sa.table(
        "faces",
        *(sa.column(c, sa.String) for c in ("id", "collection_id", "image_id", "image_sha256")),
        *(sa.column(c, sa.Integer) for c in ("image_width", "image_height")),
        *(sa.column(c, sa.Float) for c in ("box_left", "box_top", "box_width", "box_height", "confidence")),
        *(sa.column(c, sa.JSON) for c in ("landmarks", "quality", "pose")),
        sa.column("embedding", EmbeddingType()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )


def _column_type(engine: Engine) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(
            conn.scalar(
                text(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = 'faces'::regclass AND attname = 'embedding'"
                )
            )
        )


def _embeddings(engine: Engine) -> dict[str, bytes]:
    table = sa.table("faces", sa.column("id", sa.String), sa.column("embedding", EmbeddingType()))
    with engine.connect() as conn:
        return {str(i): bytes(e) for i, e in conn.execute(select(table.c.id, table.c.embedding))}


def test_migration_0014_upgrades_128d_faces_in_place_and_downgrades(
    tmp_path: Path, fresh_database_url: Callable[[], Any]
) -> None:
    url = fresh_database_url() or f"sqlite:///{tmp_path / 'm.sqlite'}"
    cfg = _alembic(url)
    command.upgrade(cfg, "head")  # PostgreSQL: a copy of the migrated template, already at head
    command.downgrade(cfg, "0013")
    engine = db.make_engine(url)
    vectors = _units(11, 40, 128)
    org_id, collection_id, now = db.new_id(), db.new_id(), db.utcnow()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (id, name, flags, is_operator, created_at) "
                "VALUES (:i, 'o', '[]', :f, :t)"
            ),
            {"i": org_id, "f": False, "t": now},
        )
        conn.execute(
            text(
                "INSERT INTO collections (id, org_id, region, name, face_model_version, consent_required, "
                "created_at) VALUES (:i, :o, 'us-east-1', 'old', 'v', :f, :t)"
            ),
            {"i": collection_id, "o": org_id, "f": False, "t": now},
        )
        conn.execute(
            _faces_0013().insert(),
            [
                {
                    "id": f"face-{i:02d}",
                    "collection_id": collection_id,
                    "image_id": f"img-{i}",
                    "image_sha256": "0" * 64,
                    "image_width": 100,
                    "image_height": 100,
                    **dict.fromkeys(("box_left", "box_top", "box_width", "box_height"), 0.2),
                    "confidence": 0.9,
                    "landmarks": [[1.0, 2.0]] * 5,
                    "quality": {"brightness": 50.0, "sharpness": 50.0},
                    "pose": {"roll": 0.0, "yaw": 0.0, "pitch": 0.0},
                    "embedding": v.astype("<f4").tobytes(),
                    "created_at": now,
                }
                for i, v in enumerate(vectors)
            ],
        )
    before = _embeddings(engine)
    assert _column_type(engine) in (None, "vector(128)")
    engine.dispose()

    command.upgrade(cfg, "head")
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    assert _column_type(engine) in (None, "vector")
    assert _embeddings(engine) == before  # the same float32 values, unchanged
    with sessions() as session:
        assert session.scalar(select(Collection.embedding_dim)) == 128
        assert set(session.scalars(select(Face.embedding_dim))) == {128}
    _, loaded = load_vectors(sessions, collection_id)
    assert loaded.shape == (40, 128)
    index: Any = (
        PgVectorSearchIndex(engine)
        if engine.dialect.name == "postgresql"
        else FaceSearchIndex(lambda cid: load_vectors(sessions, cid))
    )
    for i in (0, 17, 39):
        assert index.search(collection_id, vectors[i], 1)[0][0] == f"face-{i:02d}"

    # A 192-d collection blocks the downgrade (a vector(128) column cannot hold it); nothing changes.
    with db.transaction(sessions) as session:
        wide = Collection(
            org_id=org_id, region="us-east-1", name="wide", face_model_version="w", embedding_dim=192
        )
        session.add(wide)
        session.flush()
        wide_id = wide.id
    svc_faces = _units(12, 1, 192)
    with db.transaction(sessions) as session:
        row = Face(
            collection_id=wide_id,
            image_id="w",
            image_sha256="1" * 64,
            image_width=100,
            image_height=100,
            box_left=0.2,
            box_top=0.2,
            box_width=0.2,
            box_height=0.2,
            confidence=0.9,
            landmarks=[[1.0, 2.0]] * 5,
            quality={},
            pose={},
            embedding=svc_faces[0].tobytes(),
        )
        session.add(row)
    engine.dispose()
    command.downgrade(cfg, "0014")  # the later revisions first, so the refusal below is 0014's
    with pytest.raises(RuntimeError, match="other than 128"):
        command.downgrade(cfg, "0013")
    engine = db.make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0014"
        assert conn.scalar(text("SELECT count(*) FROM faces WHERE embedding_dim = 192")) == 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM faces WHERE collection_id = :c"), {"c": wide_id})
        conn.execute(text("DELETE FROM collections WHERE id = :c"), {"c": wide_id})
    engine.dispose()

    command.downgrade(cfg, "0013")
    engine = db.make_engine(url)
    try:
        assert _column_type(engine) in (None, "vector(128)")
        assert _embeddings(engine) == before
        with engine.connect() as conn:
            columns = list(conn.execute(text("SELECT * FROM faces")).keys())
            indexes = (
                set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'faces'")))
                if engine.dialect.name == "postgresql"
                else set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
            )
            count = conn.scalar(select(func.count()).select_from(sa.table("faces")))
        assert "embedding_dim" not in columns and count == 40
        assert "ix_faces_embedding_hnsw" in indexes and hnsw_index_name(128) not in indexes
    finally:
        engine.dispose()
