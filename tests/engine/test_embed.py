"""Embedders on real aligned faces: the ONNX ResNet equals dlib's, normalisation, batching, flip, identity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlib_reference import hog_detections
from glasshouse.engine.align import DlibAligner
from glasshouse.engine.decode import decode_image
from glasshouse.engine.embed import DlibResNetEmbedder, OnnxResNetEmbedder, l2_normalise
from glasshouse.engine.types import Chips, RGBImage
from glasshouse.errors import InvalidParameterError

#: Every 200th LFW person (sorted), first image: 29 different people.
LFW_STRIDE = 200
EXAMPLES = (
    "obama.jpg",
    "obama2.jpg",
    "biden.jpg",
    "alex-lacamoire.png",
    "lin-manuel-miranda.png",
    "two_people.jpg",
)
IDENTITIES = ("George_W_Bush", "Colin_Powell", "Serena_Williams", "Tony_Blair")


def load(path: Path) -> RGBImage:
    return decode_image(path.read_bytes())


def chips_of(paths: list[Path], aligner: DlibAligner) -> Chips:
    out = []
    for p in paths:
        image = load(p)
        dets = hog_detections(image)
        if dets:
            out.append(aligner.align(image, dets))
    return np.concatenate(out)


@pytest.fixture(scope="module")
def chips(shared_data: Path) -> Chips:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    people = sorted(p for p in lfw.iterdir() if p.is_dir())[::LFW_STRIDE]
    paths = [sorted(p.iterdir())[0] for p in people]
    paths += [shared_data / "face_recognition" / "examples" / name for name in EXAMPLES]
    result = chips_of(paths, DlibAligner())
    assert len(result) >= 30
    return result


@pytest.fixture(scope="module")
def embedder(model_cache_dir: Path) -> OnnxResNetEmbedder:
    return OnnxResNetEmbedder(model_cache_dir, threads=2)


def test_onnx_raw_descriptors_equal_dlib(chips: Chips, embedder: OnnxResNetEmbedder) -> None:
    ours = embedder.embed_raw(chips)
    ref = DlibResNetEmbedder().embed_raw(chips)
    assert ours.shape == ref.shape == (len(chips), 128)
    assert float(np.abs(ours - ref).max()) <= 1e-4
    cosine = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert float(cosine.min()) >= 0.99999


@pytest.mark.parametrize("flip", [True, False])
def test_embeddings_are_unit_float32(chips: Chips, model_cache_dir: Path, flip: bool) -> None:
    emb = OnnxResNetEmbedder(model_cache_dir, threads=2, flip=flip).embed(chips)
    assert emb.dtype == np.float32 and emb.shape == (len(chips), 128)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_dlib_embedder_matches_onnx_embeddings(chips: Chips, embedder: OnnxResNetEmbedder) -> None:
    few = chips[:4]
    ref = DlibResNetEmbedder(flip=True).embed(few)
    assert ref.dtype == np.float32 and ref.shape == (4, 128)
    np.testing.assert_allclose(embedder.embed(few), ref, atol=1e-5)


def test_batch_equals_singles(chips: Chips, embedder: OnnxResNetEmbedder) -> None:
    batch = embedder.embed(chips[:20])  # crosses the internal batch of 16
    singles = np.concatenate([embedder.embed(chips[i : i + 1]) for i in range(20)])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_flip_averages_raw_descriptors_of_chip_and_mirror(chips: Chips, embedder: OnnxResNetEmbedder) -> None:
    few = chips[:3]
    expected = l2_normalise(0.5 * (embedder.embed_raw(few) + embedder.embed_raw(few[:, :, ::-1])))
    np.testing.assert_allclose(embedder.embed(few), expected, atol=1e-6)


def test_same_person_closer_than_different_people(shared_data: Path, embedder: OnnxResNetEmbedder) -> None:
    lfw = shared_data / "lfw" / "lfw-deepfunneled"
    aligner = DlibAligner()
    labels, rows = [], []
    for name in IDENTITIES:
        for i in (1, 2, 3):
            c = chips_of([lfw / name / f"{name}_{i:04d}.jpg"], aligner)[:1]
            labels.append(name)
            rows.append(embedder.embed(c)[0])
    emb = np.stack(rows)
    sims = emb @ emb.T
    same = np.array([[a == b for b in labels] for a in labels])
    off_diagonal = ~np.eye(len(labels), dtype=bool)
    assert sims[same & off_diagonal].min() > sims[~same].max()


def test_example_photos_identity(shared_data: Path, embedder: OnnxResNetEmbedder) -> None:
    """dlib's documented rule: raw descriptors of one person lie within Euclidean distance 0.6."""
    ex = shared_data / "face_recognition" / "examples"
    obama, obama2, biden = (embedder.embed_raw(chips_of([ex / n], DlibAligner()))[0] for n in EXAMPLES[:3])
    assert float(np.linalg.norm(obama - obama2)) < 0.6
    assert float(np.linalg.norm(obama - biden)) > 0.6
    assert float(np.linalg.norm(obama2 - biden)) > 0.6


def test_empty_and_invalid_input(model_cache_dir: Path) -> None:
    embedder = OnnxResNetEmbedder(model_cache_dir, threads=1)
    empty = embedder.embed(np.zeros((0, 150, 150, 3), dtype=np.uint8))
    assert empty.shape == (0, 128) and empty.dtype == np.float32
    with pytest.raises(InvalidParameterError):
        embedder.embed(np.zeros((2, 112, 112, 3), dtype=np.uint8))
    with pytest.raises(InvalidParameterError):
        embedder.embed(np.zeros((2, 150, 150, 3), dtype=np.float32))


def test_models_load_lazily(tmp_path: Path) -> None:
    embedder = OnnxResNetEmbedder(tmp_path / "never-created", threads=1)
    embedder.embed(np.zeros((0, 150, 150, 3), dtype=np.uint8))
    assert not (tmp_path / "never-created").exists()
