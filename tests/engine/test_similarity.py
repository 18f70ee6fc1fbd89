"""The shipped similarity anchors: a monotone map whose documented FMR bounds every calibrated condition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glasshouse.engine.similarity import (
    ANCHORS_FILE,
    CALIBRATION,
    cosine_for_similarity,
    load_calibration,
    similarity_from_cosine,
)
from glasshouse.evaluation.calibrate import ANCHORS
from glasshouse.evaluation.conditions import CONDITIONS

SHIPPED = json.loads(ANCHORS_FILE.read_text())


def test_the_map_is_read_from_the_anchors_file_and_hits_each_anchor() -> None:
    assert load_calibration(ANCHORS_FILE) == CALIBRATION
    assert [s for _, s, _ in CALIBRATION] == [0.0, *(s for _, s in ANCHORS), 100.0]
    for cos, sim, _ in CALIBRATION:
        assert similarity_from_cosine(cos) == pytest.approx(sim)
        assert cosine_for_similarity(sim) == pytest.approx(cos)


def test_every_condition_was_calibrated_with_its_command_recorded() -> None:
    assert SHIPPED["command"].startswith("glasshouse evaluate calibrate ")
    assert set(SHIPPED["conditions"]) == set(CONDITIONS)
    for name, c in SHIPPED["conditions"].items():
        assert c["impostor_pairs"] > 0 and c["genuine_pairs"] > 0, name


def test_each_anchor_bounds_the_fmr_of_every_condition() -> None:
    """For every condition, the FMR measured at each anchor is within the anchor's target: its 95% Wilson
    upper bound where the condition has the impostor pairs to bound it, else the measured rate."""
    table = {sim: (cos, fmr) for cos, sim, fmr in CALIBRATION}
    for anchor in SHIPPED["anchors"]:
        target, cos = anchor["target_fmr"], anchor["cosine"]
        assert table[anchor["similarity"]] == (pytest.approx(cos), target)
        own = [c["own_cosine"] for c in anchor["conditions"].values()]
        assert cos >= max(own) - 1e-9  # the strictest condition decides, not an average
        for name, c in anchor["conditions"].items():
            assert c["fmr"] <= target, (anchor["similarity"], name)
            if c["own_cosine_from"] == "wilson upper bound":
                assert c["fmr_ci95"][1] <= target, (anchor["similarity"], name)


def test_a_broken_anchors_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "calibration.json"
    bad.write_text(
        json.dumps({"calibration_table": [[-1, 0, 1], [0.9, 80, 1e-3], [0.8, 90, 1e-4], [1, 100, 0]]})
    )
    with pytest.raises(ValueError, match="increasingly"):
        load_calibration(bad)
