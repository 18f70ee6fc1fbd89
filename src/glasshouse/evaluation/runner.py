"""Evaluation runs: embed the images, score the pairs, compute the reports, write JSON + a DET plot."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from glasshouse.evaluation.calibrate import (
    BINS,
    ScoreHistograms,
    bin_edge,
    calibrate,
    calibration_table,
    pair_histograms,
)
from glasshouse.evaluation.embedding import (
    FACE_CHOICE,
    FALLBACK_POLICY,
    EmbedOutcome,
    PipelineConfig,
    embed_paths,
)
from glasshouse.evaluation.metrics import DetCurve, det_curve
from glasshouse.evaluation.pairs import Pair, distinct_images, list_identity_images, pair_indices
from glasshouse.evaluation.plots import write_det_plot
from glasshouse.evaluation.protocol import subgroup_reports, verification_report

Progress = Callable[[int], None]
DEFAULT_OUTDIR = Path("var/evaluation")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    import onnxruntime

    from glasshouse.engine.hardware import cpu_info

    return {
        "cpu": cpu_model(),
        "cpu_flags": list(cpu_info().flags),
        "usable_cores": cpu_info().cores,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def embedding_summary(outcome: EmbedOutcome, paths: Sequence[Path], cfg: PipelineConfig) -> dict[str, Any]:
    n = len(paths)
    return {
        "images": n,
        "face_choice": FACE_CHOICE,
        "no_face": len(outcome.fallback),
        "no_face_policy": FALLBACK_POLICY,
        "no_face_images": [str(paths[i]) for i in outcome.fallback[:50]],
        "several_faces": outcome.multi_face,
        "decode_errors": {str(paths[i]): e for i, e in outcome.errors.items()},
        "timing": {
            "wall_s": round(outcome.wall_seconds, 2),
            "ms_per_image_wall": round(outcome.ms_per_image, 2),
            "workers": outcome.workers,
            "onnx_threads_per_worker": cfg.threads,
            "stage_ms_per_image": {
                k: round(1000 * v / max(n, 1), 2) for k, v in outcome.stage_seconds.items()
            },
        },
    }


def pair_scores(
    outcome: EmbedOutcome, pairs: Sequence[Pair], images: Sequence[Path]
) -> npt.NDArray[np.float64]:
    """Cosine per pair; -1 (a certain non-match) where either image could not be decoded."""
    ia, ib = (np.asarray(x) for x in pair_indices(pairs, images))
    e = outcome.embeddings
    scores = np.einsum("ij,ij->i", e[ia].astype(np.float64), e[ib].astype(np.float64))
    return np.where(outcome.ok[ia] & outcome.ok[ib], scores, -1.0)


def evaluate_pairs(
    pairs: Sequence[Pair],
    cfg: PipelineConfig,
    outdir: Path,
    *,
    name: str,
    folds: Sequence[int] | None,
    command: str,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Embed each distinct image once, score every pair, report (overall and per subgroup), write files."""
    images = distinct_images(pairs)
    outcome = embed_paths(images, cfg, workers=workers, progress=progress)
    scores = pair_scores(outcome, pairs, images)
    labels = np.array([p.same for p in pairs], dtype=np.bool_)
    report = verification_report(scores, labels, folds)
    curves: dict[str, DetCurve] = {"all pairs": det_curve(scores, labels)}
    summary: dict[str, Any] = {
        "name": name,
        "command": command,
        "date": now_iso(),
        "machine": machine_info(),
        "config": {"aligner": cfg.aligner, "flip": cfg.flip, "jitter": cfg.jitter},
        **embedding_summary(outcome, images, cfg),
        "results": report.to_json(),
    }
    groups = [p.subgroup for p in pairs]
    if any(g is not None for g in groups):
        subs = subgroup_reports(scores, labels, groups, folds)
        summary["subgroups"] = {g: r.to_json() for g, r in subs.items()}
        for g in subs:
            m = np.array([(p.subgroup or "") == g for p in pairs])
            if 0 < labels[m].sum() < m.sum():
                curves[f"subgroup {g or '(none)'}"] = det_curve(scores[m], labels[m])
    plot = write_det_plot(
        curves, outdir / f"{name}-det.png", title=f"{name}: {cfg.label()}", points=report.operating_points
    )
    summary["plot"] = str(plot)
    summary["json"] = str(write_json(outdir / f"{name}.json", summary))
    return summary


def _hist_det(h: ScoreHistograms, points: int = 4000) -> DetCurve:
    tail = np.cumsum(h.impostor[::-1])[::-1]
    below = np.concatenate([[0], np.cumsum(h.genuine)[:-1]])
    idx = np.unique(np.linspace(0, BINS - 1, points).round().astype(int))
    thr = np.array([bin_edge(int(b)) for b in idx])
    return DetCurve(thr, tail[idx] / max(h.n_impostor, 1), below[idx] / max(h.n_genuine, 1))


def sample_indices(n: int, sample: int | None, seed: int) -> list[int]:
    if sample is None or sample >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), sample))


def run_calibration(
    image_dir: Path,
    cfg: PipelineConfig,
    outdir: Path,
    *,
    command: str,
    sample: int | None = None,
    seed: int = 0,
    lfw_pairs: Sequence[Pair] | None = None,
    workers: int | None = None,
    embed_progress: Progress | None = None,
    pair_progress: Progress | None = None,
    on_embedded: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Genuine/impostor cosines over all pairs of the identity-labelled images; cosine at each anchor FMR."""
    all_paths, all_ids = list_identity_images(image_dir)
    keep = sample_indices(len(all_paths), sample, seed)
    paths, ids = [all_paths[i] for i in keep], [all_ids[i] for i in keep]
    outcome = embed_paths(paths, cfg, workers=workers, progress=embed_progress)
    if on_embedded is not None:
        on_embedded(int(outcome.ok.sum()))
    ok = np.flatnonzero(outcome.ok)
    hist = pair_histograms(outcome.embeddings[ok], [ids[i] for i in ok], progress=pair_progress)
    points = calibrate(hist)
    table = calibration_table(points)
    summary: dict[str, Any] = {
        "name": "calibration",
        "command": command,
        "date": now_iso(),
        "machine": machine_info(),
        "config": {"aligner": cfg.aligner, "flip": cfg.flip, "jitter": cfg.jitter},
        "sample": {"of": len(all_paths), "used": len(paths), "seed": seed if sample else None},
        **embedding_summary(outcome, paths, cfg),
        "identities": len(set(ids)),
        "genuine_pairs": hist.n_genuine,
        "impostor_pairs": hist.n_impostor,
        "points": [
            {
                "target_fmr": p.target_fmr,
                "similarity": p.similarity,
                "cosine": p.cosine,
                "fmr": p.fmr,
                "impostors_above": p.impostors_above,
                "fnmr": p.fnmr,
                "tar": p.tar,
            }
            for p in points
        ],
        "calibration_table": [list(r) for r in table],
    }
    if lfw_pairs is not None:
        where = {p: i for i, p in enumerate(paths)}
        usable = [p for p in lfw_pairs if p.a in where and p.b in where]
        if usable:
            scores = pair_scores(outcome, usable, paths)
            labels = np.array([p.same for p in usable], dtype=np.bool_)
            summary["lfw_pairs"] = verification_report(scores, labels, [p.fold for p in usable]).to_json()
    plot = write_det_plot(
        {"all LFW pairs": _hist_det(hist)},
        outdir / "calibration-det.png",
        title=f"calibration: {cfg.label()}",
    )
    summary["plot"] = str(plot)
    summary["json"] = str(write_json(outdir / "calibration.json", summary))
    return summary
