"""``glasshouse evaluate pairs`` end to end on a small real subset of deepface's labelled pairs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from glasshouse.cli.evaluate import evaluate_app


def _subset(shared_data: Path, dest: Path, per_class: int, with_group: bool) -> Path:
    rows = list(csv.DictReader((shared_data / "deepface" / "pairs_merged.csv").open(newline="")))
    same = [r for r in rows if r["same"] == "1"][:per_class]
    diff = [r for r in rows if r["same"] == "0"][:per_class]
    with dest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file_x", "file_y", "same"] + (["group"] if with_group else []))
        for i, r in enumerate(same + diff):
            w.writerow([r["file_x"], r["file_y"], r["same"]] + ([f"g{i % 2}"] if with_group else []))
    return dest


def test_evaluate_pairs_writes_json_and_plot(
    shared_data: Path, model_cache_dir: Path, tmp_path: Path
) -> None:
    csv_file = _subset(shared_data, tmp_path / "subset.csv", per_class=6, with_group=True)
    out = tmp_path / "out"
    args = ["pairs", str(csv_file), "--root", str(shared_data / "deepface" / "tests" / "unit" / "dataset")]
    args += [
        "--subgroup-column",
        "group",
        "--out",
        str(out),
        "--workers",
        "1",
        "--model-cache",
        str(model_cache_dir),
    ]
    result = CliRunner().invoke(evaluate_app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "pairs-subset-landmarks-flip.json").read_text())
    assert (out / "pairs-subset-landmarks-flip-det.png").read_bytes().startswith(b"\x89PNG")
    assert summary["images"] >= 2 and summary["results"]["pairs"] == 12
    assert summary["results"]["same"] == 6
    assert "kfold" not in summary["results"]  # too few pairs: operating points only
    points = summary["results"]["operating_points"]
    assert [p["similarity"] for p in points] == [80.0, 99.0]
    assert all(0.0 <= p["fmr"] <= 1.0 and 0.0 <= p["fnmr"] <= 1.0 for p in points)
    assert set(summary["subgroups"]) == {"g0", "g1"}
    assert summary["subgroups"]["g0"]["pairs"] == 6
    # the deepface portraits are easy: the same-person pairs must score above the different ones on average
    assert points[0]["accuracy"] >= 0.5
    assert "similarity" in result.output


def test_evaluate_pairs_missing_image_fails_cleanly(tmp_path: Path) -> None:
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("path_a,path_b,same\nnope.jpg,nada.jpg,1\n")
    result = CliRunner().invoke(evaluate_app, ["pairs", str(csv_file)])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_evaluate_close_ups_prints_and_writes_every_condition(
    shared_data: Path, model_cache_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    args = ["close-ups", str(lfw), "--identities", "3", "--seed", "5", "--out", str(out)]
    result = CliRunner().invoke(evaluate_app, [*args, "--model-cache", str(model_cache_dir)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "close-ups-3-seed5.json").read_text())
    assert summary["crops"] == 36 and len(summary["cells"]) == 12
    assert summary["found"] == summary["same_top1"] == 36
    assert "same top-1" in result.output and summary["command"].startswith("glasshouse evaluate close-ups")
