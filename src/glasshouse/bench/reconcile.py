"""Recall of the approximate index as the service runs it, fresh and after reconciling a stale file.

A collection of synthetic LFW-like faces (``bench.synthetic``) is loaded by
:class:`~glasshouse.collections.search_index.FaceSearchIndex` above its threshold (the HNSW graph is built
and saved), then, as if the process had been killed before saving, a fraction ``churn`` of the faces is
deleted from the "database" and as many new faces are enrolled. A fresh ``FaceSearchIndex`` loads the stale
file and reconciles it. Reported: recall@1 against exact search before and after, deleted faces returned
(must be 0), and reconciliation time against a full build.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from glasshouse.bench.search import exact_best
from glasshouse.bench.synthetic import F32, RealStats, SyntheticFaces
from glasshouse.collections.ann import HnswParams
from glasshouse.collections.search_index import FaceSearchIndex


def _recall(index: FaceSearchIndex, queries: F32, truth: list[str]) -> tuple[float, list[list[str]]]:
    tops = [[fid for fid, _ in index.search("c", q, 10)] for q in queries]
    return round(sum(t[:1] == [want] for t, want in zip(tops, truth, strict=True)) / len(truth), 4), tops


def run(
    stats: RealStats,
    faces: int,
    queries: int,
    churn: float,
    seed: int = 0,
    params: HnswParams = HnswParams(),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    gen = SyntheticFaces(stats, faces, queries=queries, seed=seed)
    vectors, _, qv, _ = gen.materialise()
    ids = [f"face-{i:08d}" for i in range(faces)]
    changed = round(churn * faces)
    rng = np.random.default_rng([seed, 7])
    gone_rows = np.sort(rng.choice(faces, changed, replace=False))
    kept = np.setdiff1d(np.arange(faces), gone_rows)
    extra, _, _, _ = SyntheticFaces(stats, max(changed, 1), queries=1, seed=seed + 1).materialise()
    extra = extra[:changed]
    after_ids = [ids[i] for i in kept] + [f"new-{i:08d}" for i in range(changed)]
    after_vectors = np.concatenate([vectors[kept], extra])
    gone = {ids[i] for i in gone_rows}
    database: list[tuple[list[str], F32]] = [(ids, vectors)]  # what the loader reads

    def loader(_cid: str) -> tuple[list[str], F32]:
        return list(database[0][0]), database[0][1]

    with tempfile.TemporaryDirectory(prefix="glasshouse-bench-reconcile-") as tmp:

        def open_index() -> tuple[FaceSearchIndex, float]:
            index = FaceSearchIndex(
                loader, approximate_above=1, index_dir=Path(tmp), params=params, save_seconds=0
            )
            t = time.perf_counter()
            index.size("c")  # loads: builds and saves, or reconciles the saved graph
            return index, time.perf_counter() - t

        progress(f"building the approximate index over {faces:,} faces ({params})")
        first, build_s = open_index()
        fresh, _ = _recall(first, qv, [ids[i] for i in exact_best(vectors, qv)])
        del first  # a crash: nothing saved after the build
        database[0] = (after_ids, after_vectors)
        progress(f"{changed:,} faces deleted and {changed:,} enrolled while down; reconciling")
        second, reconcile_s = open_index()
        truth = [after_ids[i] for i in exact_best(after_vectors, qv)]
        reconciled, tops = _recall(second, qv, truth)
        leaked = sum(bool(gone & set(t)) for t in tops)
        assert second.size("c") == len(after_ids)
        second.close()
    return {
        "faces": faces,
        "queries": len(qv),
        "churn": churn,
        "changed_faces": changed,
        "seed": seed,
        "params": {"m": params.m, "ef_construction": params.ef_construction, "ef_search": params.ef_search},
        "build_s": round(build_s, 2),
        "reconcile_s": round(reconcile_s, 2),
        "recall_at_1_fresh": fresh,
        "recall_at_1_reconciled": reconciled,
        "queries_returning_a_deleted_face_in_top10": leaked,
    }
