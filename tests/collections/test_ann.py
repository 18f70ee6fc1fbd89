"""The approximate (HNSW) index agrees with exact search, forgets deleted ids, and persists safely."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from glasshouse.collections.ann import ApproximateIndex, HnswParams, ids_digest, load_or_build


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 128)).astype(np.float32)
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True), dtype=np.float32)


def _near(rng: np.random.Generator, vectors: np.ndarray, n: int) -> np.ndarray:
    """Probes like face queries: another capture of a stored face (cosine about 0.9 to it).

    Uniformly random 128-d probes have no clear nearest neighbour (all cosines near 0), a case HNSW
    handles poorly (recall@1 about 0.9 at 3,000 points) and face search never meets."""
    picked = vectors[rng.integers(0, len(vectors), n)]
    noisy = picked + 0.04 * rng.normal(size=picked.shape).astype(np.float32)
    return np.asarray(noisy / np.linalg.norm(noisy, axis=1, keepdims=True), dtype=np.float32)


def _exact(store: dict[str, np.ndarray], q: np.ndarray, k: int) -> list[str]:
    ids = list(store)
    scores = np.stack([store[i] for i in ids]) @ q
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


def _recall_at_1(index: ApproximateIndex, store: dict[str, np.ndarray], queries: np.ndarray) -> float:
    hits = [index.search(q, 1)[0][0] == _exact(store, q, 1)[0] for q in queries]
    return sum(hits) / len(hits)


def test_agrees_with_exact_search() -> None:
    rng = np.random.default_rng(0)
    vectors = _unit(rng, 3000)
    store = {f"f{i}": v for i, v in enumerate(vectors)}
    index = ApproximateIndex(list(store), vectors)
    queries = _near(rng, vectors, 200)
    assert _recall_at_1(index, store, queries) >= 0.99
    q = queries[0]
    hits = index.search(q, 10)
    assert [fid for fid, _ in hits][:5] == _exact(store, q, 5)
    for fid, cos in hits:
        assert cos == pytest.approx(float(store[fid] @ q), abs=1e-5)
    assert [c for _, c in hits] == sorted((c for _, c in hits), reverse=True)
    assert index.search(vectors[7], 1)[0][0] == "f7"


def test_min_cosine_and_small_k() -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 50)
    index = ApproximateIndex([f"f{i}" for i in range(50)], vectors)
    q = vectors[3]
    ((fid, cos),) = index.search(q, 5, min_cosine=0.99)
    assert fid == "f3" and cos == pytest.approx(1.0, abs=1e-5)
    assert len(index.search(q, 500)) == 50  # k above the size: every face
    assert index.search(q, 0) == []
    assert ApproximateIndex([], np.zeros((0, 128), np.float32)).search(q, 3) == []


def test_deleted_ids_are_never_returned_and_slots_are_reused() -> None:
    rng = np.random.default_rng(2)
    store = {f"f{i}": v for i, v in enumerate(_unit(rng, 400))}
    index = ApproximateIndex([], np.zeros((0, 128), np.float32))
    items = list(store.items())
    for start in range(0, len(items), 37):  # grows from the initial capacity in small batches
        batch = items[start : start + 37]
        index.add([f for f, _ in batch], np.stack([v for _, v in batch]))
    gone = [f"f{i}" for i in range(0, 400, 2)] + ["never-there"]
    index.remove(gone)
    for fid in gone:
        store.pop(fid, None)
    assert len(index) == len(store) == 200
    for fid in gone[:50]:
        hits = index.search(_unit(rng, 1)[0], 200)
        assert fid not in {h for h, _ in hits}
        assert len(hits) == 200
    queries = _near(rng, np.stack(list(store.values())), 100)
    assert _recall_at_1(index, store, queries) >= 0.99
    fresh = {f"n{i}": v for i, v in enumerate(_unit(rng, 150))}
    index.add(list(fresh), np.stack(list(fresh.values())))
    index.add(["n0"], _unit(rng, 1))  # present already: ignored
    store.update(fresh)
    assert len(index) == 350
    assert index.search(fresh["n0"], 1)[0][0] == "n0"
    assert _recall_at_1(index, store, queries) >= 0.99
    assert sorted(index.ids()) == sorted(store)


def test_save_load_round_trip_and_digest_mismatch(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng, 300)
    ids = [f"f{i}" for i in range(300)]
    index = ApproximateIndex(ids, vectors, params=HnswParams(m=8, ef_construction=50, ef_search=40))
    index.remove(["f0", "f1"])
    path = tmp_path / "indexes" / "c1.hnsw"
    index.save(path)
    live = ids[2:]
    loaded = ApproximateIndex.load(path, ids_digest(live))
    assert loaded is not None and len(loaded) == 298
    assert loaded.params == HnswParams(8, 50, 40)
    for q in _unit(rng, 20):
        assert loaded.search(q, 5) == index.search(q, 5)
    assert all(fid not in ("f0", "f1") for fid, _ in loaded.search(vectors[0], 298))
    loaded.add(["x"], vectors[:1])  # the loaded graph accepts writes (reusing deleted slots)
    assert loaded.search(vectors[0], 1)[0][0] == "x"

    assert ApproximateIndex.load(path, ids_digest(ids)) is None  # the database still has f0, f1: rebuild
    assert ApproximateIndex.load(tmp_path / "absent.hnsw", ids_digest(live)) is None
    assert ApproximateIndex.load(path, ids_digest(live), dim=64) is None
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")  # graph changed behind the metadata
    assert ApproximateIndex.load(path, ids_digest(live)) is None


def test_load_or_build_rebuilds_only_when_the_database_changed(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors = _unit(rng, 120)
    ids = [f"f{i}" for i in range(120)]
    path = tmp_path / "c.hnsw"
    first, loaded = load_or_build(path, ids, vectors)
    assert not loaded and len(first) == 120
    again, loaded = load_or_build(path, ids, vectors, params=HnswParams(ef_search=80))
    assert loaded and again.params.ef_search == 80  # the query beam changes without a rebuild
    changed, loaded = load_or_build(path, ids[:-1], vectors[:-1])
    assert not loaded and len(changed) == 119
    assert ids_digest(["b", "a"]) == ids_digest(["a", "b"]) != ids_digest(["a"])


def test_concurrent_adds_removes_and_searches() -> None:
    rng = np.random.default_rng(5)
    vectors = _unit(rng, 800)
    index = ApproximateIndex([f"base{i}" for i in range(200)], vectors[:200])
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for j in range(0, 300, 30):
                ids = [f"w{w}-{j + i}" for i in range(30)]
                index.add(ids, vectors[200 + j : 230 + j])
                index.remove(ids[:10])
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for q in vectors[:200]:
                assert index.search(q, 3)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 200 + 2 * 200
