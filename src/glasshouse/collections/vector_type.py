"""The face embedding column: pgvector ``vector`` (any dimension) on PostgreSQL, raw float32 bytes on SQLite.

One column with a dialect-dependent storage type (rather than a second, PostgreSQL-only column) keeps a
single source of truth and the same Python value on both backends: the embedding's little-endian float32
values as ``bytes``. So every reader (``Face.vector``, the in-memory index loader) is backend-agnostic, and
on PostgreSQL the HNSW indexes work on the very column the application writes. Text is the wire format of a
bound vector; float32 survives it exactly (shortest round-trip decimals both ways).

Several dimensions live in one table (one per face model: 128 for dlib's ResNet, 192 for MobileFaceNet):
the column is an untyped ``vector`` and each face row records its ``embedding_dim``. pgvector's HNSW
needs one dimension per index, so there is one partial expression index per dimension
(:func:`hnsw_index_ddl`): ``USING hnsw ((embedding::vector(D)) vector_cosine_ops) WHERE embedding_dim = D``,
and a search names the same expression and predicate (``pgvector_index``) so the planner can use it.
Migration 0014 creates the indexes of :data:`INDEXED_DIMS`; a collection of any other dimension gets its
index when it is created (``PgVectorSearchIndex.prepare``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Dialect, LargeBinary
from sqlalchemy.types import TypeDecorator, TypeEngine

#: The dimension of a collection made before model packs (dlib's ResNet), and the column's server default.
DEFAULT_EMBEDDING_DIM = 128
#: Dimensions whose HNSW index migration 0014 creates (dlib's ResNet, MobileFaceNet).
INDEXED_DIMS = (128, 192)
#: pgvector's HNSW limit for ``vector``: a larger embedding is stored and searched exactly, unindexed.
MAX_INDEXED_DIM = 2000
#: HNSW graph parameters of every per-dimension index (chosen in migration 0010: pgvector's defaults).
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 64


class EmbeddingType(TypeDecorator[bytes]):
    """``bytes`` in Python; an untyped ``VECTOR`` on PostgreSQL, ``BLOB`` elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "postgresql":
            return value
        return np.frombuffer(value, dtype="<f4")

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None or dialect.name != "postgresql":
            return value  # type: ignore[no-any-return]
        return np.asarray(value, dtype="<f4").tobytes()


def vector_literal(vector: Any) -> str:
    """``vector`` as pgvector's text input (``[x,y,...]``), exact for float32 values."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32).ravel()) + "]"


def hnsw_index_name(dim: int) -> str:
    return f"ix_faces_embedding_hnsw_{int(dim)}"


def hnsw_expression(dim: int) -> str:
    """The indexed expression; a query must order by exactly this for the planner to use the index."""
    return f"(embedding::vector({int(dim)}))"


def hnsw_index_ddl(dim: int) -> str:
    """``CREATE INDEX`` of the HNSW index serving faces of dimension ``dim`` (PostgreSQL)."""
    dim = int(dim)
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(dim)} ON faces "
        f"USING hnsw ({hnsw_expression(dim)} vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE embedding_dim = {dim}"
    )
