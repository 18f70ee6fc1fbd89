"""The in-memory exact index agrees with brute force through adds, removes and reloads."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.collections.search_index import FaceSearchIndex


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_matches_brute_force_after_adds_and_removes() -> None:
    rng = np.random.default_rng(1)
    store: dict[str, np.ndarray] = {f"f{i}": v for i, v in enumerate(_unit(rng, 50))}
    index = FaceSearchIndex(lambda _cid: (list(store), np.stack(list(store.values()))))
    assert index.size("c") == 50

    new = {f"n{i}": v for i, v in enumerate(_unit(rng, 100))}  # grows past the initial capacity
    store.update(new)
    index.added("c", list(new), np.stack(list(new.values())))
    gone = [f"f{i}" for i in range(0, 50, 3)] + ["n7", "missing"]
    for fid in gone:
        store.pop(fid, None)
    index.removed("c", gone)

    for query in _unit(rng, 20):
        ids = list(store)
        scores = np.stack([store[i] for i in ids]) @ query
        expected = [ids[i] for i in np.argsort(-scores)[:5]]
        assert [fid for fid, _ in index.search("c", query, 5)] == expected


def test_threshold_and_k_bound_the_answer() -> None:
    rng = np.random.default_rng(2)
    vectors = _unit(rng, 10)
    index = FaceSearchIndex(lambda _cid: ([str(i) for i in range(10)], vectors))
    hits = index.search("c", vectors[3], 10, min_cosine=0.999)
    assert hits == [("3", hits[0][1])] and abs(hits[0][1] - 1.0) < 1e-5
    assert len(index.search("c", vectors[3], 4)) == 4
    assert index.search("c", vectors[3], 0) == []


def test_unloaded_collections_load_fresh_and_dropped_ones_reload() -> None:
    calls: list[str] = []
    vectors = np.eye(128, dtype=np.float32)[:2]

    def loader(cid: str) -> tuple[list[str], np.ndarray]:
        calls.append(cid)
        return ["a", "b"], vectors

    index = FaceSearchIndex(loader)
    index.added("c", ["x"], vectors[:1])  # not loaded: ignored, the loader will see it in the database
    assert index.size("c") == 2 and calls == ["c"]
    index.dropped("c")
    assert index.size("c") == 2 and calls == ["c", "c"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 30)), max_size=80))
def test_random_add_remove_sequences_keep_ids_consistent(ops: list[tuple[bool, int]]) -> None:
    basis = np.eye(128, dtype=np.float32)
    index = FaceSearchIndex(lambda _cid: ([], np.zeros((0, 128), dtype=np.float32)))
    present: set[int] = set()
    assert index.size("c") == 0  # loaded: from now on updates apply in memory
    for add, i in ops:
        if add:
            index.added("c", [str(i)], basis[i : i + 1])
            present.add(i)
        else:
            index.removed("c", [str(i)])
            present.discard(i)
    assert index.size("c") == len(present)
    for i in present:
        assert index.search("c", basis[i], 1)[0][0] == str(i)
