"""Per-collection cosine search kept consistent with the database: exact, or approximate when large.

Each collection's index is loaded lazily from the database on first use and updated by the domain services
after every committed write (``after_commit``), so it is correct after a restart (reload) and between writes
(updates).

Exact search (an in-memory matrix) is the default. Storage grows by doubling, removal swaps the last row in,
so enrolment and deletion are amortised O(1). A collection with more than ``approximate_above`` faces is
searched by an HNSW graph instead (:mod:`glasshouse.collections.ann`): on load, or as soon as a write takes
it over the threshold (the graph is built once, synchronously). The graph is persisted as
``<index_dir>/<collection id>.hnsw`` (+ ``.meta.npz``): when the collection is loaded after a restart the saved
graph is reconciled with the database's face ids (faces missing from it are added, faces gone from the
database deleted; an unreadable, inconsistent or differently-built file is rebuilt), so a stale file (a
crash, a kill -9, another process's writes) costs only reconciliation time. Changed graphs are saved by a
background thread every ``save_seconds``, sooner after many changes, and on :meth:`FaceSearchIndex.close`.

Collections of different embedding dimensions (one face model each) live side by side: each entry takes
its dimension from the loader's matrix (``(n, dim)``, also when ``n`` is 0), so the loader must know a
collection's dimension (``service.load_vectors`` reads ``collections.embedding_dim``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from glasshouse.collections.ann import ApproximateIndex, HnswParams

Vectors = npt.NDArray[np.float32]
Loader = Callable[[str], tuple[list[str], Vectors]]
log = logging.getLogger(__name__)
#: Unsaved changes that make the saver write a graph before its period ends: a crash costs at most this
#: many (or a tenth of the collection) reconciliation inserts.
SAVE_AFTER_CHANGES = 10_000


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


class _Approximate:
    """An HNSW graph serving one collection, with its file and the count of changes not saved yet."""

    def __init__(self, index: ApproximateIndex, path: Path, unsaved: int) -> None:
        self.index, self.path, self.unsaved = index, path, unsaved
        self.save_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.dropped = False  # the collection was deleted: never write its file again

    def _count(self, changes: int) -> None:
        with self._count_lock:
            self.unsaved += changes

    def add(self, ids: Sequence[str], vectors: Vectors) -> None:
        before = len(self.index)
        self.index.add(ids, vectors)
        self._count(len(self.index) - before)

    def remove(self, ids: Sequence[str]) -> None:
        before = len(self.index)
        self.index.remove(ids)
        self._count(before - len(self.index))

    def search(self, query: Vectors, k: int, min_cosine: float) -> list[tuple[str, float]]:
        return self.index.search(query, k, min_cosine)

    def due(self) -> bool:
        return self.unsaved >= min(SAVE_AFTER_CHANGES, max(1, len(self.index) // 10))

    def save(self) -> None:
        with self.save_lock:  # also waits for a save in progress: on return the file is current
            with self._count_lock:
                pending, self.unsaved = self.unsaved, 0
            if pending and not self.dropped:
                try:
                    self.index.save(self.path)
                except OSError:
                    self._count(pending)
                    raise

    def __len__(self) -> int:
        return len(self.index)


class FaceSearchIndex:
    """Per-collection search. ``loader(collection_id)`` returns every face id stored and their embeddings
    as an ``(n, dim)`` matrix of the collection's dimension (``(0, dim)`` when it is empty).

    ``approximate_above`` (None: never) and ``index_dir`` (where graphs persist) switch large collections to
    the HNSW index; ``save_seconds`` is how often changed graphs are saved (0: only when due and on close).
    """

    def __init__(
        self,
        loader: Loader,
        *,
        approximate_above: int | None = None,
        index_dir: Path | None = None,
        params: HnswParams = HnswParams(),
        save_seconds: float = 60.0,
    ) -> None:
        if approximate_above is not None and index_dir is None:
            raise ValueError("an approximate index needs an index_dir to persist to")
        self._loader = loader
        self._approximate_above = approximate_above
        self._index_dir = index_dir
        self._params = params
        self._save_seconds = save_seconds
        self._entries: dict[str, _Matrix | _Approximate] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._saver: threading.Thread | None = None

    # -- loading and switching ------------------------------------------------------------------------
    def _entry(self, collection_id: str) -> _Matrix | _Approximate:
        with self._lock:
            entry = self._entries.get(collection_id)
            if entry is None:
                ids, vectors = self._loader(collection_id)
                if vectors.ndim != 2 or vectors.shape[0] != len(ids):
                    raise ValueError(f"loader gave {vectors.shape} vectors for {len(ids)} ids")
                if self._is_large(len(ids)):
                    entry = self._open_approximate(collection_id, ids, vectors)
                else:
                    entry = _Matrix(ids, vectors, vectors.shape[1])
                self._entries[collection_id] = entry
            return entry

    def _is_large(self, size: int) -> bool:
        return self._approximate_above is not None and size > self._approximate_above

    def _path(self, collection_id: str) -> Path:
        assert self._index_dir is not None
        return self._index_dir / f"{collection_id}.hnsw"

    def _open_approximate(self, collection_id: str, ids: list[str], vectors: Vectors) -> _Approximate:
        """The saved graph reconciled with the database's ``ids``, or a new one built and saved."""
        path = self._path(collection_id)
        _remove_orphaned_temporaries(path)
        dim = vectors.shape[1]
        saved = ApproximateIndex.load(path, None, dim=dim)
        usable = saved is not None and (saved.params.m, saved.params.ef_construction) == (
            self._params.m,
            self._params.ef_construction,
        )
        if saved is not None and usable:
            saved.set_ef_search(self._params.ef_search)
            stored = set(ids)
            gone = [fid for fid in saved.ids() if fid not in stored]
            have = set(saved.ids())
            missing = [i for i, fid in enumerate(ids) if fid not in have]
            entry = _Approximate(saved, path, 0)
            entry.remove(gone)
            entry.add([ids[i] for i in missing], vectors[missing])
            if entry.unsaved:
                log.info(
                    "approximate index of %s reconciled: %d added, %d deleted",
                    collection_id,
                    len(missing),
                    len(gone),
                )
        else:
            started = time.monotonic()
            entry = _Approximate(ApproximateIndex(ids, vectors, dim, self._params), path, len(ids))
            log.info(
                "approximate index of %s built: %d faces in %.1f s",
                collection_id,
                len(ids),
                time.monotonic() - started,
            )
            entry.save()
        self._start_saver()
        return entry

    def _promote(self, collection_id: str, matrix: _Matrix) -> None:
        """Replace a matrix that outgrew the threshold by a graph (caller holds ``self._lock``)."""
        with matrix.lock:
            n = len(matrix.ids)
            ids, vectors = list(matrix.ids), matrix.data[:n].copy()  # (n, the collection's dim)
        self._entries[collection_id] = self._open_approximate(collection_id, ids, vectors)

    # -- persistence --------------------------------------------------------------------------------------
    def _start_saver(self) -> None:
        if self._saver is None and not self._closed.is_set():
            self._saver = threading.Thread(target=self._save_loop, name="ann-saver", daemon=True)
            self._saver.start()

    def _save_loop(self) -> None:
        last = time.monotonic()
        while not self._closed.is_set():
            self._wake.wait(timeout=self._save_seconds or None)
            self._wake.clear()
            if self._closed.is_set():
                return
            periodic = bool(self._save_seconds) and time.monotonic() - last >= self._save_seconds
            self.save(only_due=not periodic)
            if periodic:
                last = time.monotonic()

    def save(self, *, only_due: bool = False) -> None:
        """Write every changed graph (with ``only_due``: those with many unsaved changes) to its file."""
        with self._lock:
            entries = [e for e in self._entries.values() if isinstance(e, _Approximate)]
        for entry in entries:
            if not only_due or (entry.unsaved and entry.due()):
                try:
                    entry.save()
                except OSError:
                    log.exception("could not save approximate index %s (it is rebuilt on load)", entry.path)

    def close(self) -> None:
        """Stop the saver and save every changed graph (a later load then reconciles nothing)."""
        self._closed.set()
        self._wake.set()
        if self._saver is not None:
            self._saver.join(timeout=600)
        self.save()

    # -- the index ------------------------------------------------------------------------------------------
    def search(
        self, collection_id: str, query: Vectors, k: int, min_cosine: float = -1.0
    ) -> list[tuple[str, float]]:
        """Up to ``k`` (face id, cosine) pairs with cosine >= ``min_cosine``, best first."""
        return self._entry(collection_id).search(np.asarray(query, dtype=np.float32), k, min_cosine)

    def size(self, collection_id: str) -> int:
        return len(self._entry(collection_id))

    def prepare(self, dim: int) -> None:
        """Nothing to do: every collection's index takes its dimension from its faces when loaded."""

    def is_approximate(self, collection_id: str) -> bool:
        return isinstance(self._entry(collection_id), _Approximate)

    def added(self, collection_id: str, ids: Sequence[str], vectors: Vectors) -> None:
        """Record committed inserts (a no-op for collections not loaded yet: they load fresh)."""
        with self._lock:
            entry = self._entries.get(collection_id)
            if entry is None:
                return
            entry.add(ids, vectors)
            if isinstance(entry, _Matrix) and self._is_large(len(entry)):
                self._promote(collection_id, entry)
            elif isinstance(entry, _Approximate) and entry.due():
                self._wake.set()

    def removed(self, collection_id: str, ids: Sequence[str]) -> None:
        with self._lock:
            entry = self._entries.get(collection_id)
            if entry is not None:
                entry.remove(ids)
                if isinstance(entry, _Approximate) and entry.due():
                    self._wake.set()

    def dropped(self, collection_id: str) -> None:
        with self._lock:
            entry = self._entries.pop(collection_id, None)
            if isinstance(entry, _Approximate):
                with entry.save_lock:  # a save in progress finishes first, later ones write nothing
                    entry.dropped = True
            if self._index_dir is not None:
                path = self._path(collection_id)
                for stale in (path, path.with_name(path.name + ".meta.npz")):
                    stale.unlink(missing_ok=True)


def _remove_orphaned_temporaries(path: Path) -> None:
    """Delete half-written saves (``<name>.<pid>.<thread>.tmp*``) of processes that died mid-save."""
    for tmp in path.parent.glob(f"{path.name}*.tmp*"):
        parts = tmp.name[len(path.name) :].split(".")
        pid = next((int(p) for p in parts if p.isdigit()), None)
        if pid is None or pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:
            pass  # alive, another user's
