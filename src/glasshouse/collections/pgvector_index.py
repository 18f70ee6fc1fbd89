"""Face search inside PostgreSQL with pgvector: the database is the index.

:class:`PgVectorSearchIndex` answers the same calls as the in-memory
:class:`~glasshouse.collections.search_index.FaceSearchIndex`, but every search is one SQL query over
``faces.embedding`` (``vector(128)``) ordered by cosine distance, served by the HNSW index of migration
0010. It keeps no state in the process, so any number of ``glasshouse serve`` processes and workers on
several machines see each other's writes the moment they commit; ``added``/``removed``/``dropped`` are
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

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, func, select, text

from glasshouse.collections.models import Face
from glasshouse.collections.vector_type import vector_literal
from glasshouse.db import PG_HNSW_EF_SEARCH

Vectors = npt.NDArray[np.float32]
EF_SEARCH = PG_HNSW_EF_SEARCH
MAX_EF_SEARCH = 1000

_SEARCH = text(
    "SELECT id, embedding <=> CAST(:q AS vector) AS distance FROM faces "
    "WHERE collection_id = :c ORDER BY distance LIMIT :k"
)


class PgVectorSearchIndex:
    """Cosine search by pgvector HNSW; stateless (the database is the index)."""

    def __init__(self, engine: Engine, ef_search: int = EF_SEARCH) -> None:
        self._engine = engine
        # Searches only read: autocommit spares the BEGIN and ROLLBACK round trips of a transaction.
        self._reads = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._ef_search = ef_search

    def search(
        self, collection_id: str, query: Vectors, k: int, min_cosine: float = -1.0
    ) -> list[tuple[str, float]]:
        """Up to ``k`` (face id, cosine) pairs with cosine >= ``min_cosine``, best first."""
        if k <= 0:
            return []
        ef = min(MAX_EF_SEARCH, max(self._ef_search, k))
        params = {"q": vector_literal(np.asarray(query, dtype=np.float32)), "c": collection_id, "k": k}
        if ef == PG_HNSW_EF_SEARCH:  # the connection's default: the search is one round trip
            with self._reads.connect() as conn:
                rows = conn.execute(_SEARCH, params).all()
        else:
            with self._engine.begin() as conn:
                conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef)}"))
                rows = conn.execute(_SEARCH, params).all()
        hits = ((str(fid), 1.0 - float(distance)) for fid, distance in rows)
        return [(fid, cosine) for fid, cosine in hits if cosine >= min_cosine]

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
