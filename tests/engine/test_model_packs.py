"""Model packs: cards, checksum-verified installation of the MobileFaceNet pack from its npm tarball, the
converted network's geometry and its recognition of real faces, and an operator's own ONNX with own card."""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from glasshouse.engine.models import DLIB, MOBILEFACENET, ModelCard, ModelRegistry
from glasshouse.engine.models.packs import install_known, install_onnx
from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.errors import InvalidParameterError, ModelNotInstalledError


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, mobilefacenet_tarball: Path) -> ModelRegistry:
    registry = ModelRegistry(tmp_path_factory.mktemp("packs"))
    install_known(registry, MOBILEFACENET, mobilefacenet_tarball, accepted_by="test", work_dir=Path("."))
    return registry


def _lfw(shared_data: Path, name: str, n: int) -> np.ndarray:
    path = shared_data / "lfw/lfw-deepfunneled" / name / f"{name}_{n:04d}.jpg"
    return np.ascontiguousarray(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


def test_cards_round_trip_and_state_provenance() -> None:
    for card in (DLIB, MOBILEFACENET):
        assert ModelCard.from_yaml(card.to_yaml()) == card
    assert DLIB.default and not MOBILEFACENET.default
    for words in ("MS1M-V2", "non-commercial research only", "withdrawn", "unnamed packager", "undocumented"):
        assert words in MOBILEFACENET.provenance
    assert DLIB.model_version() == "glasshouse-centerface1-lm5-dlibresnet1"  # existing collections unchanged
    assert MOBILEFACENET.model_version() == "glasshouse-centerface1-af5-mobilefacenet1"
    with pytest.raises(InvalidParameterError, match="calibration"):
        ModelCard.from_dict({**MOBILEFACENET.to_dict(), "anchors": [[0.5, 80, 1e-3]]})


def test_installs_from_tarball_with_verified_checksum(registry: ModelRegistry) -> None:
    assert registry.is_installed("mobilefacenet")
    assert registry.require("mobilefacenet") == MOBILEFACENET
    assert registry.acceptance("mobilefacenet")["accepted_by"] == "test"  # type: ignore[index]
    assert registry.by_version(MOBILEFACENET.model_version()).name == "mobilefacenet"


def test_refuses_a_tampered_source(tmp_path: Path, mobilefacenet_tarball: Path) -> None:
    with tarfile.open(mobilefacenet_tarball) as tar:
        member = tar.getmember(MOBILEFACENET.source.member or "")
        data = bytearray(tar.extractfile(member).read())  # type: ignore[union-attr]
    data[1000] ^= 0xFF
    bad = tmp_path / "MobileFaceNet.tflite"
    bad.write_bytes(bytes(data))
    registry = ModelRegistry(tmp_path / "packs")
    with pytest.raises(InvalidParameterError, match="checksum mismatch"):
        install_known(registry, MOBILEFACENET, bad, accepted_by="test", work_dir=tmp_path)
    assert not registry.is_installed("mobilefacenet")
    with pytest.raises(ModelNotInstalledError, match="glasshouse models install mobilefacenet"):
        registry.require("mobilefacenet")


def test_pack_engine_embeds_real_faces(
    registry: ModelRegistry, model_cache_dir: Path, shared_data: Path
) -> None:
    base = FaceEngine(EngineOptions(model_cache_dir=model_cache_dir, threads=1))
    engine = base.with_model(registry.require("mobilefacenet"), registry.model_file("mobilefacenet"))
    assert engine.chip_size == 112 and engine.embedding_dim == 192
    assert engine.model_version == MOBILEFACENET.model_version()
    assert base.model_version == DLIB.model_version() and base.embedding_dim == 128
    a, b = _lfw(shared_data, "Colin_Powell", 1), _lfw(shared_data, "Colin_Powell", 2)
    other = _lfw(shared_data, "George_W_Bush", 1)
    ea, eb, eo = (engine.analyse(img, max_faces=1)[0].embedding for img in (a, b, other))
    assert ea is not None and eb is not None and eo is not None
    assert ea.shape == (192,) and abs(float(np.linalg.norm(ea)) - 1) < 1e-5
    assert engine.align(a, engine.detect(a)[:1]).shape == (1, 112, 112, 3)
    same, different = float(ea @ eb), float(ea @ eo)
    assert engine.calibration.similarity(same) >= 80 > engine.calibration.similarity(different)
    # The batch dimension is free (the converted graph had a fixed batch of 2).
    chips = engine.align(a, engine.detect(a)[:1])
    assert engine.embed_chips(np.repeat(chips, 5, axis=0)).shape == (5, 192)


def test_operator_registers_own_onnx_with_own_card(registry: ModelRegistry, tmp_path: Path) -> None:
    own = replace(
        MOBILEFACENET,
        name="my-sface",
        model_id="mysface1",
        provenance="licensed by us",
        source=replace(MOBILEFACENET.source, kind="file", package=None, member=None),
    )
    onnx = tmp_path / "own.onnx"
    shutil.copy(registry.model_file("mobilefacenet"), onnx)  # type: ignore[arg-type]
    target = ModelRegistry(tmp_path / "packs")
    install_onnx(target, onnx, own, accepted_by="test")
    assert target.require("my-sface").provenance == "licensed by us"
    wrong_dim = replace(own, name="wrong", model_id="wrong1", embedding_dim=128)
    with pytest.raises(InvalidParameterError, match="128-d"):
        install_onnx(target, onnx, wrong_dim, accepted_by="test")
    assert not target.is_installed("wrong")
    with pytest.raises(InvalidParameterError, match="already used"):
        install_onnx(target, onnx, replace(own, name="again"), accepted_by="test")


def test_an_own_card_cannot_pose_as_a_known_pack(registry: ModelRegistry, tmp_path: Path) -> None:
    """An operator's card named or versioned like a known pack (not installed yet) is refused: otherwise a
    collection made later on the real pack would embed with the impostor's network, which answers with the
    same FaceModelVersion."""
    onnx = tmp_path / "own.onnx"
    shutil.copy(registry.model_file("mobilefacenet"), onnx)  # type: ignore[arg-type]
    target = ModelRegistry(tmp_path / "packs")
    source = replace(MOBILEFACENET.source, kind="file", package=None, member=None)
    posing = replace(MOBILEFACENET, name="not-mobilefacenet", source=source)  # the known pack's model_id
    with pytest.raises(InvalidParameterError, match="already used"):
        install_onnx(target, onnx, posing, accepted_by="test")
    with pytest.raises(InvalidParameterError, match="known pack"):
        install_onnx(
            target, onnx, replace(posing, model_id="other1", name="mobilefacenet"), accepted_by="test"
        )
    assert [c.name for c in target.installed()] == ["dlib"]
