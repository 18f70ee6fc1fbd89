"""Collections above ``approximate_above`` are searched by the persisted HNSW index: same top-1 as exact
search on real LFW embeddings, consistent with the database across restarts and after a crash that left a
stale index file (deleted faces never returned, new faces found)."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from glasshouse.collections.models import Collection
from glasshouse.collections.search_index import FaceSearchIndex
from glasshouse.collections.service import load_vectors
from glasshouse.config import Settings
from glasshouse.governance.policy import Capability
from glasshouse.services import Services

THRESHOLD = 5  # forces a 30-face collection onto the approximate index


@pytest.fixture(scope="module")
def lfw_people(shared_data: Path) -> list[list[Path]]:
    """Images of 12 LFW people with at least 3 images each (the last one of each is a held-out probe)."""
    root = shared_data / "lfw" / "lfw-deepfunneled"
    people = [sorted(d.glob("*.jpg")) for d in sorted(root.iterdir()) if d.is_dir()]
    return [p[:3] for p in people if len(p) >= 3][:12]


def _open(settings: Settings) -> Services:
    svc = Services(
        settings.model_copy(update={"approximate_above": THRESHOLD, "approximate_save_seconds": 0})
    )
    if not isinstance(svc.search_index, FaceSearchIndex):
        svc.close()
        pytest.skip("this backend searches inside the database: no in-process approximate index")
    return svc


def _enrol(svc: Services, org: str, paths: list[Path]) -> list[str]:
    ids = []
    with svc.gate.guard(svc.cli_actor(), Capability.FACE_INDEX):
        for path in paths:
            outcome = svc.collections.index_image(org, "big", path.read_bytes(), max_faces=1)
            ids += [face.id for face, _ in outcome.indexed]
    return ids


def _probe(svc: Services, path: Path) -> np.ndarray:
    with svc.gate.guard(svc.cli_actor(), Capability.FACE_SEARCH):
        embedding = svc.analyser.analyse(path.read_bytes()).faces[0].embedding
    assert embedding is not None
    return embedding


def _exact_top1(svc: Services, collection: Collection, query: np.ndarray) -> str:
    ids, vectors = load_vectors(svc.sessions, collection.id)
    return ids[int(np.argmax(vectors @ query))]


def _index_files(svc: Services, collection: Collection) -> list[Path]:
    graph = svc.settings.data_dir / "index" / f"{collection.id}.hnsw"
    return [graph, graph.with_name(graph.name + ".meta.npz")]


def test_approximate_top1_equals_exact_on_real_embeddings(
    settings: Settings, lfw_people: list[list[Path]]
) -> None:
    svc = _open(settings)
    try:
        org = svc.org_id()
        collection = svc.collections.create(org, "big")
        assert svc.search_index.size(collection.id) == 0  # loaded: writes now update it in memory
        _enrol(svc, org, [p for person in lfw_people for p in person[:2]])
        assert svc.search_index.size(collection.id) > THRESHOLD
        assert svc.search_index.is_approximate(collection.id)
        assert all(f.is_file() for f in _index_files(svc, collection))  # saved when built
        for person in lfw_people:
            probe = _probe(svc, person[2])
            hits = svc.search_index.search(collection.id, probe, 1)
            assert hits[0][0] == _exact_top1(svc, collection, probe)
            with svc.gate.guard(svc.cli_actor(), Capability.FACE_SEARCH):
                found = svc.collections.search_by_image(org, "big", person[2].read_bytes(), threshold=0)
            assert [m.face.id for m in found.matches] == [hits[0][0]]
    finally:
        svc.close()


def test_consistent_across_a_clean_restart(settings: Settings, lfw_people: list[list[Path]]) -> None:
    svc = _open(settings)
    org = svc.org_id()
    collection = svc.collections.create(org, "big")
    assert svc.search_index.size(collection.id) == 0  # loaded: writes now update it in memory
    ids = _enrol(svc, org, [p for person in lfw_people for p in person[:2]])
    deleted, _ = svc.collections.delete_faces(org, "big", ids[::4])
    assert deleted == ids[::4]
    svc.close()  # saves the changed graph
    graph, meta = _index_files(svc, collection)
    saved_at = (graph.stat().st_mtime_ns, meta.stat().st_mtime_ns)

    again = _open(settings)
    try:
        _, vectors = load_vectors(again.sessions, collection.id)
        assert again.search_index.is_approximate(collection.id)
        assert again.search_index.size(collection.id) == len(ids) - len(deleted)
        for query in vectors:
            hits = again.search_index.search(collection.id, query, 100)
            assert not {fid for fid, _ in hits} & set(deleted)
            assert hits[0][0] == _exact_top1(again, collection, query)
        again.close()
        assert (graph.stat().st_mtime_ns, meta.stat().st_mtime_ns) == saved_at  # nothing to reconcile
    finally:
        again.close()


def test_stale_index_file_after_a_crash_is_reconciled(
    settings: Settings, lfw_people: list[list[Path]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, later = lfw_people[:8], lfw_people[8:]
    svc = _open(settings)
    org = svc.org_id()
    collection = svc.collections.create(org, "big")
    assert svc.search_index.size(collection.id) == 0  # loaded: writes now update it in memory
    old_ids = _enrol(svc, org, [p for person in first for p in person[:2]])
    files = _index_files(svc, collection)
    stale = tmp_path / "stale"
    stale.mkdir()
    svc.search_index.save()  # waits for any save in progress: the copy is one consistent save
    for f in files:  # the last save before the "crash"
        shutil.copy2(f, stale / f.name)
    gone, _ = svc.collections.delete_faces(org, "big", old_ids[:5])
    new_ids = _enrol(svc, org, [p for person in later for p in person[:2]])
    assert len(gone) == 5 and len(new_ids) >= 6
    svc.search_index.save()  # nothing left for the background saver to overwrite the stale copy with
    svc.db_engine.dispose()  # a crash: no close(); the stale files are what is on disk
    for f in files:
        shutil.copy2(stale / f.name, f)
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = files[0].with_name(f"{files[0].name}.{dead.pid}.1.tmp")  # a save cut short by the crash
    orphan.write_bytes(b"half a graph")

    again = _open(settings)
    try:
        with caplog.at_level(logging.INFO, logger="glasshouse.collections.search_index"):
            assert again.search_index.is_approximate(collection.id)
        assert f"reconciled: {len(new_ids)} added, 5 deleted" in caplog.text  # not rebuilt
        assert not orphan.exists()
        ids, vectors = load_vectors(again.sessions, collection.id)
        assert sorted(ids) == sorted(set(old_ids[5:]) | set(new_ids))
        assert again.search_index.size(collection.id) == len(ids)
        own = dict(zip(ids, vectors, strict=True))
        for fid in new_ids:  # faces the stale file never held are found
            assert again.search_index.search(collection.id, own[fid], 1)[0][0] == fid
        for query in vectors:  # faces deleted after the stale save are never returned
            hits = again.search_index.search(collection.id, query, 100)
            assert not {fid for fid, _ in hits} & set(gone)
        for person in later:
            probe = _probe(again, person[2])
            top = again.search_index.search(collection.id, probe, 1)[0][0]
            assert top == _exact_top1(again, collection, probe)
    finally:
        again.close()


def test_unusable_index_file_is_rebuilt(settings: Settings, lfw_people: list[list[Path]]) -> None:
    svc = _open(settings)
    org = svc.org_id()
    collection = svc.collections.create(org, "big")
    assert svc.search_index.size(collection.id) == 0  # loaded: writes now update it in memory
    ids = _enrol(svc, org, [p for person in lfw_people[:6] for p in person[:2]])
    svc.close()
    graph, _ = _index_files(svc, collection)
    graph.write_bytes(graph.read_bytes()[:100])  # truncated by a crash mid-write

    again = _open(settings)
    try:
        _, vectors = load_vectors(again.sessions, collection.id)
        assert again.search_index.size(collection.id) == len(ids)
        for fid, query in zip(*load_vectors(again.sessions, collection.id), strict=True):
            assert again.search_index.search(collection.id, query, 1)[0][0] == fid
        assert len(vectors) == len(ids)
    finally:
        again.close()


def test_collection_deleted_removes_its_index_files(settings: Settings, lfw_people: list[list[Path]]) -> None:
    svc = _open(settings)
    try:
        org = svc.org_id()
        collection = svc.collections.create(org, "big")
        assert svc.search_index.size(collection.id) == 0  # loaded: writes now update it in memory
        _enrol(svc, org, [p for person in lfw_people[:4] for p in person[:2]])
        assert all(f.is_file() for f in _index_files(svc, collection))
        svc.collections.delete(org, "big")
        assert not any(f.exists() for f in _index_files(svc, collection))
    finally:
        svc.close()
