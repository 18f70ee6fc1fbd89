"""Stills: every face covered (none left for the detector), format kept; ``glasshouse redact`` through the
gate and the audit log, refusing bad requests without writing anything."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from glasshouse.audit.service import AuditFilter
from glasshouse.cli.main import app
from glasshouse.config import Settings
from glasshouse.engine.decode import decode_image
from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.redaction import Method, RedactionSettings, redact_image
from glasshouse.services import Services

GROUPS = ["2008_002506.jpg", "2009_004587.jpg", "2008_007676.jpg"]


@pytest.fixture(scope="module")
def engine(model_cache_dir: Path) -> FaceEngine:
    return FaceEngine(EngineOptions(model_cache_dir=model_cache_dir))


@pytest.fixture(scope="module")
def faces_dir(shared_data: Path) -> Path:
    return shared_data / "dlib" / "examples" / "faces"


def faces_in(engine: FaceEngine, path: Path) -> int:
    return len(engine.detect(decode_image(path.read_bytes())))


def test_no_face_is_detected_in_a_blurred_group_photo(
    engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    for name in GROUPS:
        source, out = faces_dir / name, tmp_path / name
        before = faces_in(engine, source)
        record = redact_image(engine, source, out, RedactionSettings())
        assert before >= 2 and record.faces == {"found": before, "covered": before, "kept": []}
        assert out.read_bytes()[:3] == b"\xff\xd8\xff"  # still a JPEG
        assert faces_in(engine, out) == 0, name


def test_solid_boxes_leave_no_covered_face_detectable(
    engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    """Measured: on 2008_007676.jpg the detector then finds one "face" (confidence 0.54) on a neck below a
    black box (dark box above skin); no detection falls on a face that was covered."""
    for name in GROUPS:
        source, out = faces_dir / name, tmp_path / name
        covered = engine.detect(decode_image(source.read_bytes()))
        redact_image(engine, source, out, RedactionSettings(method=Method.BOX))
        after = engine.detect(decode_image(out.read_bytes()))
        assert len(after) <= 1 and all(a.box.iou(c.box) < 0.2 for a in after for c in covered), name


def test_a_png_stays_a_png_and_a_kept_face_stays_detectable(
    engine: FaceEngine, faces_dir: Path, tmp_path: Path
) -> None:
    png = tmp_path / "group.png"
    cv2.imwrite(str(png), cv2.imread(str(faces_dir / GROUPS[0])))
    out = tmp_path / "kept.png"
    [largest, *_] = engine.detect(decode_image(png.read_bytes()))
    redact_image(engine, png, out, RedactionSettings(keep_persons=frozenset({0})))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    [left] = engine.detect(decode_image(out.read_bytes()))
    assert left.box.iou(largest.box) > 0.8


def test_cli_redacts_through_the_gate_and_audits_digests_only(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    source, out = faces_dir / GROUPS[0], tmp_path / "out.jpg"
    result = CliRunner().invoke(app, ["redact", str(source), "--out", str(out), "--method", "box"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["original"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert record["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert record["settings"]["method"] == "box" and record["faces"]["covered"] == 3
    svc = Services(settings)
    try:
        [entry] = svc.audit.search(AuditFilter(action="media.redact"))
    finally:
        svc.close()
    assert entry.decision == "allow" and entry.surface == "cli"
    assert entry.details["original_sha256"] == record["original"]["sha256"]
    assert entry.details["output_sha256"] == record["output"]["sha256"]
    assert len(json.dumps(entry.details)) < 1000  # digests and settings, never an image


@pytest.mark.parametrize(
    ("out_name", "extra", "message"),
    [
        ("same", [], "cannot replace its original"),
        ("out.png", [], "keeps its format"),
        ("out.jpg", ["--keep-person", "7"], "no face [7]"),
        ("missing/out.jpg", [], "no folder"),
    ],
)
def test_cli_refuses_bad_requests_and_writes_nothing(
    settings: Settings, faces_dir: Path, tmp_path: Path, out_name: str, extra: list[str], message: str
) -> None:
    source = tmp_path / "in.jpg"
    source.write_bytes((faces_dir / GROUPS[0]).read_bytes())
    out = source if out_name == "same" else tmp_path / out_name
    result = CliRunner().invoke(app, ["redact", str(source), "--out", str(out), *extra])
    assert result.exit_code == 1 and "InvalidParameter" in result.output and message in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jpg", "var"]
    assert source.read_bytes() == (faces_dir / GROUPS[0]).read_bytes()
