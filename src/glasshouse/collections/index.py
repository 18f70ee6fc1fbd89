"""What the collection, user and retention services need from a face index, whatever holds it.

Implementations: :class:`~glasshouse.collections.search_index.FaceSearchIndex` (in memory, exact or
approximate above a size; the SQLite default) and
:class:`~glasshouse.collections.pgvector_index.PgVectorSearchIndex` (inside PostgreSQL). ``Services``
picks one by the database's dialect. Both serve collections of several embedding dimensions at once (a
query has its collection's dimension: ``CollectionService`` checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class SearchIndex(Protocol):
    """What the collection, user and retention services need from a face index."""

    def search(
        self, collection_id: str, query: Vectors, k: int, min_cosine: float = -1.0
    ) -> list[tuple[str, float]]: ...

    def size(self, collection_id: str) -> int: ...

    def prepare(self, dim: int) -> None:
        """Get ready for collections of embedding dimension ``dim`` (PostgreSQL: its HNSW index)."""

    def added(self, collection_id: str, ids: Sequence[str], vectors: Vectors) -> None: ...

    def removed(self, collection_id: str, ids: Sequence[str]) -> None: ...

    def dropped(self, collection_id: str) -> None: ...
