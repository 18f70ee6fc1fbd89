"""Measure the activation ranges the int8 models are quantised with (the committed ``engine/int8`` tables).

Calibration images are LFW images of people outside the View-2 pairs (so LFW accuracy is measured on
images the ranges never saw), drawn with a fixed seed. The embedder sees each image's centre-most face,
aligned, and its mirror (the engine embeds both); the detector sees each whole image as the engine
prepares it. Rerun after a model or aligner change: ``glasshouse evaluate int8-ranges``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from glasshouse.engine.decode import decode_image
from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.evaluation.embedding import fallback_detection, nearest_centre
from glasshouse.evaluation.pairs import distinct_images, list_identity_images, read_lfw_pairs


def calibration_images(lfw_dir: Path, pairs_file: Path, n: int, seed: int) -> list[Path]:
    held_out = set(distinct_images(read_lfw_pairs(pairs_file, lfw_dir)))
    people_in_pairs = {p.parent.name for p in held_out}
    paths, _ = list_identity_images(lfw_dir)
    candidates = [p for p in paths if p.parent.name not in people_in_pairs]
    return sorted(random.Random(seed).sample(candidates, min(n, len(candidates))))


def _embedder_feeds(engine: FaceEngine, paths: list[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        image = decode_image(path.read_bytes())
        h, w = image.shape[:2]
        found = engine.detect(image)
        chip = engine.align(image, [nearest_centre(found, w, h) if found else fallback_detection(w, h)])
        yield {"chips": chip}
        yield {"chips": np.ascontiguousarray(chip[:, :, ::-1])}


def _detector_feeds(paths: list[Path], max_side: int) -> Iterator[dict[str, Any]]:
    from glasshouse.engine.centerface import prepare

    for path in paths:
        blob, _ = prepare(decode_image(path.read_bytes()), max_side)
        yield {"input.1": blob}


def measure(lfw_dir: Path, pairs_file: Path, n: int, seed: int, model_cache_dir: Path) -> dict[str, Any]:
    """``{model name: ranges table}`` for the embedder and the detector."""
    from glasshouse.engine import model_files
    from glasshouse.engine.centerface import load_cached_model
    from glasshouse.engine.dlib_resnet import CACHE_STEM, ensure_onnx
    from glasshouse.engine.quantize import measure_ranges

    paths = calibration_images(lfw_dir, pairs_file, n, seed)
    source = f"{len(paths)} LFW images outside the View-2 pairs (seed {seed})"
    engine = FaceEngine(EngineOptions(model_cache_dir=model_cache_dir, threads=1))
    embedder = measure_ranges(
        ensure_onnx(model_cache_dir).read_bytes(), _embedder_feeds(engine, paths), source + ", with mirrors"
    )
    detector = measure_ranges(
        load_cached_model(model_cache_dir, model_files.centerface_onnx()),
        _detector_feeds(paths, engine.options.detection_max_side),
        source,
    )
    return {CACHE_STEM: embedder, "centerface": detector}


def compare_precisions(
    lfw_dir: Path, pairs_file: Path, faces: int, model_cache_dir: Path, seed: int = 0
) -> dict[str, Any]:
    """The int8 embedder against the float one on the same aligned faces: LFW View-2 accuracy over the
    pairs whose two images are among the faces, similarity change per pair, and how often a search of
    ``faces`` faces (each face the probe, itself left out) returns the same top-1."""
    from glasshouse.engine.embed import OnnxResNetEmbedder
    from glasshouse.engine.similarity import similarity_from_cosine
    from glasshouse.evaluation.metrics import kfold_accuracy

    pairs = read_lfw_pairs(pairs_file, lfw_dir)
    in_pairs = distinct_images(pairs)
    rest = sorted(set(list_identity_images(lfw_dir)[0]) - set(in_pairs))
    random.Random(seed).shuffle(rest)
    paths = (in_pairs + rest)[:faces]
    engine = FaceEngine(EngineOptions(model_cache_dir=model_cache_dir, threads=1))
    chips = np.concatenate([next(_embedder_feeds(engine, [p]))["chips"] for p in paths])
    emb = {
        precision: OnnxResNetEmbedder(model_cache_dir, threads=1, precision=precision).embed(chips)
        for precision in ("float", "int8")
    }
    index = {p: i for i, p in enumerate(paths)}
    usable = [p for p in pairs if p.a in index and p.b in index]
    result: dict[str, Any] = {"faces": len(paths), "pairs": len(usable)}
    if usable:
        a = np.array([index[p.a] for p in usable])
        b = np.array([index[p.b] for p in usable])
        same = np.array([p.same for p in usable])
        folds = [p.fold for p in usable]
        sims = {}
        for precision, e in emb.items():
            cos = (e[a] * e[b]).sum(axis=1)
            sims[precision] = similarity_from_cosine(cos)
            if len(set(folds)) > 1:  # a fold's threshold is chosen on the others
                k = kfold_accuracy(cos, same, folds)
                result[f"lfw_accuracy_{precision}"] = [round(100 * k.mean, 3), round(100 * k.std, 3)]
        diff = np.abs(sims["float"] - sims["int8"])
        result["similarity_change"] = {
            "mean": round(float(diff.mean()), 4),
            "p99": round(float(np.percentile(diff, 99)), 4),
            "max": round(float(diff.max()), 4),
        }
    top1 = {}
    for precision, e in emb.items():
        scores = e @ e.T
        np.fill_diagonal(scores, -2.0)
        top1[precision] = scores.argmax(axis=1)
    result["same_top1_percent"] = round(100 * float((top1["float"] == top1["int8"]).mean()), 3)
    result["self_cosine_min"] = round(float((emb["float"] * emb["int8"]).sum(axis=1).min()), 5)
    return result
