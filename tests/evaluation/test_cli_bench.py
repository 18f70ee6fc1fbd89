"""``glasshouse bench engine`` on a handful of LFW images (the real benchmark uses 500)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glasshouse.bench.engine import select_images
from glasshouse.cli.bench import bench_app


def test_select_images_is_seeded(shared_data: Path) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    assert select_images(lfw, 5, seed=3) == select_images(lfw, 5, seed=3)
    assert select_images(lfw, 5, seed=3) != select_images(lfw, 5, seed=4)


def test_bench_engine_small(shared_data: Path, model_cache_dir: Path, tmp_path: Path) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    args = ["engine", "--images", "4", "--baseline-images", "2", "--lfw", str(lfw), "--out", str(tmp_path)]
    result = CliRunner().invoke(bench_app, [*args, "--model-cache", str(model_cache_dir)])
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.glob("engine-*.json")
    r = json.loads(written.read_text())
    assert r["glasshouse"]["images"] == 4 and r["glasshouse"]["faces"] >= 4
    assert r["face_recognition"]["images"] == 2 and r["face_recognition"]["subset"] is True
    assert r["speedup_faces_per_s"] > 0
    assert set(r["glasshouse"]["stage_ms_per_image"]) == {
        "decode",
        "detect",
        "pose_quality",
        "align",
        "embed",
    }
    assert "--baseline-images 2" in r["command"]
    assert "speed-up" in result.output
