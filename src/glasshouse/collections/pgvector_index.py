"""Face search inside PostgreSQL with pgvector: the database is the index.

:class:`PgVectorSearchIndex` answers the same calls as the in-memory
:class:`~glasshouse.collections.search_index.FaceSearchIndex`, but every search is one SQL query over
``faces.embedding`` ordered by cosine distance. The column holds every dimension (an untyped ``vector``);
the query casts it to the probe's dimension and filters on ``embedding_dim`` exactly as the partial HNSW
index of that dimension does (``vector_type.hnsw_index_ddl``), so the planner can serve it from that index.
It keeps no state in the process, so any number of ``glasshouse serve`` processes and workers on several
machines see each other's writes the moment they commit; ``added``/``removed``/``dropped`` are
no-ops because the committed rows *are* the index.

Search parameters are session defaults sent with each pooled connection (``db.make_engine``), so a search
is one round trip; a larger ``ef_search`` is set per query (``SET LOCAL``):

* ``hnsw.ef_search``: the candidate list, ``max(ef_search, k)`` capped at 1000 (pgvector's maximum).
  100 (``db.PG_HNSW_EF_SEARCH``) gives recall@1 >= 0.99 on face embeddings (``glasshouse bench
  search``); raise it for recall, lower it for latency.
* ``hnsw.iterative_scan = strict_order`` (pgvector >= 0.8): the index holds every collection's faces and
  the query filters on ``collection_id``; when fewer than ``k`` of the first candidates pass the filter the
  scan continues (up to ``hnsw.max_scan_tuples``, 20,000 by default) instead of returning too few rows,
  and results stay in exact distance order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, TextClause, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from glasshouse.collections.models import Face
from glasshouse.collections.vector_type import (
    INDEXED_DIMS,
    MAX_INDEXED_DIM,
    hnsw_expression,
    hnsw_index_ddl,
    hnsw_index_name,
    vector_literal,
)
from glasshouse.db import PG_HNSW_EF_SEARCH

Vectors = npt.NDArray[np.float32]
EF_SEARCH = PG_HNSW_EF_SEARCH
MAX_EF_SEARCH = 1000

log = logging.getLogger(__name__)


def search_sql(dim: int) -> TextClause:
    """The search of faces of dimension ``dim``: the ORDER BY expression and the ``embedding_dim`` predicate
    are those of the dimension's partial HNSW index, or the planner could not use it."""
    dim = int(dim)
    return text(
        f"SELECT id, {hnsw_expression(dim)} <=> CAST(:q AS vector({dim})) AS distance FROM faces "
        f"WHERE collection_id = :c AND embedding_dim = {dim} ORDER BY distance LIMIT :k"
    )


class PgVectorSearchIndex:
    """Cosine search by pgvector HNSW; stateless (the database is the index)."""

    def __init__(self, engine: Engine, ef_search: int = EF_SEARCH) -> None:
        self._engine = engine
        # Searches only read: autocommit spares the BEGIN and ROLLBACK round trips of a transaction.
        self._reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._ef_search = ef_search
        self._prepared: set[int] = set()

    def search(
        self, collection_id: str, query: Vectors, k: int, min_cosine: float = -1.0
    ) -> list[tuple[str, float]]:
        """Up to ``k`` (face id, cosine) pairs with cosine >= ``min_cosine``, best first."""
        if k <= 0:
            return []
        ef = min(MAX_EF_SEARCH, max(self._ef_search, k))
        query_sql = search_sql(np.asarray(query).size)
        params = {"q": vector_literal(np.asarray(query, dtype=np.float32)), "c": collection_id, "k": k}
        if ef == PG_HNSW_EF_SEARCH:  # the connection's default: the search is one round trip
            with self._reads.connect() as conn:
                rows = conn.execute(query_sql, params).all()
        else:
            with self._engine.begin() as conn:
                conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef)}"))
                rows = conn.execute(query_sql, params).all()
        hits = ((str(fid), 1.0 - float(distance)) for fid, distance in rows)
        return [(fid, cosine) for fid, cosine in hits if cosine >= min_cosine]

    def prepare(self, dim: int) -> None:
        """Make sure faces of dimension ``dim`` have their HNSW index (migration 0014 made those of
        ``INDEXED_DIMS``). Called when a collection is created, when no face of a new dimension exists yet,
        so the build only reads the table (writes to ``faces`` wait for that scan). Above pgvector's HNSW
        limit nothing is built: such a collection is searched exactly (correct, only slower), as it is when
        the build fails (logged; the collection was already committed and stays usable)."""
        if dim in self._prepared:
            return
        if dim in INDEXED_DIMS:
            self._prepared.add(dim)
            return
        if not 1 <= dim <= MAX_INDEXED_DIM:
            log.warning(
                "embedding dimension %d has no HNSW index (pgvector indexes up to %d)", dim, MAX_INDEXED_DIM
            )
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(7418800014)"))  # one builder at a time
                conn.execute(text(hnsw_index_ddl(dim)))
        except SQLAlchemyError:
            log.exception("HNSW index for %d-dimensional embeddings not built: searched exactly", dim)
            return
        log.info("HNSW index %s built for %d-dimensional embeddings", hnsw_index_name(dim), dim)
        self._prepared.add(dim)

    def size(self, collection_id: str) -> int:
        with self._reads.connect() as conn:
            n = conn.scalar(select(func.count(Face.id)).where(Face.collection_id == collection_id))
        return int(n or 0)

    def added(self, collection_id: str, ids: Sequence[str], vectors: Vectors) -> None:
        """Nothing to do: committed rows are searchable by every process at once."""

    def removed(self, collection_id: str, ids: Sequence[str]) -> None:
        """Nothing to do: deleted rows leave the index with their transaction."""

    def dropped(self, collection_id: str) -> None:
        """Nothing to do: a deleted collection's faces were deleted with it."""
