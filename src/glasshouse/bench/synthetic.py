"""Synthetic face embeddings that follow the real embedding distribution, for search benchmarks at scale.

Real statistics (:class:`RealStats`) come from embedding a seeded sample of LFW identities with the default
engine (:func:`measure_real`, cached under ``var/bench/``):

* identity centres: the normalised mean of each identity's embeddings;
* within-identity spread: each member's cosine to its identity's true centre. The sample mean is biased
  towards its own members, so the cosine is estimated from pairwise cosines instead: with members
  ``x_i = c_i·centre + noise`` (noise nearly orthogonal in 128+ dimensions), ``cos(x_i, x_j) ≈ c_i·c_j``, hence
  ``c_i ≈ mean_j cos(x_i, x_j) / sqrt(mean pairwise cosine of the identity)``.

Generation (:class:`SyntheticFaces`): a synthetic centre is ``normalise(mu + sqrt(1-b)·(real_k - mu) +
sqrt(b)·L·z)``: a random real centre ``real_k`` blended with a draw from the Gaussian fitted to the real
centres (mean ``mu``, shrunk covariance ``L·Lᵀ``), so centres keep the real mean and covariance while
staying near real identities. Each member sits at a cosine drawn from the measured spread around its centre,
in a random direction orthogonal to it. Everything is deterministic by seed, generated chunk by chunk.
Queries are held-out extra members of known identities, so the right answer exists and recall is meaningful.

Another dimension (``dim``, e.g. 192 for a model pack, while the statistics come from the default 128-d
model): the real centres are first mapped into ``dim`` dimensions by a seeded random matrix with orthonormal
rows, which keeps every cosine between them (for ``dim`` >= the measured dimension), so the synthetic
genuine and impostor cosines stay those of the real model; only the vectors' length changes.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
STATS_VERSION = 1
DEFAULT_STATS = Path("var/bench/lfw-embedding-stats.npz")


def normalise(v: F32) -> F32:
    out: F32 = v / np.linalg.norm(v, axis=-1, keepdims=True).astype(np.float32)
    return out.astype(np.float32, copy=False)


@dataclass(frozen=True, slots=True)
class RealStats:
    """Identity centres and spread measured on real embeddings (see module doc)."""

    centres: F32
    member_cos: npt.NDArray[np.float32]
    genuine_cos: npt.NDArray[np.float32]
    impostor_cos: npt.NDArray[np.float32]
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            centres=self.centres,
            member_cos=self.member_cos,
            genuine_cos=self.genuine_cos,
            impostor_cos=self.impostor_cos,
            meta=np.array(json.dumps(self.meta)),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RealStats:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                z["centres"].astype(np.float32),
                z["member_cos"].astype(np.float32),
                z["genuine_cos"].astype(np.float32),
                z["impostor_cos"].astype(np.float32),
                json.loads(str(z["meta"])),
            )

    @classmethod
    def from_embeddings(
        cls, embeddings: F32, labels: npt.NDArray[np.int64], meta: dict[str, Any] | None = None
    ) -> RealStats:
        """Statistics of labelled embeddings (each label needs at least 2 members for the spread)."""
        emb = normalise(np.asarray(embeddings, dtype=np.float32))
        centres, member_cos, genuine = [], [], []
        for label in np.unique(labels):
            x = emb[labels == label]
            centres.append(normalise(x.mean(axis=0)))
            if len(x) < 2:
                continue
            pair = x @ x.T
            off = pair[~np.eye(len(x), dtype=bool)]
            genuine.extend(off.tolist())
            scale = math.sqrt(max(float(off.mean()), 1e-6))
            per_member = (pair.sum(axis=1) - np.diag(pair)) / (len(x) - 1)
            member_cos.extend(np.clip(per_member / scale, 0.0, 1.0).tolist())
        different = labels[:, None] != labels[None, :]
        impostor = (emb @ emb.T)[np.triu(different, 1)]
        return cls(
            np.stack(centres).astype(np.float32),
            np.asarray(member_cos, dtype=np.float32),
            np.asarray(genuine, dtype=np.float32),
            impostor.astype(np.float32),
            dict(meta or {}),
        )


def sample_lfw(lfw_dir: Path, identities: int, per_identity: int, seed: int) -> list[tuple[int, Path]]:
    """``per_identity`` images of each of ``identities`` seeded people having at least that many."""
    people = sorted(d for d in lfw_dir.iterdir() if d.is_dir())
    eligible = [d for d in people if sum(1 for _ in d.glob("*.jpg")) >= per_identity]
    if len(eligible) < identities:
        raise ValueError(f"only {len(eligible)} people with >= {per_identity} images under {lfw_dir}")
    rng = random.Random(seed)
    chosen = rng.sample(eligible, identities)
    out: list[tuple[int, Path]] = []
    for label, person in enumerate(chosen):
        out.extend((label, p) for p in rng.sample(sorted(person.glob("*.jpg")), per_identity))
    return out


def measure_real(
    lfw_dir: Path, model_cache_dir: Path, *, identities: int = 150, per_identity: int = 4, seed: int = 0
) -> RealStats:
    """Embed a seeded LFW sample with the default engine (``evaluation.embedding``) and measure it."""
    from glasshouse.evaluation.embedding import PipelineConfig, embed_paths

    sample = sample_lfw(lfw_dir, identities, per_identity, seed)
    outcome = embed_paths([p for _, p in sample], PipelineConfig(model_cache_dir))
    labels = np.array([label for label, _ in sample], dtype=np.int64)
    meta = _params(lfw_dir, identities, per_identity, seed) | {
        "images": len(sample),
        "fallback_images": len(outcome.fallback),
        "engine": PipelineConfig(model_cache_dir).label(),
    }
    return RealStats.from_embeddings(outcome.embeddings[outcome.ok], labels[outcome.ok], meta)


def _params(lfw_dir: Path, identities: int, per_identity: int, seed: int) -> dict[str, Any]:
    return {
        "version": STATS_VERSION,
        "lfw": str(lfw_dir),
        "identities": identities,
        "per_identity": per_identity,
        "seed": seed,
    }


def load_or_measure(
    cache: Path,
    lfw_dir: Path,
    model_cache_dir: Path,
    *,
    identities: int = 150,
    per_identity: int = 4,
    seed: int = 0,
) -> RealStats:
    """Cached statistics when ``cache`` was measured with the same parameters, otherwise measure and cache."""
    if cache.is_file():
        stats = RealStats.load(cache)
        wanted = _params(lfw_dir, identities, per_identity, seed)
        if all(stats.meta.get(k) == v for k, v in wanted.items()):
            return stats
    stats = measure_real(
        lfw_dir, model_cache_dir, identities=identities, per_identity=per_identity, seed=seed
    )
    stats.save(cache)
    return stats


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows ``start..start+len(vectors)`` of the collection, and the held-out queries of its identities."""

    start: int
    vectors: F32
    identities: I64
    query_vectors: F32
    query_identities: I64


class SyntheticFaces:
    """``n`` embeddings of ``ceil(n / members)`` synthetic identities, and ``queries`` held-out probes."""

    def __init__(
        self,
        stats: RealStats,
        n: int,
        *,
        members: int = 5,
        queries: int = 1000,
        seed: int = 0,
        chunk_rows: int = 100_000,
        blend: float = 0.5,
        shrinkage: float = 0.1,
        dim: int | None = None,
    ) -> None:
        if n < 1 or members < 1 or not 0.0 <= blend <= 1.0:
            raise ValueError("n and members must be positive, blend in [0, 1]")
        measured = int(stats.centres.shape[1])  # the measured model's embedding dimension
        if dim is not None and dim < measured:
            raise ValueError(f"dim must be at least the measured embeddings' {measured}")
        self.stats, self.n, self.members, self.seed, self.blend = stats, n, members, seed, blend
        self.identities = -(-n // members)
        self.ids_per_chunk = max(1, chunk_rows // members)
        self.dim = measured if dim is None else int(dim)
        centres = stats.centres.astype(np.float64)
        if self.dim != measured:  # orthonormal rows: (measured, dim), cosines between centres kept
            q, _ = np.linalg.qr(np.random.default_rng([seed, 3]).standard_normal((self.dim, measured)))
            centres = centres @ q.T
        self.mu = centres.mean(axis=0)
        dev = centres - self.mu
        cov = dev.T @ dev / max(len(dev) - 1, 1)
        cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / self.dim * np.eye(self.dim)
        self.chol = np.linalg.cholesky(cov)
        self.dev = dev
        picks = np.random.default_rng([seed, 1]).choice(self.identities, min(queries, self.identities), False)
        self.query_ids = np.sort(picks).astype(np.int64)

    def chunks(self) -> Iterator[Chunk]:
        for c, first in enumerate(range(0, self.identities, self.ids_per_chunk)):
            yield self._chunk(c, first, min(first + self.ids_per_chunk, self.identities))

    def _chunk(self, c: int, first: int, last: int) -> Chunk:
        rng = np.random.default_rng([self.seed, 2, c])
        centres = self._centres(rng, last - first)
        owner = np.repeat(np.arange(first, last, dtype=np.int64), self.members)
        start = first * self.members
        keep = min(len(owner), self.n - start)
        vectors = self._members(rng, centres[owner - first])[:keep]
        q = self.query_ids[(self.query_ids >= first) & (self.query_ids < last)]
        return Chunk(start, vectors, owner[:keep], self._members(rng, centres[q - first]), q)

    def _centres(self, rng: np.random.Generator, k: int) -> F32:
        parent = rng.integers(0, len(self.dev), k)
        z = rng.standard_normal((k, self.dim)) @ self.chol.T
        raw = self.mu + math.sqrt(1 - self.blend) * self.dev[parent] + math.sqrt(self.blend) * z
        return normalise(raw.astype(np.float32))

    def _members(self, rng: np.random.Generator, centres: F32) -> F32:
        cos = rng.choice(self.stats.member_cos, len(centres)).astype(np.float32)[:, None]
        u = rng.standard_normal(centres.shape).astype(np.float32)
        u -= (u * centres).sum(axis=1, keepdims=True) * centres
        u = normalise(u)
        return normalise(cos * centres + np.sqrt(np.clip(1 - cos * cos, 0, 1)) * u)

    def materialise(self) -> tuple[F32, I64, F32, I64]:
        """(vectors, identity per row, query vectors, query identities), filled chunk by chunk."""
        vectors = np.empty((self.n, self.dim), dtype=np.float32)
        owner = np.empty(self.n, dtype=np.int64)
        qv, qi = [], []
        for ch in self.chunks():
            vectors[ch.start : ch.start + len(ch.vectors)] = ch.vectors
            owner[ch.start : ch.start + len(ch.vectors)] = ch.identities
            qv.append(ch.query_vectors)
            qi.append(ch.query_identities)
        return vectors, owner, np.concatenate(qv), np.concatenate(qi)


def distribution(values: npt.NDArray[np.float32]) -> dict[str, float]:
    """Percentiles (p5, p50, p95) and mean of a cosine distribution."""
    p5, p50, p95 = np.percentile(values, [5, 50, 95]) if len(values) else (math.nan,) * 3
    return {"p5": round(float(p5), 4), "p50": round(float(p50), 4), "p95": round(float(p95), 4)} | {
        "mean": round(float(np.mean(values)), 4) if len(values) else math.nan
    }


def compare(stats: RealStats, vectors: F32, owner: I64, sample: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Real against synthetic genuine/impostor cosine distributions, on ``sample`` synthetic rows."""
    rng = np.random.default_rng(seed)
    identities = int(owner.max()) + 1
    wanted = max(1, sample // max(1, int(np.bincount(owner).max())))
    first = rng.choice(identities, min(identities, wanted), False)  # small runs have fewer identities
    rows = np.flatnonzero(np.isin(owner, first))[:sample]
    synth = RealStats.from_embeddings(vectors[rows], owner[rows])
    return {
        "genuine_cos": {
            "real": distribution(stats.genuine_cos),
            "synthetic": distribution(synth.genuine_cos),
        },
        "impostor_cos": {
            "real": distribution(stats.impostor_cos),
            "synthetic": distribution(synth.impostor_cos),
        },
        "member_to_centre_cos": {"real": distribution(stats.member_cos)},
    }
