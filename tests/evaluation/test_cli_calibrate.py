"""``glasshouse evaluate calibrate`` end to end on a tiny real LFW sample: four conditions, anchors that
bound every condition's FMR, and an anchors file the engine can read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from glasshouse.cli.evaluate import evaluate_app
from glasshouse.engine.similarity import load_calibration
from glasshouse.evaluation.calibrate import ANCHORS
from glasshouse.evaluation.conditions import CONDITIONS


def test_calibrate_on_a_tiny_sample(shared_data: Path, model_cache_dir: Path, tmp_path: Path) -> None:
    out, anchors_file = tmp_path / "out", tmp_path / "anchors.json"
    args = [
        "calibrate",
        str(shared_data / "lfw" / "lfw-deepfunneled"),
        "--images", "16", "--transformed", "6", "--seed", "3",
        "--out", str(out), "--anchors-out", str(anchors_file),
        "--workers", "1", "--model-cache", str(model_cache_dir),
    ]  # fmt: skip
    result = CliRunner().invoke(evaluate_app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "calibration.json").read_text())
    assert (out / "calibration-det.png").read_bytes().startswith(b"\x89PNG")
    assert summary["sample"]["images"] == 16 and summary["sample"]["transformed"] == 6
    assert list(summary["conditions"]) == list(CONDITIONS)
    frontal = summary["conditions"]["frontal"]
    assert frontal["used"] + frontal["no_face"] + frontal["undecodable"] == 16
    # frontal: every unordered pair of the images with a face
    assert (
        frontal["genuine_pairs"] + frontal["impostor_pairs"] == frontal["used"] * (frontal["used"] - 1) // 2
    )
    for name in ("low-resolution", "close-up"):  # each probe against every other frontal image
        c = summary["conditions"][name]
        assert c["images"] == 6 and c["genuine_pairs"] + c["impostor_pairs"] == c["used"] * (
            frontal["used"] - 1
        )
    # the anchors: one per target, increasing, each bounding every condition's measured FMR
    table = load_calibration(anchors_file)
    assert [r[1] for r in table[1:-1]] == [s for _, s in ANCHORS]
    for anchor in summary["anchors"]:
        for name, c in anchor["conditions"].items():
            assert c["fmr"] <= anchor["target_fmr"], (anchor["similarity"], name)
    assert "command" in json.loads(anchors_file.read_text())
    with np.load(out / "calibration-histograms.npz") as hists:
        assert int(hists["frontal/impostor"].sum()) == frontal["impostor_pairs"]
        assert sorted(hists.files) == sorted(f"{c}/{k}" for c in CONDITIONS for k in ("genuine", "impostor"))
    assert "similarity anchors" in result.output
