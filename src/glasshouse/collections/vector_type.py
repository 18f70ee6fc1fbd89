"""The face embedding column: pgvector ``vector(128)`` on PostgreSQL, raw float32 bytes on SQLite.

One column with a dialect-dependent storage type (rather than a second, PostgreSQL-only column) keeps a
single source of truth and the same Python value on both backends: 128 little-endian float32 values as
``bytes``. So every reader (``Face.vector``, the in-memory index loader) is backend-agnostic, and on
PostgreSQL the HNSW index (migration 0010) works on the very column the application writes. Text is the
wire format of a bound vector; float32 survives it exactly (shortest round-trip decimals both ways).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import Dialect, LargeBinary
from sqlalchemy.types import TypeDecorator, TypeEngine

EMBEDDING_DIM = 128


class EmbeddingType(TypeDecorator[bytes]):
    """``bytes`` in Python; ``VECTOR(dim)`` on PostgreSQL, ``BLOB`` elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, dim: int = EMBEDDING_DIM) -> None:
        super().__init__()
        self.dim = dim

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(VECTOR(self.dim))
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
