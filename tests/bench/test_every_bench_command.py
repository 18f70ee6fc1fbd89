"""Every ``glasshouse bench`` command runs end to end on a tiny input, so a broken benchmark fails the suite
(``make bench`` once died in ``bench api``: it enrolled outside the policy gate). No timing is asserted:
the commands print figures; these tests check that they ran, through the gate, and wrote their result."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from glasshouse.bench.synthetic import RealStats
from glasshouse.cli.bench import bench_app
from glasshouse.config import Settings
from video.helpers import write_video


def _toy_stats(path: Path, identities: int = 60) -> Path:
    """LFW-like embedding statistics (identity centres in a cone, 4 members each), saved where --stats reads."""
    rng = np.random.default_rng(0)
    mu = rng.normal(size=128)
    raw = mu / np.linalg.norm(mu) + 0.045 * rng.normal(size=(identities, 128))
    centres = np.repeat(raw / np.linalg.norm(raw, axis=1, keepdims=True), 4, axis=0)
    u = rng.normal(size=centres.shape)
    u -= (u * centres).sum(axis=1, keepdims=True) * centres
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    members = np.asarray(0.975 * centres + np.sqrt(1 - 0.975**2) * u, dtype=np.float32)
    RealStats.from_embeddings(members, np.repeat(np.arange(identities), 4), {"toy": True}).save(path)
    return path


def _short_clip(shared: Path, path: Path, frames: int = 20) -> Path:
    """The Hamilton clip's first ``frames`` frames (real faces, under a second) as a small MP4."""
    source = shared / "video" / "hamilton" / "short_hamilton_clip.mp4"
    if path.exists() or not source.is_file():
        return path
    with av.open(str(source)) as clip:
        images = [
            f.to_ndarray(format="rgb24") for _, f in zip(range(frames), clip.decode(video=0), strict=False)
        ]
    return write_video(path, images)


def _commands(shared: Path, tmp: Path) -> dict[str, list[str]]:
    """One tiny invocation per bench command."""
    lfw = str(shared / "lfw" / "lfw-deepfunneled")
    stats = str(_toy_stats(tmp / "stats.npz"))
    return {
        "engine": ["--images", "4", "--baseline-images", "1", "--clients", "2", "--lfw", lfw],
        "api": ["--faces", "3", "--probes", "2", "--rounds", "1", "--clients", "2", "--lfw", lfw],
        "search": [
            "--faces",
            "300",
            "--queries",
            "10",
            "--exact-queries",
            "5",
            "--stats",
            stats,
            "--no-pgvector",
        ],
        "index": ["--images", "2", "--workers", "1", "--lfw", lfw],
        "reconcile": ["--faces", "300", "--queries", "10", "--stats", stats],
        "video": ["--sample-fps", "0.5", "--fixed", "--no-naive"],
        "redact": ["--clip", str(_short_clip(shared, tmp / "short.mp4"))],
    }


def _registered() -> set[str]:
    group = typer.main.get_group(bench_app)
    return set(group.commands)


def test_every_bench_command_has_a_tiny_run_here(tmp_path: Path) -> None:
    assert _registered() == set(_commands(Path("."), tmp_path)), "add the new bench command to _commands"


@pytest.mark.parametrize("name", sorted(_registered()))
def test_bench_command_runs_on_a_tiny_input(
    name: str, settings: Settings, shared_data: Path, tmp_path: Path
) -> None:
    args = _commands(shared_data, tmp_path)[name]
    if name == "video":
        args = ["--clip", str(shared_data / "video" / "hamilton" / "short_hamilton_clip.mp4"), *args]
    result = CliRunner().invoke(bench_app, [name, *args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    (written,) = (tmp_path / "out").glob(f"{name}-*.json")
    report = json.loads(written.read_text())
    assert report["command"].startswith(f"glasshouse bench {name}")
    assert report["machine"]["cpu"] and "cpu_flags" in report["machine"]
    if name == "engine":  # single-request and concurrent figures, and how the models ran
        g = report["glasshouse"]
        assert g["concurrent"]["clients"] == 2 and g["concurrent"]["images"] == 4
        assert report["face_recognition"]["concurrent"]["images"] == 1
        assert (
            "thread" in g["config"]["embedder"]["threads"] and "thread" in g["config"]["detector"]["threads"]
        )
        assert g["config"]["batching"]["wait_ms"] == settings.embed_batch_wait_ms
        assert "batching:" in result.output and "at once" in result.output
        assert g["config"]["detection_min_face"] == settings.detection_min_face
        untuned = report["untuned"]  # the same engine untuned, side by side: the concurrent 2x target
        assert untuned["images"] == 4 and untuned["concurrent"]["clients"] == 2
        assert untuned["config"]["batching"] == "off" and untuned["config"]["detection_min_face"] == 0
        assert report["speedup_vs_untuned_concurrent_faces_per_s"] is not None
        assert "over the untuned engine" in result.output
        ceiling = report["ceiling"]  # how near the networks run to one core's dense-convolution rate
        assert ceiling["reference"]["gflops"] > 0 and "of the ceiling" in result.output
        assert {n["gmacs_per_run"] for n in ceiling["networks"].values()} == {0.5416, 0.395}
        assert all(n["share_of_ceiling"] > 0 for n in ceiling["networks"].values())
    if name == "api":  # enrolled and searched through the gate, one client and two at once
        assert report["in_process"]["requests"] == report["api"]["requests"] == 2
        assert report["api_concurrent"]["clients"] == 2 and report["api_concurrent"]["requests"] == 2
        # What explains the concurrent figure: the server's CPU per request and busy cores, its limit.
        for part in ("api", "api_concurrent"):
            assert report[part]["server_cpu_ms_per_request"] > 0 and "server_cores_busy" in report[part]
        assert report["server"]["analysis_slots"] >= 1 and "batching" in report["server"]["engine"]
