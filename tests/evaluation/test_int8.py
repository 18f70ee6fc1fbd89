"""``glasshouse evaluate int8`` compares the int8 embedder with the float one on the same real faces, and
``evaluate int8-ranges`` calibrates on LFW people outside the View-2 pairs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glasshouse.cli.evaluate import evaluate_app
from glasshouse.evaluation.int8 import calibration_images
from glasshouse.evaluation.pairs import distinct_images, read_lfw_pairs


def test_evaluate_int8_reports_the_accuracy_bar(shared_data: Path, model_cache_dir: Path) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    args = ["int8", str(lfw), "--pairs", str(shared_data / "lfw" / "pairs.txt"), "--faces", "30"]
    result = CliRunner().invoke(evaluate_app, [*args, "--model-cache", str(model_cache_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["faces"] == 30 and report["pairs"] > 0
    assert 0 <= report["similarity_change"]["mean"] <= report["similarity_change"]["max"] < 5
    assert report["same_top1_percent"] > 80 and report["self_cosine_min"] > 0.99


def test_calibration_images_are_held_out_of_the_lfw_pairs(shared_data: Path) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    pairs = shared_data / "lfw" / "pairs.txt"
    chosen = calibration_images(lfw, pairs, 64, seed=0)
    assert len(chosen) == 64 and chosen == calibration_images(lfw, pairs, 64, seed=0)
    people_in_pairs = {p.parent.name for p in distinct_images(read_lfw_pairs(pairs, lfw))}
    assert not {p.parent.name for p in chosen} & people_in_pairs
