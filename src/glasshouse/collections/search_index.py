"""Exact cosine search over an in-memory matrix per collection, kept consistent with the database.

Each collection's matrix is loaded lazily from the database on first use and updated by the collection
service after every committed write, so it is correct after a restart (reload) and between writes (updates).
Storage grows by doubling, removal swaps the last row in, so enrolment and deletion are amortised O(1).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Loader = Callable[[str], tuple[list[str], Vectors]]


class _Matrix:
    def __init__(self, ids: list[str], vectors: Vectors, dim: int) -> None:
        self.dim = dim
        self.ids: list[str] = list(ids)
        self.pos: dict[str, int] = {fid: i for i, fid in enumerate(self.ids)}
        capacity = max(16, len(self.ids))
        self.data = np.zeros((capacity, dim), dtype=np.float32)
        if self.ids:
            self.data[: len(self.ids)] = vectors
        self.lock = threading.Lock()

    def add(self, ids: Sequence[str], vectors: Vectors) -> None:
        with self.lock:
            fresh = [(fid, v) for fid, v in zip(ids, vectors, strict=True) if fid not in self.pos]
            need = len(self.ids) + len(fresh)
            if need > len(self.data):
                grown = np.zeros((max(need, 2 * len(self.data)), self.dim), dtype=np.float32)
                grown[: len(self.ids)] = self.data[: len(self.ids)]
                self.data = grown
            for fid, v in fresh:
                self.pos[fid] = len(self.ids)
                self.data[len(self.ids)] = v
                self.ids.append(fid)

    def remove(self, ids: Sequence[str]) -> None:
        with self.lock:
            for fid in ids:
                i = self.pos.pop(fid, None)
                if i is None:
                    continue
                last = len(self.ids) - 1
                if i != last:
                    moved = self.ids[last]
                    self.ids[i] = moved
                    self.data[i] = self.data[last]
                    self.pos[moved] = i
                self.ids.pop()

    def search(self, query: Vectors, k: int, min_cosine: float) -> list[tuple[str, float]]:
        with self.lock:
            n = len(self.ids)
            if n == 0 or k <= 0:
                return []
            scores = self.data[:n] @ query
            k = min(k, n)
            top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
            top = top[np.argsort(-scores[top], kind="stable")]
            return [(self.ids[i], float(scores[i])) for i in top if scores[i] >= min_cosine]

    def __len__(self) -> int:
        return len(self.ids)


class FaceSearchIndex:
    """Per-collection exact search. ``loader(collection_id)`` returns every (face id, embedding) stored."""

    def __init__(self, loader: Loader, dim: int = 128) -> None:
        self._loader = loader
        self._dim = dim
        self._matrices: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    def _matrix(self, collection_id: str) -> _Matrix:
        with self._lock:
            matrix = self._matrices.get(collection_id)
            if matrix is None:
                ids, vectors = self._loader(collection_id)
                matrix = _Matrix(ids, vectors, self._dim)
                self._matrices[collection_id] = matrix
            return matrix

    def search(
        self, collection_id: str, query: Vectors, k: int, min_cosine: float = -1.0
    ) -> list[tuple[str, float]]:
        """Up to ``k`` (face id, cosine) pairs with cosine >= ``min_cosine``, best first."""
        return self._matrix(collection_id).search(np.asarray(query, dtype=np.float32), k, min_cosine)

    def size(self, collection_id: str) -> int:
        return len(self._matrix(collection_id))

    def added(self, collection_id: str, ids: Sequence[str], vectors: Vectors) -> None:
        """Record committed inserts (a no-op for collections not loaded yet: they load fresh)."""
        with self._lock:
            matrix = self._matrices.get(collection_id)
        if matrix is not None:
            matrix.add(ids, vectors)

    def removed(self, collection_id: str, ids: Sequence[str]) -> None:
        with self._lock:
            matrix = self._matrices.get(collection_id)
        if matrix is not None:
            matrix.remove(ids)

    def dropped(self, collection_id: str) -> None:
        with self._lock:
            self._matrices.pop(collection_id, None)
