"""Synthetic embeddings follow the statistics they are drawn from; ``glasshouse bench search`` runs small."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from glasshouse.bench.search import select_top
from glasshouse.bench.synthetic import RealStats, SyntheticFaces
from glasshouse.cli.bench import bench_app


def _members_at(rng: np.random.Generator, centres: np.ndarray, cos: float, per: int) -> np.ndarray:
    """``per`` unit vectors at exactly cosine ``cos`` to each centre."""
    c = np.repeat(centres, per, axis=0)
    u = rng.normal(size=c.shape).astype(np.float32)
    u -= (u * c).sum(axis=1, keepdims=True) * c
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return np.asarray(cos * c + np.sqrt(1 - cos**2) * u, dtype=np.float32)


def _toy_stats(seed: int = 0, identities: int = 200, cos: float = 0.975) -> RealStats:
    """LFW-like statistics: centres in a cone (cosine ~0.85 between identities), members at ``cos``."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=128)
    mu /= np.linalg.norm(mu)
    raw = mu + 0.045 * rng.normal(size=(identities, 128))
    centres = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    members = _members_at(rng, centres, cos, 4)
    return RealStats.from_embeddings(members, np.repeat(np.arange(identities), 4), {"toy": True})


def test_spread_is_estimated_from_pairwise_cosines() -> None:
    stats = _toy_stats(cos=0.975)
    assert abs(float(np.median(stats.member_cos)) - 0.975) < 0.005
    assert abs(float(np.median(stats.genuine_cos)) - 0.975**2) < 0.005
    assert stats.centres.shape == (200, 128)
    assert float(np.median(stats.impostor_cos)) < float(np.median(stats.genuine_cos))


def test_generator_is_deterministic_and_chunked() -> None:
    stats = _toy_stats()
    a = SyntheticFaces(stats, 2503, members=5, queries=40, seed=7, chunk_rows=500).materialise()
    b = SyntheticFaces(stats, 2503, members=5, queries=40, seed=7, chunk_rows=500).materialise()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    c = SyntheticFaces(stats, 2503, members=5, queries=40, seed=8, chunk_rows=500).materialise()
    assert not np.array_equal(a[0], c[0])
    vectors, owner, queries, query_owner = a
    assert vectors.shape == (2503, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.bincount(owner).max() == 5 and owner.max() == 500  # ceil(2503 / 5) identities
    assert len(queries) == 40 and len(set(query_owner.tolist())) == 40
    assert not (np.abs(queries @ vectors.T - 1.0) < 1e-6).any()  # held out: never an enrolled vector
    chunks = list(SyntheticFaces(stats, 2503, members=5, queries=40, seed=7, chunk_rows=500).chunks())
    assert [ch.start for ch in chunks] == list(range(0, 2503, 500))


def test_generated_spread_follows_the_statistics() -> None:
    stats = _toy_stats(cos=0.975)
    gen = SyntheticFaces(stats, 4000, members=20, queries=100, seed=1)
    vectors, owner, queries, query_owner = gen.materialise()
    synth = RealStats.from_embeddings(vectors, owner)
    assert abs(float(np.median(synth.member_cos)) - float(np.median(stats.member_cos))) < 0.005
    assert abs(float(np.median(synth.genuine_cos)) - float(np.median(stats.genuine_cos))) < 0.01
    assert abs(float(np.median(synth.impostor_cos)) - float(np.median(stats.impostor_cos))) < 0.03
    best = (queries @ vectors.T).argmax(axis=1)  # queries find their own identity
    assert float(np.mean(owner[best] == query_owner)) > 0.95


def test_select_top_matches_a_full_sort() -> None:
    rng = np.random.default_rng(2)
    scores = rng.uniform(-1, 1, 5000).astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    np.testing.assert_array_equal(select_top(scores, 10, -1.0), order[:10])
    above = order[scores[order] >= 0.995]
    np.testing.assert_array_equal(select_top(scores, 10, 0.995), above[:10])
    np.testing.assert_array_equal(select_top(scores, 10, 0.9), order[:10])
    assert len(select_top(scores, 10, 2.0)) == 0
    np.testing.assert_array_equal(select_top(scores[:3], 10, -1.0), np.argsort(-scores[:3], kind="stable"))


def test_bench_search_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLASSHOUSE_DATABASE_URL", raising=False)  # the bench starts its own PostgreSQL
    stats_path = tmp_path / "stats.npz"
    _toy_stats().save(stats_path)
    args = ["search", "--faces", "20000", "--queries", "50", "--exact-queries", "50"]
    args += ["--stats", str(stats_path), "--out", str(tmp_path)]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.glob("search-*.json")
    r = json.loads(written.read_text())
    assert r["faces"] == 20000 and r["queries"] == 50
    assert r["command"].startswith("glasshouse bench search --faces 20000 --queries 50")
    pg = r["pgvector_hnsw"]
    assert (pg["m"], pg["ef_construction"], pg["ef_search"]) == (16, 64, 100)
    assert pg["build_s"] > 0 and pg["index_mib"] > 0 and pg["uses_hnsw_index"] is True
    assert {"m", "ef_construction", "ef_search", "build_s", "graph_mib"} <= set(r["approximate_index"])
    runs = {(x["searcher"], x["k"], x["threshold_similarity"]): x for x in r["runs"]}
    assert set(runs) == {
        ("exact", 10, None),
        ("exact_optimised", 1, None),
        ("exact_optimised", 10, None),
        ("exact_optimised", 10, 80.0),
        ("approximate", 1, None),
        ("approximate", 10, None),
        ("approximate", 10, 80.0),
        ("pgvector", 1, None),
        ("pgvector", 10, None),
        ("pgvector", 10, 80.0),
    }
    for x in runs.values():
        assert x["p50_ms"] > 0 and x["p99_ms"] >= x["p50_ms"] and x["queries_per_s"] > 0
    assert runs[("exact", 10, None)]["recall_at_1"] == 1.0
    assert runs[("exact_optimised", 1, None)]["recall_at_1"] == 1.0
    assert runs[("approximate", 1, None)]["recall_at_1"] >= 0.98
    assert runs[("pgvector", 1, None)]["recall_at_1"] >= 0.98
    assert set(r["synthetic_vs_real"]) == {"genuine_cos", "impostor_cos", "member_to_centre_cos"}
    assert "pgvector HNSW: m=16 ef_construction=64 ef_search=100" in result.output
    assert "reproduce: glasshouse bench search" in result.output


def test_generator_maps_the_statistics_into_another_dimension_keeping_cosines() -> None:
    """``dim`` (a model pack's 192) changes the vectors' length, not the genuine/impostor cosines."""
    stats = _toy_stats(cos=0.975)
    base = SyntheticFaces(stats, 4000, members=20, queries=100, seed=1).materialise()
    wide = SyntheticFaces(stats, 4000, members=20, queries=100, seed=1, dim=192).materialise()
    assert base[0].shape == (4000, 128) and wide[0].shape == (4000, 192) and wide[2].shape == (100, 192)
    np.testing.assert_allclose(np.linalg.norm(wide[0], axis=1), 1.0, atol=1e-5)
    a, b = RealStats.from_embeddings(base[0], base[1]), RealStats.from_embeddings(wide[0], wide[1])
    for field in ("genuine_cos", "impostor_cos", "member_cos"):
        assert abs(float(np.median(getattr(a, field))) - float(np.median(getattr(b, field)))) < 0.01
    with pytest.raises(ValueError, match="at least"):
        SyntheticFaces(stats, 10, dim=64)


def test_bench_search_of_192_dimensional_faces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--dim 192``: every searcher, pgvector included (its 192-d HNSW index, used by the planner)."""
    monkeypatch.delenv("GLASSHOUSE_DATABASE_URL", raising=False)  # the bench starts its own PostgreSQL
    stats_path = tmp_path / "stats.npz"
    _toy_stats().save(stats_path)
    args = ["search", "--faces", "5000", "--queries", "30", "--exact-queries", "30", "--dim", "192"]
    args += ["--stats", str(stats_path), "--out", str(tmp_path)]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.glob("search-*.json")
    r = json.loads(written.read_text())
    assert r["dim"] == 192 and r["command"].endswith("--dim 192")
    pg = r["pgvector_hnsw"]
    assert pg["dim"] == 192 and pg["uses_hnsw_index"] is True
    runs = {(x["searcher"], x["k"], x["threshold_similarity"]): x for x in r["runs"]}
    assert runs[("exact", 10, None)]["recall_at_1"] == 1.0
    assert runs[("approximate", 1, None)]["recall_at_1"] >= 0.95
    assert runs[("pgvector", 1, None)]["recall_at_1"] >= 0.95
