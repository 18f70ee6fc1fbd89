"""Search benchmark at scale: exact in-memory search against the approximate HNSW index, on synthetic
embeddings that follow LFW's distribution (``bench.synthetic``), one query at a time as SearchFaces runs.

Three searchers over the same faces and held-out queries:

* ``exact``: ``search_index._Matrix`` as the service runs it today (matrix-vector product + argpartition);
* ``exact_optimised``: the same product with a cheaper selection (:func:`select_top`: no negated copy,
  and with a threshold, candidates filtered first so only the few above it are sorted);
* ``approximate``: :class:`glasshouse.collections.ann.ApproximateIndex`;
* ``pgvector``: PostgreSQL's HNSW index through the product's ``PgVectorSearchIndex`` (``bench.pgvector``:
  binary COPY into a scratch database, index built once; an embedded server when no
  ``GLASSHOUSE_DATABASE_URL`` is set).

Recall@1 is the fraction of queries whose first result is exact search's best match.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from glasshouse.bench.api import Latencies
from glasshouse.bench.synthetic import F32, I64, RealStats, SyntheticFaces, compare
from glasshouse.collections.ann import ApproximateIndex, HnswParams
from glasshouse.engine.similarity import cosine_for_similarity

Hits = list[tuple[str, float]]
Search = Callable[[F32, int, float], Hits]
PGVECTOR_SKIPPED = "not measured (--no-pgvector)"
THRESHOLD = 80.0  # Rekognition's default FaceMatchThreshold


def select_top(scores: npt.NDArray[np.float32], k: int, min_cosine: float) -> npt.NDArray[np.intp]:
    """Indices of the ``k`` best scores >= ``min_cosine``, best first.

    Cheaper than ``argpartition(-scores)`` at 1M rows (about 2 ms there): no negated copy, ``argmax`` for
    k=1, and with a real threshold only the rows above it (a handful) are partitioned and sorted."""
    n = len(scores)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    if min_cosine > -1.0:
        cand = np.flatnonzero(scores >= min_cosine)
        if len(cand) > k:
            cand = cand[np.argpartition(scores[cand], len(cand) - k)[len(cand) - k :]]
    elif k == 1:
        return np.array([int(np.argmax(scores))], dtype=np.intp)
    else:
        cand = np.argpartition(scores, n - k)[n - k :] if k < n else np.arange(n)
    return cand[np.argsort(-scores[cand], kind="stable")]


class ExactScan:
    """Exact search over a contiguous float32 matrix with :func:`select_top` (single-threaded caller)."""

    def __init__(self, ids: Sequence[str], vectors: F32) -> None:
        self.ids = list(ids)
        self.data = np.ascontiguousarray(vectors, dtype=np.float32)

    def search(self, query: F32, k: int, min_cosine: float) -> Hits:
        scores = self.data @ query
        return [(self.ids[i], float(scores[i])) for i in select_top(scores, k, min_cosine)]


def exact_best(vectors: F32, queries: F32, batch: int = 64) -> I64:
    """Row of the best match of each query (batched matrix product: ground truth, not timed)."""
    best = np.empty(len(queries), dtype=np.int64)
    for i in range(0, len(queries), batch):
        best[i : i + batch] = (queries[i : i + batch] @ vectors.T).argmax(axis=1)
    return best


@dataclass(frozen=True, slots=True)
class Run:
    """Latencies of one searcher at one (k, threshold), and its recall@1 against exact search."""

    searcher: str
    k: int
    threshold: float | None
    latencies: Latencies
    recall_at_1: float | None
    identity_at_1: float | None

    def to_json(self) -> dict[str, Any]:
        lat = self.latencies.to_json()
        return {
            "searcher": self.searcher,
            "k": self.k,
            "threshold_similarity": self.threshold,
            "queries": lat["requests"],
            "p50_ms": lat["p50_ms"],
            "p99_ms": lat["p99_ms"],
            "mean_ms": lat["mean_ms"],
            "queries_per_s": lat["requests_per_s"],
            "recall_at_1": self.recall_at_1,
            "same_identity_at_1": self.identity_at_1,
        }


def measure(
    name: str,
    search: Search,
    queries: F32,
    k: int,
    threshold: float | None,
    truth: Sequence[str],
    query_owner: I64,
    owner_of: Callable[[str], int],
) -> Run:
    """Time ``search`` on every query (one warm-up call first); recall@1 when no threshold hides results."""
    min_cos = -1.0 if threshold is None else cosine_for_similarity(threshold)
    search(queries[0], k, min_cos)
    seconds, firsts = [], []
    for q in queries:
        t = time.perf_counter()
        hits = search(q, k, min_cos)
        seconds.append(time.perf_counter() - t)
        firsts.append(hits[0][0] if hits else None)
    recall = identity = None
    if threshold is None:
        n = len(queries)
        recall = round(sum(f == t for f, t in zip(firsts, truth, strict=False)) / n, 4)
        hit = sum(f is not None and owner_of(f) == int(o) for f, o in zip(firsts, query_owner, strict=False))
        identity = round(hit / n, 4)
    return Run(name, k, threshold, Latencies(name, seconds), recall, identity)


@dataclass(frozen=True, slots=True)
class SearchBench:
    faces: int
    queries: int
    exact_queries: int
    seed: int = 0
    members: int = 5
    params: HnswParams = field(default_factory=HnswParams)
    threads: int = 0
    pgvector: bool = True
    database_url: str | None = None  # a PostgreSQL server for the pgvector run (else an embedded one)
    pg_ef_search: int = 100
    dim: int | None = None  # the embeddings' length (None: the measured model's, 128 for dlib's ResNet)


def run(
    cfg: SearchBench, stats: RealStats, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Generate, index and time every searcher; the JSON-ready result (without command/machine)."""
    from glasshouse.collections.search_index import _Matrix

    t0 = time.perf_counter()
    gen = SyntheticFaces(
        stats, cfg.faces, members=cfg.members, queries=cfg.queries, seed=cfg.seed, dim=cfg.dim
    )
    vectors, owner, queries, query_owner = gen.materialise()
    ids = [f"face-{i:08d}" for i in range(cfg.faces)]
    row = {fid: i for i, fid in enumerate(ids)}
    gen_s = time.perf_counter() - t0
    progress(
        f"generated {cfg.faces:,} faces and {len(queries):,} queries in {gen_s:.1f} s; exact ground truth"
    )
    truth = [ids[i] for i in exact_best(vectors, queries)]

    def owner_of(fid: str) -> int:
        return int(owner[row[fid]])

    runs: list[Run] = []
    nq = min(cfg.exact_queries, len(queries))
    qe, te, oe = queries[:nq], truth[:nq], query_owner[:nq]
    progress(f"exact search (search_index._Matrix), {nq} queries")
    matrix = _Matrix(ids, vectors, vectors.shape[1])
    runs.append(measure("exact", matrix.search, qe, 10, None, te, oe, owner_of))
    del matrix
    progress(f"exact search (optimised selection), {nq} queries")
    scan = ExactScan(ids, vectors)
    for k, thr in ((1, None), (10, None), (10, THRESHOLD)):
        runs.append(measure("exact_optimised", scan.search, qe, k, thr, te, oe, owner_of))
    del scan
    progress(f"building the approximate index ({cfg.params})")
    t1 = time.perf_counter()
    ann = ApproximateIndex(ids, vectors, vectors.shape[1], cfg.params, cfg.threads)
    build_s = time.perf_counter() - t1
    progress(f"approximate search, {len(queries)} queries")
    for k, thr in ((1, None), (10, None), (10, THRESHOLD)):
        runs.append(measure("approximate", ann.search, queries, k, thr, truth, query_owner, owner_of))
    graph_bytes = int(ann._graph.index_file_size())
    del ann
    pgvector: dict[str, Any] | str = PGVECTOR_SKIPPED
    if cfg.pgvector:
        pgvector = _pgvector_runs(cfg, ids, vectors, queries, truth, query_owner, owner_of, runs, progress)
    return {
        "faces": cfg.faces,
        "dim": int(vectors.shape[1]),
        "queries": len(queries),
        "exact_queries": nq,
        "seed": cfg.seed,
        "members_per_identity": cfg.members,
        "generation_s": round(gen_s, 2),
        "synthetic_vs_real": compare(stats, vectors, owner),
        "real_stats": stats.meta,
        "approximate_index": {
            "library": "hnswlib",
            "m": cfg.params.m,
            "ef_construction": cfg.params.ef_construction,
            "ef_search": cfg.params.ef_search,
            "build_s": round(build_s, 2),
            "graph_mib": round(graph_bytes / 2**20, 1),
        },
        "runs": [r.to_json() for r in runs],
        "pgvector_hnsw": pgvector,
    }


def _pgvector_runs(
    cfg: SearchBench,
    ids: Sequence[str],
    vectors: F32,
    queries: F32,
    truth: Sequence[str],
    query_owner: I64,
    owner_of: Callable[[str], int],
    runs: list[Run],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    from glasshouse.bench import pgvector as pg

    with pg.scratch_database(cfg.database_url, progress) as url:
        setup = pg.load(url, ids, vectors, progress)
        searcher = pg.PgSearcher(url, setup.collection_id, cfg.pg_ef_search)
        try:
            progress(f"pgvector HNSW search, {len(queries)} queries")
            for k, thr in ((1, None), (10, None), (10, THRESHOLD)):
                runs.append(
                    measure("pgvector", searcher.search, queries, k, thr, truth, query_owner, owner_of)
                )
            return pg.summary(setup, cfg.pg_ef_search, searcher.plan(queries[0]))
        finally:
            searcher.close()
