"""``glasshouse bench index`` and ``glasshouse bench reconcile`` run small and report what they measured
(no timing is asserted: benchmarks print figures, tests check they are computed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from glasshouse.bench import reconcile
from glasshouse.bench.synthetic import RealStats
from glasshouse.cli.bench import bench_app
from glasshouse.config import Settings


def _toy_stats(identities: int = 200, cos: float = 0.975) -> RealStats:
    """LFW-like statistics: identity centres in a cone, 4 members each at cosine ``cos`` to their centre."""
    rng = np.random.default_rng(0)
    mu = rng.normal(size=128)
    raw = mu / np.linalg.norm(mu) + 0.045 * rng.normal(size=(identities, 128))
    centres = np.repeat(raw / np.linalg.norm(raw, axis=1, keepdims=True), 4, axis=0)
    u = rng.normal(size=centres.shape)
    u -= (u * centres).sum(axis=1, keepdims=True) * centres
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    members = np.asarray(cos * centres + np.sqrt(1 - cos**2) * u, dtype=np.float32)
    return RealStats.from_embeddings(members, np.repeat(np.arange(identities), 4), {"toy": True})


def test_reconcile_bench_reports_recall_and_no_deleted_face() -> None:
    result = reconcile.run(_toy_stats(), faces=3000, queries=100, churn=0.2)
    assert result["changed_faces"] == 600
    assert result["queries_returning_a_deleted_face_in_top10"] == 0
    assert result["recall_at_1_fresh"] >= 0.95 and result["recall_at_1_reconciled"] >= 0.95


def test_bench_index_cli_enrols_the_same_images_with_each_worker_count(
    settings: Settings, shared_data: Path, tmp_path: Path
) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    args = ["index", "--images", "6", "--lfw", str(lfw), "--workers", "1", "--workers", "2"]
    result = CliRunner().invoke(bench_app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "reproduce: glasshouse bench index --images 6" in result.output
    (written,) = tmp_path.glob("index-*.json")
    report = json.loads(written.read_text())
    assert [r["workers"] for r in report["runs"]] == [1, 2]
    for run in report["runs"]:
        assert run["files"] == 6 and run["images_indexed"] + run["no_face"] == 6
        assert run["enrolments_per_s"] > 0 and run["wall_s"] >= run["startup_s"] > 0
    assert report["runs"][0]["images_indexed"] == report["runs"][1]["images_indexed"]
