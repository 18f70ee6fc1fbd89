"""Evaluation runs: embed the images, score the pairs, compute the reports, write JSON + a DET plot."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from glasshouse.engine.compare import match_cosines
from glasshouse.evaluation.calibrate import (
    BINS,
    Anchor,
    ScoreHistograms,
    anchor_table,
    anchors_across,
    bin_edge,
    cross_histograms,
)
from glasshouse.evaluation.conditions import POSED_YAW_PROXY, TRANSFORMED, ViewResult, embed_views
from glasshouse.evaluation.embedding import (
    API_NO_FACE_POLICY,
    FACE_CHOICES,
    FALLBACK_POLICY,
    EmbedOutcome,
    PipelineConfig,
    embed_paths,
    map_images,
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
        "face_choice": FACE_CHOICES[cfg.face_choice],
        "no_face": len(outcome.fallback),
        "no_face_policy": API_NO_FACE_POLICY if cfg.face_choice == "api" else FALLBACK_POLICY,
        "no_face_images": [str(paths[i]) for i in outcome.fallback[:50]],
        "several_faces": outcome.multi_face,
        "decode_errors": {str(paths[i]): e for i, e in outcome.errors.items()},
        "api_target_errors": {str(paths[i]): e for i, e in outcome.api_errors.items()},
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
    """Cosine per pair; -1 (a certain non-match) where either image could not be decoded. With the ``api``
    face choice, the best cosine of the first image's source face over the second image's faces (-1 when
    either has none), as CompareFaces scores it."""
    ia, ib = (np.asarray(x) for x in pair_indices(pairs, images))
    e = outcome.embeddings
    if outcome.targets is not None:
        no_face = set(outcome.fallback)
        return np.array(
            [_best_match(outcome, no_face, int(a), int(b)) for a, b in zip(ia, ib, strict=True)],
            dtype=np.float64,
        )
    scores = np.einsum("ij,ij->i", e[ia].astype(np.float64), e[ib].astype(np.float64))
    return np.where(outcome.ok[ia] & outcome.ok[ib], scores, -1.0)


def _best_match(outcome: EmbedOutcome, no_face: set[int], a: int, b: int) -> float:
    assert outcome.targets is not None
    if not (outcome.ok[a] and outcome.ok[b]) or a in no_face:
        return -1.0
    cos = match_cosines(outcome.embeddings[a], outcome.targets[b])
    return float(cos.max()) if cos.size else -1.0


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
    report = verification_report(scores, labels, folds, cfg.model.calibration)
    curves: dict[str, DetCurve] = {"all pairs": det_curve(scores, labels)}
    summary: dict[str, Any] = {
        "name": name,
        "command": command,
        "date": now_iso(),
        "machine": machine_info(),
        "config": {
            "model": cfg.model.name,
            "face_model_version": cfg.model.model_version(cfg.aligner),
            "aligner": cfg.aligner,
            "flip": cfg.flip,
            "jitter": cfg.jitter,
            "face_choice": cfg.face_choice,
        },
        **embedding_summary(outcome, images, cfg),
        "results": report.to_json(),
    }
    if outcome.centre is not None:  # the api choice also reports the centre choice on the same pass
        centre_scores = pair_scores(outcome.as_centre(), pairs, images)
        summary["results_centre_choice"] = verification_report(
            centre_scores, labels, folds, cfg.model.calibration
        ).to_json()
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


def calibration_sample(ids: Sequence[str], images: int | None, per_identity: int, seed: int) -> list[int]:
    """Indices of a seeded sample for calibration: identities with at least two images in random order,
    up to ``per_identity`` images of each (so genuine pairs exist and no one person dominates), until
    ``images`` (all such images when ``None``). Grouped by identity, so any prefix keeps whole identities."""
    by_id: dict[str, list[int]] = {}
    for i, name in enumerate(ids):
        by_id.setdefault(name, []).append(i)
    rng = random.Random(seed)
    names = sorted(n for n, idx in by_id.items() if len(idx) >= 2)
    rng.shuffle(names)
    chosen: list[int] = []
    for name in names:
        idx = by_id[name]
        chosen += sorted(rng.sample(idx, min(per_identity, len(idx))))
        if images is not None and len(chosen) >= images:
            return chosen[:images]
    return chosen


@dataclass(frozen=True, slots=True)
class ConditionSets:
    """Embeddings of the sampled images: the frontal set (gallery for every condition) and each probe set."""

    frontal: npt.NDArray[np.float32]
    frontal_ids: npt.NDArray[np.int64]
    posed: npt.NDArray[np.bool_]  # per frontal row: |yaw proxy| >= POSED_YAW_PROXY
    probes: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]  # embeddings, frontal row
    counts: dict[str, dict[str, int]]


def condition_sets(results: Sequence[ViewResult], ids: Sequence[str], n_transformed: int) -> ConditionSets:
    """Arrange per-image view embeddings (any order) into condition sets; images without a frontal face are
    left out of every condition, transformed views without a face out of theirs (counted)."""
    by_index = sorted(results, key=lambda r: r.index)
    _, codes = np.unique(np.asarray(ids), return_inverse=True)
    rows = [r for r in by_index if r.embeddings.get("frontal") is not None]
    row_of = {r.index: k for k, r in enumerate(rows)}
    frontal = np.stack([r.embeddings["frontal"] for r in rows]).astype(np.float32)  # type: ignore[misc]
    frontal_ids = np.asarray([codes[r.index] for r in rows], dtype=np.int64)
    posed = np.asarray([abs(r.yaw_proxy) >= POSED_YAW_PROXY for r in rows], dtype=np.bool_)
    counts = {
        "frontal": {
            "images": len(by_index),
            "undecodable": sum(r.error is not None for r in by_index),
            "no_face": sum(r.error is None and r.embeddings.get("frontal") is None for r in by_index),
            "used": len(rows),
        },
        "cross-pose": {"images": len(rows), "used": int(posed.sum())},
    }
    probes: dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]] = {}
    for name in TRANSFORMED:
        tried = [r for r in rows if r.index < n_transformed]
        found = [r for r in tried if r.embeddings.get(name) is not None]
        emb = [r.embeddings[name] for r in found]
        probes[name] = (
            np.stack(emb).astype(np.float32) if emb else np.zeros((0, frontal.shape[1]), np.float32),  # type: ignore[arg-type]
            np.asarray([row_of[r.index] for r in found], dtype=np.int64),
        )
        counts[name] = {"images": len(tried), "no_face": len(tried) - len(found), "used": len(found)}
    return ConditionSets(frontal, frontal_ids, posed, probes, counts)


def condition_histograms(sets: ConditionSets, progress: Progress | None = None) -> dict[str, ScoreHistograms]:
    """Every condition's genuine/impostor cosines (see :mod:`glasshouse.evaluation.conditions`): each
    unordered pair of distinct images once; a transformed probe against every other frontal image."""
    f, fid = sets.frontal, sets.frontal_ids
    cols = np.arange(f.shape[0])
    posed_rows = np.flatnonzero(sets.posed)

    def upper_triangle(r: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        return np.asarray(cols[None, :] > r[:, None])

    def cross_pose(r: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        me = posed_rows[r][:, None]  # pairs with a turned side, each unordered pair once
        return np.asarray((cols[None, :] != me) & (~sets.posed[None, :] | (cols[None, :] > me)))

    def other_images(own: npt.NDArray[np.int64]) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]:
        return lambda r: np.asarray(cols[None, :] != own[r][:, None])

    hists = {
        "frontal": cross_histograms(f, fid, f, fid, upper_triangle, progress=progress),
        "cross-pose": cross_histograms(f[posed_rows], fid[posed_rows], f, fid, cross_pose, progress=progress),
    }
    for name in TRANSFORMED:
        emb, own = sets.probes[name]
        hists[name] = cross_histograms(emb, fid[own], f, fid, other_images(own), progress=progress)
    return hists


def _anchor_json(a: Anchor) -> dict[str, Any]:
    return {
        "target_fmr": a.target_fmr,
        "similarity": a.similarity,
        "cosine": round(a.cosine, 5),
        "set_by": a.set_by,
        "conditions": {
            p.condition: {
                "fmr": p.fmr,
                "fmr_ci95": list(p.fmr_ci),
                "impostors_above": p.impostors_above,
                "fnmr": p.fnmr,
                "fnmr_ci95": list(p.fnmr_ci),
                "genuine_below": p.genuine_below,
                "own_cosine": round(p.own_cosine, 5),
                "own_cosine_from": "wilson upper bound" if p.bounded else "measured rate (too few impostors)",
            }
            for p in a.conditions
        },
    }


def run_calibration(
    image_dir: Path,
    cfg: PipelineConfig,
    outdir: Path,
    *,
    command: str,
    images: int | None = None,
    transformed: int | None = None,
    per_identity: int = 4,
    seed: int = 0,
    workers: int | None = None,
    anchors_out: Path | None = None,
    embed_progress: Progress | None = None,
    pair_progress: Progress | None = None,
) -> dict[str, Any]:
    """Embed a seeded sample in every condition, histogram each condition's pairs, and anchor each
    similarity at the largest cosine any condition needs for its FMR target. Writes the report (JSON +
    DET plot) to ``outdir`` and, if asked, the anchors file :mod:`glasshouse.engine.similarity` reads."""
    all_paths, all_ids = list_identity_images(image_dir)
    keep = calibration_sample(all_ids, images, per_identity, seed)
    paths, ids = [all_paths[i] for i in keep], [all_ids[i] for i in keep]
    n_transformed = len(paths) if transformed is None else min(transformed, len(paths))
    start = time.perf_counter()
    results = _embed_views(paths, cfg, seed, n_transformed, workers, embed_progress)
    embed_s = time.perf_counter() - start
    sets = condition_sets(results, ids, n_transformed)
    t_pairs = time.perf_counter()
    hists = condition_histograms(sets, pair_progress)
    pairs_s = time.perf_counter() - t_pairs
    anchors = anchors_across(hists)
    table = anchor_table(anchors)
    summary: dict[str, Any] = {
        "name": "calibration",
        "command": command,
        "date": now_iso(),
        "machine": machine_info(),
        "config": {"aligner": cfg.aligner, "flip": cfg.flip, "jitter": cfg.jitter, "face_choice": "centre"},
        "sample": {
            "of": len(all_paths),
            "images": len(paths),
            "transformed": n_transformed,
            "per_identity": per_identity,
            "seed": seed,
            "identities": len(set(ids)),
        },
        "conditions": {
            name: {**sets.counts[name], "genuine_pairs": h.n_genuine, "impostor_pairs": h.n_impostor}
            for name, h in hists.items()
        },
        "interval": "Wilson score, 95% two-sided",
        "anchor_rule": (
            "each similarity's cosine is the largest, over conditions, of the lowest cosine at which the "
            "condition's FMR Wilson upper bound is within the target (the measured FMR where the condition "
            "has too few impostor pairs to bound the target)"
        ),
        "anchors": [_anchor_json(a) for a in anchors],
        "calibration_table": [list(r) for r in table],
        "timing": {"embed_s": round(embed_s, 1), "pairs_s": round(pairs_s, 1), "workers": workers},
    }
    plot = write_det_plot(
        {name: _hist_det(h) for name, h in hists.items()},
        outdir / "calibration-det.png",
        title=f"calibration per condition: {cfg.label()}",
    )
    summary["plot"] = str(plot)
    summary["histograms"] = str(save_histograms(outdir / "calibration-histograms.npz", hists))
    summary["json"] = str(write_json(outdir / "calibration.json", summary))
    if anchors_out is not None:
        write_anchors(anchors_out, summary)
        summary["anchors_file"] = str(anchors_out)
    return summary


def save_histograms(path: Path, hists: dict[str, ScoreHistograms]) -> Path:
    """Every condition's genuine and impostor histograms (``BINS`` counts each), to re-read any threshold."""
    arrays = {
        f"{name}/{kind}": getattr(h, kind) for name, h in hists.items() for kind in ("genuine", "impostor")
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def write_anchors(path: Path, summary: dict[str, Any]) -> Path:
    """The anchors file read by :mod:`glasshouse.engine.similarity`: the table and how it was measured."""
    data = {
        "calibration_table": summary["calibration_table"],
        "command": summary["command"],
        "date": summary["date"],
        "cpu": summary["machine"]["cpu"],
        "sample": summary["sample"],
        "conditions": summary["conditions"],
        "interval": summary["interval"],
        "anchor_rule": summary["anchor_rule"],
        "anchors": summary["anchors"],
        "timing": summary["timing"],
    }
    return write_json(path, data)


def _embed_views(
    paths: Sequence[Path],
    cfg: PipelineConfig,
    seed: int,
    n_transformed: int,
    workers: int | None,
    progress: Progress | None,
) -> list[ViewResult]:
    """Frontal views of all paths; transformed views of the first ``n_transformed`` too."""
    first = map_images(
        embed_views, paths[:n_transformed], cfg, (seed, True), workers=workers, progress=progress
    )
    rest = map_images(
        embed_views, paths[n_transformed:], cfg, (seed, False), workers=workers, progress=progress
    )
    for r in rest:
        r.index += n_transformed
    return first + rest
