"""``glasshouse evaluate``: LFW View 2, any CSV pair list, and similarity calibration. A thin caller of
:mod:`glasshouse.evaluation.runner`."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from glasshouse.errors import GlasshouseError

evaluate_app = typer.Typer(
    help="Measure accuracy on labelled face pairs and calibrate similarity.", no_args_is_help=True
)
console = Console()

OutOpt = typer.Option(
    None, "--out", help="Output folder for the JSON summary and DET plot [default: var/evaluation]."
)
NoFlipOpt = typer.Option(False, "--no-flip", help="Disable mirrored-chip test-time augmentation.")
AlignerOpt = typer.Option(
    None, "--aligner", help="Chip alignment: landmarks or dlib (5-point predictor) [default: the settings']."
)
JitterOpt = typer.Option(
    0, "--jitter", min=0, max=6, help="Extra jittered chips per face (test-time augmentation)."
)
WorkersOpt = typer.Option(0, "--workers", min=0, help="Processes embedding images [default: min(2, cores)].")
CacheOpt = typer.Option(None, "--model-cache", help="Model cache folder [default: the settings' one].")
ModelOpt = typer.Option(
    None,
    "--model",
    help="Face model: dlib or an installed pack (glasshouse models list) [default: the settings'].",
)
FaceChoiceOpt = typer.Option(
    "centre",
    "--face-choice",
    help="centre: the face nearest each image's centre; api: CompareFaces' choice (the first image's "
    "largest face against every face of the second, best taken): what API users get.",
)


def _config(
    aligner: str | None,
    no_flip: bool,
    jitter: int,
    model_cache: Path | None,
    face_choice: str = "centre",
    model: str | None = None,
) -> Any:
    from glasshouse.config import Settings
    from glasshouse.engine.models.registry import ModelRegistry
    from glasshouse.evaluation.embedding import ALIGNERS, FACE_CHOICES, PipelineConfig

    settings = Settings()
    registry = ModelRegistry(settings.model_packs_path, settings.aligner)
    name = model or settings.face_model
    try:
        card = registry.require(name)
    except GlasshouseError as exc:
        raise _fail(exc) from exc
    aligner = aligner or settings.aligner
    if aligner not in ALIGNERS:
        raise typer.BadParameter(f"--aligner must be one of {', '.join(ALIGNERS)}")
    if face_choice not in FACE_CHOICES:
        raise typer.BadParameter(f"--face-choice must be one of {', '.join(FACE_CHOICES)}")
    cache = model_cache if model_cache is not None else settings.models_path
    return PipelineConfig(
        model_cache_dir=cache,
        aligner=aligner,
        flip=not no_flip,
        jitter=jitter,
        threads=1,
        face_choice=face_choice,
        detector_precision=settings.detector_precision,  # GLASSHOUSE_*_PRECISION: evaluate int8 too
        embedder_precision=settings.embedder_precision,
        detection_min_face=settings.detection_min_face,  # GLASSHOUSE_DETECTION_MIN_FACE: its trade-off
        model=card,
        model_file=registry.model_file(name),
    )


def _command(*parts: object) -> str:
    words = ["glasshouse", "evaluate"]
    for p in parts:
        if p is None or p is False:
            continue
        words.append(str(p))
    return " ".join(shlex.quote(w) for w in words)


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2)


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _print_report(title: str, r: dict[str, Any]) -> None:
    table = Table(title=title, show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("pairs (same / different)", f"{r['pairs']} ({r['same']} / {r['different']})")
    if "kfold" in r:
        k = r["kfold"]
        table.add_row(
            f"{k['folds']}-fold accuracy", f"{_pct(k['accuracy_mean'])} ± {_pct(k['accuracy_std'])}"
        )
    for t in r["tar_at_far"]:
        table.add_row(f"TAR @ FAR {t['far']:g}", f"{_pct(t['tar'])} (cosine ≥ {t['threshold_cosine']:.4f})")
    for p in r["operating_points"]:
        table.add_row(
            f"similarity ≥ {p['similarity']:g} (cosine ≥ {p['cosine']:.4f})",
            f"acc {_pct(p['accuracy'])}, FMR {_pct(p['fmr'])}, FNMR {_pct(p['fnmr'])}",
        )
    console.print(table)


def _print_embedding(s: dict[str, Any]) -> None:
    t = s["timing"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in t["stage_ms_per_image"].items())
    console.print(
        f"images: {s['images']}; no face found: {s['no_face']} ({s['no_face_policy']}); "
        f"several faces: {s['several_faces']} (used {s['face_choice']}); "
        f"undecodable images: {len(s['decode_errors'])} (their pairs score -1: a certain non-match)"
    )
    if s["api_target_errors"]:
        console.print(
            f"images CompareFaces fails on as target (a degenerate detection): {len(s['api_target_errors'])}"
            " (their pairs as target score -1)"
        )
    console.print(
        f"time: {t['wall_s']:.1f} s wall, {t['ms_per_image_wall']:.1f} ms/image with "
        f"{t['workers']} worker(s) x {t['onnx_threads_per_worker']} thread(s); "
        f"per-process stage ms/image: {stages}"
    )


def _print_files(s: dict[str, Any]) -> None:
    console.print(f"wrote {s['json']} and {s['plot']}")


@evaluate_app.command("lfw")
def lfw(
    directory: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="LFW images: DIR/Name/Name_0001.jpg"
    ),
    pairs: Path = typer.Option(..., "--pairs", exists=True, dir_okay=False, help="View-2 pairs.txt"),
    out: Path | None = OutOpt,
    no_flip: bool = NoFlipOpt,
    aligner: str | None = AlignerOpt,
    jitter: int = JitterOpt,
    limit_folds: int = typer.Option(0, "--limit-folds", min=0, help="Use only the first N folds (0 = all)."),
    workers: int = WorkersOpt,
    model_cache: Path | None = CacheOpt,
    face_choice: str = FaceChoiceOpt,
    model: str | None = ModelOpt,
) -> None:
    """The standard LFW View-2 protocol: 10 folds, threshold chosen on 9, tested on the 10th."""
    from glasshouse.evaluation.pairs import read_lfw_pairs
    from glasshouse.evaluation.runner import DEFAULT_OUTDIR, evaluate_pairs

    cfg = _config(aligner, no_flip, jitter, model_cache, face_choice, model)
    try:
        pair_list = read_lfw_pairs(pairs, directory)
    except GlasshouseError as exc:
        raise _fail(exc) from exc
    if limit_folds:
        pair_list = [p for p in pair_list if p.fold < limit_folds]
    command = _command(
        "lfw",
        directory,
        "--pairs",
        pairs,
        *(["--out", out] if out else []),
        no_flip and "--no-flip",
        "--aligner",
        cfg.aligner,
        *(["--jitter", jitter] if jitter else []),
        *(["--limit-folds", limit_folds] if limit_folds else []),
        *(["--face-choice", face_choice] if face_choice != "centre" else []),
        *(["--model", cfg.model.name] if cfg.model.name != "dlib" else []),
    )
    n_images = len({p.a for p in pair_list} | {p.b for p in pair_list})
    console.print(f"LFW View 2: {len(pair_list)} pairs, {n_images} images; {cfg.label()}")
    with _progress("embedding", n_images) as advance:
        s = evaluate_pairs(
            pair_list,
            cfg,
            out or DEFAULT_OUTDIR,
            name=_run_name("lfw", cfg),
            folds=[p.fold for p in pair_list],
            command=command,
            workers=workers or None,
            progress=advance,
        )
    _print_embedding(s)
    _print_report(f"LFW View 2 ({cfg.label()})", s["results"])
    if "results_centre_choice" in s:
        _print_report("LFW View 2, centre choice (same pass)", s["results_centre_choice"])
    _print_files(s)


def _run_name(prefix: str, cfg: Any) -> str:
    model = "" if cfg.model.name == "dlib" else f"{cfg.model.name}-"
    name = f"{prefix}-{model}{cfg.aligner}-{'flip' if cfg.flip else 'noflip'}"
    name = f"{name}-jitter{cfg.jitter}" if cfg.jitter else name
    return f"{name}-{cfg.face_choice}" if cfg.face_choice != "centre" else name


@evaluate_app.command("pairs")
def pairs_cmd(
    csv_file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV: path_a,path_b,same[,subgroup]"
    ),
    root: Path | None = typer.Option(
        None, "--root", help="Resolve relative paths here [default: CSV's folder]."
    ),
    subgroup_column: str | None = typer.Option(
        None, "--subgroup-column", help="Column naming each pair's group."
    ),
    out: Path | None = OutOpt,
    no_flip: bool = NoFlipOpt,
    aligner: str | None = AlignerOpt,
    jitter: int = JitterOpt,
    workers: int = WorkersOpt,
    model_cache: Path | None = CacheOpt,
    face_choice: str = FaceChoiceOpt,
) -> None:
    """Any pair list: 10-fold accuracy when there are enough pairs, and the calibrated similarity operating
    points (overall and per subgroup). Also reads deepface's file_x,file_y,same columns."""
    from glasshouse.evaluation.pairs import assign_folds, read_pair_csv
    from glasshouse.evaluation.runner import DEFAULT_OUTDIR, evaluate_pairs

    cfg = _config(aligner, no_flip, jitter, model_cache, face_choice)
    try:
        pair_list = read_pair_csv(csv_file, root, subgroup_column)
    except GlasshouseError as exc:
        raise _fail(exc) from exc
    missing = sorted({str(p) for q in pair_list for p in (q.a, q.b) if not p.is_file()})
    if missing:
        raise _fail(FileNotFoundError(f"{len(missing)} image(s) not found, e.g. {missing[0]}"))
    command = _command(
        "pairs",
        csv_file,
        *(["--root", root] if root else []),
        *(["--subgroup-column", subgroup_column] if subgroup_column else []),
        *(["--out", out] if out else []),
        no_flip and "--no-flip",
        "--aligner",
        cfg.aligner,
        *(["--jitter", jitter] if jitter else []),
        *(["--face-choice", face_choice] if face_choice != "centre" else []),
        *(["--model", cfg.model.name] if cfg.model.name != "dlib" else []),
    )
    n_images = len({p.a for p in pair_list} | {p.b for p in pair_list})
    console.print(f"{csv_file.name}: {len(pair_list)} pairs, {n_images} images; {cfg.label()}")
    with _progress("embedding", n_images) as advance:
        s = evaluate_pairs(
            pair_list,
            cfg,
            out or DEFAULT_OUTDIR,
            name=_run_name(f"pairs-{csv_file.stem}", cfg),
            folds=assign_folds([p.same for p in pair_list]),
            command=command,
            workers=workers or None,
            progress=advance,
        )
    _print_embedding(s)
    _print_report(f"{csv_file.name} ({cfg.label()})", s["results"])
    if "results_centre_choice" in s:
        _print_report(f"{csv_file.name}, centre choice (same pass)", s["results_centre_choice"])
    for group, r in s.get("subgroups", {}).items():
        _print_report(f"subgroup {group or '(none)'}", r)
    _print_files(s)


@evaluate_app.command("calibrate")
def calibrate_cmd(
    directory: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="Identity folders: DIR/Name/*.jpg"
    ),
    images: int = typer.Option(
        0, "--images", min=0, help="Sample size: images of people with 2+ images (0 = all of them)."
    ),
    transformed: int = typer.Option(
        0,
        "--transformed",
        min=0,
        help="How many of them also get low-resolution and close-up views (0 = all).",
    ),
    per_identity: int = typer.Option(4, "--per-identity", min=2, help="At most this many images per person."),
    seed: int = typer.Option(0, "--seed"),
    anchors_out: Path | None = typer.Option(
        None,
        "--anchors-out",
        dir_okay=False,
        help="Also write the anchors file (src/glasshouse/engine/calibration.json is the engine's).",
    ),
    out: Path | None = OutOpt,
    no_flip: bool = NoFlipOpt,
    aligner: str | None = AlignerOpt,
    jitter: int = JitterOpt,
    workers: int = WorkersOpt,
    model_cache: Path | None = CacheOpt,
    model: str | None = ModelOpt,
) -> None:
    """Anchor similarity 50/80/90/95/99 at FMR 1e-1/1e-3/1e-4/1e-5/1e-6 as an upper bound over four
    conditions (frontal, cross-pose, low resolution, close-up), with per-condition FMR/FNMR and 95% CIs."""
    from glasshouse.evaluation.pairs import list_identity_images
    from glasshouse.evaluation.runner import DEFAULT_OUTDIR, calibration_sample, run_calibration

    cfg = _config(aligner, no_flip, jitter, model_cache, model=model)
    try:
        all_paths, all_ids = list_identity_images(directory)
    except GlasshouseError as exc:
        raise _fail(exc) from exc
    n = len(calibration_sample(all_ids, images or None, per_identity, seed))
    n_transformed = min(transformed, n) if transformed else n
    command = _command(
        "calibrate",
        directory,
        *(["--images", images] if images else []),
        *(["--transformed", transformed] if transformed else []),
        *(["--per-identity", per_identity] if per_identity != 4 else []),
        *(["--seed", seed] if seed else []),
        *(["--anchors-out", anchors_out] if anchors_out else []),
        *(["--out", out] if out else []),
        no_flip and "--no-flip",
        "--aligner",
        cfg.aligner,
        *(["--jitter", jitter] if jitter else []),
        *(["--model", cfg.model.name] if cfg.model.name != "dlib" else []),
    )
    console.print(
        f"calibration on {n} of {len(all_paths)} images ({n_transformed} also low-resolution and "
        f"close-up); {cfg.label()}"
    )
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console) as bar:
        t_embed = bar.add_task("embedding", total=n)
        t_pairs = bar.add_task("pair cosines (probe rows)", total=None)
        s = run_calibration(
            directory,
            cfg,
            out or DEFAULT_OUTDIR,
            command=command,
            images=images or None,
            transformed=n_transformed,
            per_identity=per_identity,
            seed=seed,
            workers=workers or None,
            anchors_out=anchors_out,
            embed_progress=lambda k: bar.advance(t_embed, k),
            pair_progress=lambda k: bar.advance(t_pairs, k),
        )
    _print_calibration(s, cfg.label())
    files = f"wrote {s['json']} and {s['plot']}"
    console.print(files + (f"; anchors: {s['anchors_file']}" if "anchors_file" in s else ""))


def _ci(lo_hi: list[float]) -> str:
    return f"[{100 * lo_hi[0]:.3g}, {100 * lo_hi[1]:.3g}]%"


def _print_calibration(s: dict[str, Any], label: str) -> None:
    t = s["timing"]
    console.print(f"time: embedding {t['embed_s']:.0f} s, pair cosines {t['pairs_s']:.0f} s")
    counts = Table(title="conditions")
    for col in ("condition", "images", "no face", "used", "genuine pairs", "impostor pairs"):
        counts.add_column(col, justify="right")
    for name, c in s["conditions"].items():
        counts.add_row(
            name,
            str(c.get("images", "")),
            str(c.get("no_face", "")),
            str(c["used"]),
            f"{c['genuine_pairs']:,}",
            f"{c['impostor_pairs']:,}",
        )
    console.print(counts)
    table = Table(title=f"similarity anchors, FMR / FNMR per condition with 95% Wilson CIs ({label})")
    for col in ("similarity", "FMR bound", "cosine", "set by", "condition", "FMR", "FNMR"):
        table.add_column(col, justify="right")
    for a in s["anchors"]:
        for k, (name, c) in enumerate(a["conditions"].items()):
            first = k == 0
            table.add_row(
                f"{a['similarity']:g}" if first else "",
                f"{a['target_fmr']:g}" if first else "",
                f"{a['cosine']:.5f}" if first else "",
                a["set_by"] if first else "",
                name,
                f"{c['fmr']:.3g} {_ci(c['fmr_ci95'])}",
                f"{_pct(c['fnmr'])} {_ci(c['fnmr_ci95'])}",
            )
    console.print(table)


@evaluate_app.command("int8-ranges")
def int8_ranges_cmd(
    directory: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="LFW images: DIR/Name/Name_0001.jpg"
    ),
    pairs: Path = typer.Option(..., "--pairs", exists=True, dir_okay=False, help="View-2 pairs (held out)."),
    images: int = typer.Option(64, "--images", min=1, help="Calibration images."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(
        Path("src/glasshouse/engine/int8"), "--out", file_okay=False, help="Folder for the range tables."
    ),
    model_cache: Path | None = CacheOpt,
) -> None:
    """Measure the activation ranges the int8 models are built with (commit the tables it writes)."""
    import json

    from glasshouse.config import Settings
    from glasshouse.evaluation.int8 import measure

    cache = model_cache if model_cache is not None else Settings().models_path
    out.mkdir(parents=True, exist_ok=True)
    for model, table in measure(directory, pairs, images, seed, cache).items():
        path = out / f"{model}.ranges.json"
        path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        console.print(f"wrote {path} ({len(table['ranges'])} tensors)")


@evaluate_app.command("int8")
def int8_cmd(
    directory: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="LFW images: DIR/Name/Name_0001.jpg"
    ),
    pairs: Path = typer.Option(..., "--pairs", exists=True, dir_okay=False, help="View-2 pairs.txt"),
    faces: int = typer.Option(10_000, "--faces", min=2, help="Faces: the pairs' images first, then others."),
    model_cache: Path | None = CacheOpt,
) -> None:
    """int8 embedder against float on the same faces: LFW accuracy, similarity change, same top-1."""
    import json

    from glasshouse.config import Settings
    from glasshouse.evaluation.int8 import compare_precisions

    cache = model_cache if model_cache is not None else Settings().models_path
    console.print(json.dumps(compare_precisions(directory, pairs, faces, cache), indent=1))


@evaluate_app.command("close-ups")
def close_ups_cmd(
    directory: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="LFW images: DIR/Name/Name_0001.jpg"
    ),
    identities: int = typer.Option(120, "--identities", min=1, help="Identities sampled (one image each)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    out: Path | None = OutOpt,
    model_cache: Path | None = CacheOpt,
) -> None:
    """Faces that fill the frame: LFW faces cut to 80–100% of their box and enlarged 1–4x must each be
    found and keep their identity (same top-1 against the uncropped gallery)."""
    import json

    from glasshouse.config import Settings
    from glasshouse.engine.pipeline import FaceEngine
    from glasshouse.evaluation.closeups import run_close_up_probe
    from glasshouse.evaluation.runner import DEFAULT_OUTDIR

    settings = Settings() if model_cache is None else Settings(model_cache_dir=model_cache)
    engine = FaceEngine.from_settings(settings)
    with _progress("identities", identities) as advance:
        try:
            report = run_close_up_probe(engine, directory, identities=identities, seed=seed, progress=advance)
        except ValueError as exc:
            raise _fail(exc) from exc
    summary = report.to_json() | {
        "command": _command("close-ups", directory, "--identities", identities, "--seed", seed),
        "close_up_side": engine.options.detection_close_up_side,
    }
    table = Table(title=f"close-ups: {identities} identities, seed {seed}")
    for col in ("cut to", "upscale", "crops", "face found", "same top-1"):
        table.add_column(col, justify="right")
    for c in summary["cells"]:
        table.add_row(
            f"{c['fraction']:.0%}", f"{c['upscale']}x", *(str(c[k]) for k in ("crops", "found", "same_top1"))
        )
    table.add_row("all", "", *(str(summary[k]) for k in ("crops", "found", "same_top1")))
    console.print(table)
    for c in summary["cells"]:
        for key in ("missed", "wrong"):
            if key in c:
                console.print(f"{c['fraction']:.0%} {c['upscale']}x {key}: {', '.join(c[key])}")
    folder = out or DEFAULT_OUTDIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"close-ups-{identities}-seed{seed}.json"
    path.write_text(json.dumps(summary, indent=2))
    console.print(f"wrote {path} ({summary['seconds']} s)")
