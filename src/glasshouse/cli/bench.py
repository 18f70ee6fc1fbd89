"""``glasshouse bench``: speed of the engine against face_recognition's pipeline on the same LFW images."""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any

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

bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True)
console = Console()
DEFAULT_LFW = Path("../shared/data/lfw/lfw-deepfunneled")
DEFAULT_STATS = Path("var/bench/lfw-embedding-stats.npz")

# Options more than one benchmark takes.
OutDir = Annotated[Path, typer.Option("--out", help="Folder for the JSON result.")]
LfwImages = Annotated[Path, typer.Option("--lfw", help="LFW image folder (DIR/Name/Name_0001.jpg).")]
LfwForStats = Annotated[Path, typer.Option("--lfw", help="LFW image folder, to measure the statistics.")]
StatsFile = Annotated[
    Path, typer.Option("--stats", help="Cached real-embedding statistics (measured from --lfw when absent).")
]


@bench_app.callback()
def _group() -> None:
    """Benchmarks (a callback keeps ``engine`` a subcommand even while it is the only one)."""


def _save(out: Path, kind: str, result: dict[str, Any]) -> None:
    """Write ``result`` as ``out/<kind>-<date>.json`` and say how to reproduce it."""
    from glasshouse.evaluation.runner import write_json

    out.mkdir(parents=True, exist_ok=True)
    path = write_json(out / f"{kind}-{str(result['date']).replace(':', '')[:17]}.json", result)
    console.print(f"reproduce: {result['command']}\nwrote {path}")


@bench_app.command("engine")
def engine_cmd(
    images: int = typer.Option(500, "--images", min=1, help="Seeded random LFW images to process."),
    lfw: LfwImages = DEFAULT_LFW,
    seed: int = typer.Option(0, "--seed"),
    baseline_images: int | None = typer.Option(
        None, "--baseline-images", min=0, help="Run the slow baseline on only the first N of the same images."
    ),
    clients: int = typer.Option(
        4, "--clients", min=1, help="Requests at once for the concurrent figure (threads, as a server has)."
    ),
    out: OutDir = Path("var/bench"),
    model_cache: Path | None = typer.Option(
        None, "--model-cache", help="Model cache [default: the settings']."
    ),
    before: bool = typer.Option(
        True,
        "--before/--no-before",
        help="Also run the engine as configured before its speed tuning (every core spin-waiting, no "
        "batching, detection at full resolution) on the same images, for the speed-up over it.",
    ),
    model: str = typer.Option(
        "dlib",
        "--model",
        help="Face model: dlib or an installed pack (measured beside dlib in the same run).",
    ),
) -> None:
    """Faces per second end to end (decode → detect → align → embed), Glasshouse vs face_recognition:
    one request at a time (with stage times), then ``--clients`` requests at once; with ``--before``
    also the untuned configuration of the same engine. With ``--model PACK`` the pack's engine is
    measured, and dlib's on the same images one request at a time beside it."""
    from glasshouse.bench.engine import (
        bench_face_recognition,
        bench_glasshouse,
        concurrent_throughput,
        face_recognition_analyse,
        glasshouse_analyse,
        select_images,
    )
    from glasshouse.config import Settings
    from glasshouse.engine.hardware import cpu_info, usable_cores
    from glasshouse.engine.models.registry import ModelRegistry
    from glasshouse.engine.pipeline import FaceEngine
    from glasshouse.errors import GlasshouseError
    from glasshouse.evaluation.runner import machine_info, now_iso

    if not lfw.is_dir():
        console.print(f"[red]error:[/red] LFW images not found at {lfw} (see ../shared/data/README.md)")
        raise typer.Exit(2)
    settings = Settings() if model_cache is None else Settings(model_cache_dir=model_cache)
    dlib_engine = FaceEngine.from_settings(settings)
    registry = ModelRegistry(settings.model_packs_path, settings.aligner)
    try:
        engine = dlib_engine.with_model(registry.require(model), registry.model_file(model))
    except GlasshouseError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    paths = select_images(lfw, images, seed)
    n_base = len(paths) if baseline_images is None else min(baseline_images, len(paths))
    words = ["glasshouse", "bench", "engine", "--images", str(images), "--lfw", str(lfw), "--seed", str(seed)]
    if baseline_images is not None:
        words += ["--baseline-images", str(baseline_images)]
    words += ["--clients", str(clients)] + ([] if before else ["--no-before"])
    words += ["--model", model] if model != "dlib" else []
    command = " ".join(shlex.quote(w) for w in words)
    machine = machine_info()
    console.print(f"{cpu_info().describe()}; load average {os.getloadavg()[0]:.2f}")
    console.print(f"{len(paths)} LFW images (seed {seed})")
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console) as bar:
        t1 = bar.add_task(f"glasshouse ({engine.model.name})", total=len(paths))
        ours = bench_glasshouse(engine, paths, lambda k: bar.advance(t1, k))
        dlib_same_run = None
        if engine is not dlib_engine:
            t0 = bar.add_task("glasshouse (dlib, same images)", total=len(paths))
            dlib_same_run = bench_glasshouse(dlib_engine, paths, lambda k: bar.advance(t0, k))
        t2 = bar.add_task(f"glasshouse, {clients} at once", total=len(paths))
        batches_before = engine.batcher.batches, engine.batcher.batched_requests
        ours_c = concurrent_throughput(
            "glasshouse", glasshouse_analyse(engine), paths, clients, lambda k: bar.advance(t2, k)
        )
        batches = engine.batcher.batches - batches_before[0]
        requests = engine.batcher.batched_requests - batches_before[1]
        ours_c = replace(ours_c, mean_batch_requests=round(requests / batches, 2) if batches else None)
        untuned = (
            FaceEngine(replace(engine.options, threads=usable_cores(), batch_max=1, detection_min_face=0))
            if before
            else None
        )
        t5 = bar.add_task("glasshouse untuned", total=len(paths) if untuned else 0)
        old = bench_glasshouse(untuned, paths, lambda k: bar.advance(t5, k)) if untuned else None
        t6 = bar.add_task(f"glasshouse untuned, {clients} at once", total=len(paths) if untuned else 0)
        old_c = (
            concurrent_throughput(
                "glasshouse untuned",
                glasshouse_analyse(untuned),
                paths,
                clients,
                lambda k: bar.advance(t6, k),
            )
            if untuned
            else None
        )
        t3 = bar.add_task("face_recognition", total=n_base)
        base = bench_face_recognition(paths[:n_base], lambda k: bar.advance(t3, k)) if n_base else None
        t4 = bar.add_task(f"face_recognition, {clients} at once", total=n_base)
        fr_analyse, fr_models = face_recognition_analyse()
        base_c = (
            concurrent_throughput(
                "face_recognition",
                fr_analyse,
                paths[:n_base],
                clients,
                lambda k: bar.advance(t4, k),
                setup=fr_models,
            )
            if n_base
            else None
        )
    runtime = engine.runtime_summary()
    result: dict[str, Any] = {
        "command": command,
        "date": now_iso(),
        "machine": machine,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "images": len(paths),
        "seed": seed,
        "glasshouse": {
            **ours.to_json(),
            "concurrent": ours_c.to_json(),
            "config": {
                "model": engine.model.name,
                "face_model_version": engine.model_version,
                "aligner": settings.aligner,
                "embed_flip": settings.embed_flip,
                "detection_max_side": settings.detection_max_side,
                "detection_min_face": settings.detection_min_face,
                **runtime,
            },
        },
    }
    if untuned is not None and old is not None and old_c is not None:
        result["untuned"] = {
            **old.to_json(),
            "concurrent": old_c.to_json(),
            "config": {"detection_min_face": 0, **untuned.runtime_summary()},
            "note": "the same engine before its speed tuning: every core spin-waiting (onnxruntime's default), "
            "no batching, detection at full resolution (up to detection_max_side)",
        }
        result["speedup_vs_untuned_faces_per_s"] = round(ours.faces_per_second / old.faces_per_second, 2)
        c_old = old_c.to_json()["faces_per_s"]
        result["speedup_vs_untuned_concurrent_faces_per_s"] = (
            round(ours_c.to_json()["faces_per_s"] / c_old, 2) if c_old else None
        )
    if dlib_same_run is not None:
        result["dlib_same_run"] = dlib_same_run.to_json()
        mine, dlib = ours.to_json()["ms_per_face"], result["dlib_same_run"]["ms_per_face"]
        result["model_vs_dlib_ms_per_face"] = round(mine / dlib, 2) if dlib else None
        console.print(
            f"{engine.model.name}: {mine:.1f} ms/face; dlib on the same images in the same run: {dlib:.1f} "
            f"ms/face ({result['model_vs_dlib_ms_per_face']}x)"
        )
    if base is not None and base_c is not None:
        result["face_recognition"] = {
            **base.to_json(),
            "concurrent": base_c.to_json(),
            "note": "dlib HOG (1 upsample) + 5-point predictor + dlib ResNet; dlib-bin runs single-threaded",
            "subset": n_base < len(paths),
        }
        result["speedup_faces_per_s"] = round(ours.faces_per_second / base.faces_per_second, 2)
        result["speedup_images_per_s"] = round(ours.images_per_second / base.images_per_second, 2)
        c_ours, c_base = ours_c.to_json(), base_c.to_json()
        result["speedup_concurrent_faces_per_s"] = (
            round(c_ours["faces_per_s"] / c_base["faces_per_s"], 2) if c_base["faces_per_s"] else None
        )
    result["ceiling"] = _ceiling(settings.models_path)
    _print(result)
    _save(out, "engine", result)


def _ceiling(model_cache: Path) -> dict[str, Any]:
    """The default engine's float networks against the dense-convolution rate of one core, same run."""
    from glasshouse.bench.ceiling import default_networks, dense_conv_ceiling

    reference = dense_conv_ceiling()
    networks = default_networks(model_cache, detector_side=256)  # LFW's 250x250, padded to 32-px multiples
    return {
        "reference": {"name": reference.name, **reference.to_json()},
        "networks": {n.name: n.to_json(reference.gflops) for n in networks},
        "note": "one core, one thread each, fastest of 20 runs; GFLOP/s = 2 x multiply-adds counted from "
        "the ONNX graph per second",
    }


def _print(r: dict[str, Any]) -> None:
    g, b = r["glasshouse"], r.get("face_recognition")
    config = g["config"]
    for part in ("detector", "embedder"):
        console.print(f"{part}: {config[part]['precision']}, {config[part]['threads']}")
    console.print(
        f"batching: {config['batching']}; detection: smallest face {config['detection_min_face']} px, "
        f"working size at most {config['detection_max_side']} px; flip {config['embed_flip']}"
    )
    columns = {"glasshouse": g}
    if "untuned" in r:
        columns["glasshouse untuned"] = r["untuned"]
    if b:
        columns["face_recognition" + (f" ({b['images']}-image subset)" if b["subset"] else "")] = b
    table = Table(title="engine benchmark (ms per image unless noted)")
    table.add_column("measure")
    for label in columns:
        table.add_column(label, justify="right")
    rows = ["images", "faces", "faces_per_s", "images_per_s", "ms_per_image", "ms_per_face", "warmup_s"]
    for key in rows:
        table.add_row(key, *(str(c[key]) for c in columns.values()))
    stages = [s for c in columns.values() for s in c["stage_ms_per_image"]]
    for s in dict.fromkeys(stages):
        table.add_row(f"stage: {s}", *(str(c["stage_ms_per_image"].get(s, "–")) for c in columns.values()))
    clients = g["concurrent"]["clients"]
    for key in ("faces_per_s", "images_per_s", "mean_batch_requests"):
        table.add_row(f"{clients} at once: {key}", *(str(c["concurrent"][key]) for c in columns.values()))
    console.print(table)
    if b:
        console.print(
            f"speed-up over face_recognition: {r['speedup_faces_per_s']}x faces/s, "
            f"{r['speedup_images_per_s']}x images/s one at a time; "
            f"{r['speedup_concurrent_faces_per_s']}x faces/s with {clients} at once (target ≥ 8x)"
        )
    if "untuned" in r:
        console.print(
            f"speed-up over the untuned engine: {r['speedup_vs_untuned_faces_per_s']}x faces/s one at a time, "
            f"{r['speedup_vs_untuned_concurrent_faces_per_s']}x with {clients} at once (target ≥ 2x)"
        )
    ceiling = r["ceiling"]
    reference = ceiling["reference"]
    console.print(
        f"one core's ceiling ({reference['name']}, onnxruntime): {reference['gflops']} GFLOP/s; "
        "the default networks there:"
    )
    for name, n in ceiling["networks"].items():
        console.print(
            f"  {name}: {n['gmacs_per_run']} GMAC in {n['ms_per_run']} ms = {n['gflops']} GFLOP/s, "
            f"{100 * n['share_of_ceiling']:.0f}% of the ceiling"
        )
    console.print(f"load average at the end: {r['load_average_1m_at_end']}")


@bench_app.command("api")
def api_cmd(
    faces: int = typer.Option(200, "--faces", min=1, help="LFW faces enrolled in the searched collection."),
    probes: int = typer.Option(50, "--probes", min=1, help="Distinct probe images."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Passes over the probes."),
    clients: int = typer.Option(4, "--clients", min=1, help="Clients at once for the concurrent figure."),
    lfw: LfwImages = DEFAULT_LFW,
    out: OutDir = Path("var/bench"),
) -> None:
    """SearchFacesByImage over boto3 against a live loopback server (one client, then several at once),
    beside the same search in-process; every call through the policy gate."""
    from glasshouse.bench import api
    from glasshouse.bench.engine import select_images
    from glasshouse.config import Settings
    from glasshouse.engine.hardware import usable_cores
    from glasshouse.evaluation.runner import machine_info, now_iso

    if not lfw.is_dir():
        console.print(f"[red]error:[/red] LFW images not found at {lfw} (see ../shared/data/README.md)")
        raise typer.Exit(2)
    paths = select_images(lfw, faces + probes, seed=1)
    command = (
        f"glasshouse bench api --faces {faces} --probes {probes} --rounds {rounds} --clients {clients} "
        f"--lfw {shlex.quote(str(lfw))}"
    )
    local, remote, concurrent, runtime = api.run(
        paths[:faces],
        paths[faces:],
        rounds=rounds,
        model_cache_dir=Settings().models_path,
        clients=clients,
        progress=console.print,
    )
    result = {
        "command": command,
        "date": now_iso(),
        "machine": machine_info(),
        "in_process": local.to_json(),
        "api": remote.to_json(),
        "api_concurrent": concurrent.to_json(),
        "server": runtime,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "overhead_p50_percent": round(100 * (remote.percentile(0.5) / local.percentile(0.5) - 1), 1),
        "concurrent_speedup_requests_per_s": round(concurrent.requests_per_s / remote.requests_per_s, 2)
        if remote.requests_per_s
        else None,
    }
    table = Table(title=f"SearchFacesByImage, {faces} enrolled faces, {probes} probes x {rounds}")
    table.add_column("measure")
    for name in ("in-process", "API (boto3, loopback)", f"API, {clients} clients at once"):
        table.add_column(name, justify="right")
    speed = ("requests", "p50_ms", "p99_ms", "mean_ms", "requests_per_s")
    cpu = (
        "server_cpu_ms_per_request",
        "client_cpu_ms_per_request",
        "server_cores_busy",
        "other_processes_cores_busy",
        "cpu_bound_requests_per_s",
    )
    for key in (*speed, *cpu):
        parts = ("in_process", "api", "api_concurrent")
        table.add_row(key, *(str(result[part].get(key, "–")) for part in parts))  # type: ignore[attr-defined]
    console.print(table)
    engine = runtime["engine"]
    console.print(
        f"server: {runtime['analysis_slots']} analyses at once; detector {engine['detector']['threads']}; "
        f"embedder {engine['embedder']['threads']}; batching {engine['batching']} "
        f"(cpu_bound_requests_per_s: what {usable_cores()} cores allow at this CPU per "
        "request, server and clients together)"
    )
    console.print(
        f"protocol overhead at p50: {result['overhead_p50_percent']}% (target ≤ 15%); "
        f"{clients} clients at once: {result['concurrent_speedup_requests_per_s']}x one client's requests/s; "
        f"load average at the end: {result['load_average_1m_at_end']}"
    )
    _save(out, "api", result)


DEFAULT_CLIP = Path("../shared/data/video/hamilton/short_hamilton_clip.mp4")


@bench_app.command("video")
def video_cmd(
    clip: Path = typer.Option(DEFAULT_CLIP, "--clip", help="Video to search."),
    refs: list[Path] = typer.Option(
        [],
        "--ref",
        help="Reference still (repeatable; id = file stem) [default: the PNG/JPEGs beside the clip].",
    ),
    sample_fps: float = typer.Option(5.0, "--sample-fps", min=0.1, help="Base sampling rate."),
    adaptive: bool = typer.Option(True, "--adaptive/--fixed", help="Adaptive sampling or a fixed rate."),
    naive: bool = typer.Option(True, "--naive/--no-naive", help="Also run the every-frame baseline."),
    out: OutDir = Path("var/bench"),
) -> None:
    """Face search speed as a multiple of real time: tracked + adaptive sampling vs every face of every frame."""
    from glasshouse.bench.video import compare
    from glasshouse.config import Settings
    from glasshouse.engine.pipeline import FaceEngine
    from glasshouse.evaluation.runner import machine_info, now_iso

    if not clip.is_file():
        console.print(f"[red]error:[/red] video not found at {clip} (see ../shared/data/README.md)")
        raise typer.Exit(2)
    stills = refs or sorted(p for p in clip.parent.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    words = ["glasshouse", "bench", "video", "--clip", str(clip), "--sample-fps", str(sample_fps)]
    words += (
        [f"--ref={p}" for p in refs] + ([] if adaptive else ["--fixed"]) + ([] if naive else ["--no-naive"])
    )
    command = " ".join(shlex.quote(w) for w in words)
    engine = FaceEngine.from_settings(Settings())
    console.print(f"searching {clip} for {', '.join(p.stem for p in stills)} …")
    result = {
        "command": command,
        "date": now_iso(),
        "machine": machine_info(),
        **compare(engine, clip, stills, naive=naive, sample_fps=sample_fps, adaptive=adaptive),
    }
    table = Table(title=f"video face search, {result['video']['DurationMillis'] / 1000:.2f} s of video")
    table.add_column("measure")
    for run in result["runs"]:
        table.add_column(run["name"], justify="right")
    for key in ("x_real_time", "x_real_time_cpu", "wall_s", "cpu_s", "frames_processed", "faces_detected"):
        table.add_row(key, *(str(r[key]) for r in result["runs"]))
    table.add_row("faces_embedded", *(str(r["faces_embedded"]) for r in result["runs"]))
    for person in result["collection"]:
        cells = []
        for r in result["runs"]:
            f = r["found"].get(person)
            cells.append(f"{f['first_ms']}–{f['last_ms']} ms ({f['timestamps']})" if f else "not found")
        table.add_row(f"found: {person}", *cells)
    console.print(table)
    if naive:
        console.print(
            f"speed-up {result['speedup']}x; same people found: {result['same_people']}; "
            f"load average {result['load_average_1m']} on {result['machine']['cores']} cores (target ≥ 2x real time)"
        )
    _save(out, "video", result)


@bench_app.command("redact")
def redact_cmd(
    clip: Path = typer.Option(DEFAULT_CLIP, "--clip", help="Video to redact."),
    out: OutDir = Path("var/bench"),
) -> None:
    """Redaction speed as a multiple of real time, side by side with decoding the clip alone."""
    from glasshouse.bench.redact import compare
    from glasshouse.config import Settings
    from glasshouse.engine.pipeline import FaceEngine
    from glasshouse.evaluation.runner import machine_info, now_iso

    if not clip.is_file():
        console.print(f"[red]error:[/red] video not found at {clip} (see ../shared/data/README.md)")
        raise typer.Exit(2)
    command = " ".join(shlex.quote(w) for w in ["glasshouse", "bench", "redact", "--clip", str(clip)])
    engine = FaceEngine.from_settings(Settings())
    console.print(f"redacting {clip} …")
    result = {"command": command, "date": now_iso(), "machine": machine_info(), **compare(engine, clip)}
    table = Table(title=f"redaction, {result['video']['DurationMillis'] / 1000:.2f} s of video")
    table.add_column("measure")
    for run in result["runs"]:
        table.add_column(run["name"], justify="right")
    for key in ("x_real_time", "x_real_time_cpu", "wall_s", "cpu_s", "frames"):
        table.add_row(key, *(str(r[key]) for r in result["runs"]))
    console.print(table)
    faces = result["record"]["faces"]
    console.print(
        f"{len(faces['covered'])} persons covered in {faces['frames_with_faces_covered']} frames; load average "
        f"{result['load_average_1m']} (start, end) on {result['machine']['cores']} cores "
        "(target ≥ 2x real time)"
    )
    _save(out, "redact", result)


@bench_app.command("search")
def search_cmd(
    faces: int = typer.Option(
        1_000_000, "--faces", min=10, help="Synthetic faces in the searched collection."
    ),
    queries: int = typer.Option(1000, "--queries", min=1, help="Held-out probes of enrolled identities."),
    exact_queries: int = typer.Option(
        300, "--exact-queries", min=1, help="Probes timed for exact search (slow at 1M; the first N)."
    ),
    seed: int = typer.Option(0, "--seed"),
    m: int = typer.Option(16, "--m", min=2, help="HNSW graph degree."),
    ef_construction: int = typer.Option(100, "--ef-construction", min=1, help="HNSW build beam."),
    ef_search: int = typer.Option(64, "--ef-search", min=1, help="HNSW query beam."),
    stats: StatsFile = DEFAULT_STATS,
    lfw: LfwForStats = DEFAULT_LFW,
    out: OutDir = Path("var/bench"),
    pgvector: bool = typer.Option(
        True,
        "--pgvector/--no-pgvector",
        help="Also time pgvector HNSW in PostgreSQL (GLASSHOUSE_DATABASE_URL's server, else an embedded one).",
    ),
    pg_ef_search: int = typer.Option(100, "--pg-ef-search", min=1, max=1000, help="pgvector hnsw.ef_search."),
    dim: int | None = typer.Option(
        None,
        "--dim",
        min=1,
        max=2000,
        help="Embedding length (e.g. 192 for MobileFaceNet); default: that of the measured model (128). "
        "The real statistics are mapped into it, cosines kept.",
    ),
) -> None:
    """SearchFaces latency at scale: exact in-memory search, the approximate (HNSW) index, pgvector HNSW."""
    from glasshouse import db
    from glasshouse.bench import search
    from glasshouse.bench.synthetic import RealStats, load_or_measure
    from glasshouse.collections.ann import HnswParams
    from glasshouse.config import Settings
    from glasshouse.evaluation.runner import machine_info, now_iso

    if stats.is_file():
        real = RealStats.load(stats)
    elif lfw.is_dir():
        console.print(f"measuring real embedding statistics on {lfw} (cached in {stats})")
        real = load_or_measure(stats, lfw, Settings().models_path)
    else:
        console.print(f"[red]error:[/red] no statistics at {stats} and no LFW images at {lfw}")
        raise typer.Exit(2)
    words = ["glasshouse", "bench", "search", "--faces", str(faces), "--queries", str(queries)]
    words += ["--exact-queries", str(exact_queries), "--seed", str(seed), "--m", str(m)]
    words += ["--ef-construction", str(ef_construction), "--ef-search", str(ef_search), "--stats", str(stats)]
    words += ["--pg-ef-search", str(pg_ef_search)] if pgvector else ["--no-pgvector"]
    words += ["--dim", str(dim)] if dim is not None else []
    database_url = Settings().database_url if pgvector else None
    if database_url is not None and not db.is_postgresql(database_url):
        database_url = None  # SQLite has no pgvector: use an embedded PostgreSQL
    command = " ".join(shlex.quote(w) for w in words)
    cfg = search.SearchBench(
        faces,
        queries,
        exact_queries,
        seed,
        params=HnswParams(m, ef_construction, ef_search),
        pgvector=pgvector,
        database_url=database_url,
        pg_ef_search=pg_ef_search,
        dim=dim,
    )
    result: dict[str, Any] = {"command": command, "date": now_iso(), "machine": machine_info()}
    result |= search.run(cfg, real, progress=console.print)
    table = Table(title=f"SearchFaces on {faces:,} synthetic {result['dim']}-d faces (one query at a time)")
    for col in ("searcher", "k", "threshold", "queries", "p50 ms", "p99 ms", "queries/s", "recall@1"):
        table.add_column(col, justify="left" if col == "searcher" else "right")
    for r in result["runs"]:
        recall = "–" if r["recall_at_1"] is None else str(r["recall_at_1"])
        thr = "–" if r["threshold_similarity"] is None else str(r["threshold_similarity"])
        table.add_row(
            r["searcher"],
            str(r["k"]),
            thr,
            str(r["queries"]),
            str(r["p50_ms"]),
            str(r["p99_ms"]),
            str(r["queries_per_s"]),
            recall,
        )
    console.print(table)
    a = result["approximate_index"]
    console.print(
        f"approximate index: hnswlib M={a['m']} efConstruction={a['ef_construction']} "
        f"efSearch={a['ef_search']}, built in {a['build_s']} s, graph {a['graph_mib']} MiB"
    )
    p = result["pgvector_hnsw"]
    if isinstance(p, dict):
        console.print(
            f"pgvector HNSW: m={p['m']} ef_construction={p['ef_construction']} ef_search={p['ef_search']} "
            f"(iterative scan {p['iterative_scan']}), binary COPY {p['load_s']} s, index built in "
            f"{p['build_s']} s, index {p['index_mib']} MiB, table {p['table_mib']} MiB, "
            f"planner uses HNSW: {p['uses_hnsw_index']}"
        )
    else:
        console.print(f"pgvector HNSW: {p}")
    _save(out, "search", result)


@bench_app.command("index")
def index_cmd(
    images: int = typer.Option(2000, "--images", min=1, help="Seeded random LFW images to enrol."),
    workers: list[int] = typer.Option([1, 2], "--workers", min=1, help="Worker processes (repeatable)."),
    lfw: LfwImages = DEFAULT_LFW,
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per database transaction."),
    out: OutDir = Path("var/bench"),
) -> None:
    """Bulk enrolment (`glasshouse index`) speed with 1 and 2 worker processes on the same LFW images."""
    from glasshouse.bench.engine import select_images
    from glasshouse.bench.index import run_once
    from glasshouse.config import Settings
    from glasshouse.evaluation.runner import machine_info, now_iso

    if not lfw.is_dir():
        console.print(f"[red]error:[/red] LFW images not found at {lfw} (see ../shared/data/README.md)")
        raise typer.Exit(2)
    paths = select_images(lfw, images, seed)
    words = ["glasshouse", "bench", "index", "--images", str(images), "--lfw", str(lfw), "--seed", str(seed)]
    words += [f"--workers={w}" for w in workers] + ["--batch-size", str(batch_size)]
    command = " ".join(shlex.quote(w) for w in words)
    machine = machine_info()
    console.print(f"{machine['cpu']}, {machine['cores']} cores; {len(paths)} LFW images (seed {seed})")
    runs = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=console) as bar:
        for w in workers:
            task = bar.add_task(f"{w} worker{'s' if w > 1 else ''}", total=len(paths))
            run = run_once(
                paths,
                w,
                Settings().models_path,
                batch_size=batch_size,
                progress=partial(bar.advance, task),
            )
            runs.append(run.to_json())
    result: dict[str, Any] = {
        "command": command,
        "date": now_iso(),
        "machine": machine,
        "images": len(paths),
        "seed": seed,
        "runs": runs,
    }
    table = Table(title=f"bulk enrolment (glasshouse index), {len(paths)} LFW images, fresh collection")
    table.add_column("measure")
    for r in runs:
        table.add_column(f"{r['workers']} worker{'s' if r['workers'] > 1 else ''}", justify="right")
    for key in ("enrolments_per_s", "steady_files_per_s", "images_indexed", "no_face", "wall_s", "startup_s"):
        table.add_row(key, *(str(r[key]) for r in runs))
    table.add_row("load average (1 min, at end)", *(str(r["load_average_1m"]) for r in runs))
    console.print(table)
    if len(runs) > 1 and runs[0]["enrolments_per_s"]:
        console.print(
            f"speed-up with {runs[-1]['workers']} workers: "
            f"{runs[-1]['enrolments_per_s'] / runs[0]['enrolments_per_s']:.2f}x"
        )
    _save(out, "index", result)


@bench_app.command("reconcile")
def reconcile_cmd(
    faces: int = typer.Option(100_000, "--faces", min=10, help="Synthetic faces in the collection."),
    queries: int = typer.Option(1000, "--queries", min=1, help="Held-out probes of enrolled identities."),
    churn: float = typer.Option(0.1, "--churn", min=0.0, max=0.9, help="Fraction deleted and re-enrolled."),
    seed: int = typer.Option(0, "--seed"),
    stats: StatsFile = DEFAULT_STATS,
    lfw: LfwForStats = DEFAULT_LFW,
    out: OutDir = Path("var/bench"),
) -> None:
    """Recall@1 of the approximate index as the service runs it: fresh, and after reconciling a stale file."""
    from glasshouse.bench import reconcile
    from glasshouse.bench.synthetic import RealStats, load_or_measure
    from glasshouse.config import Settings
    from glasshouse.evaluation.runner import machine_info, now_iso

    if stats.is_file():
        real = RealStats.load(stats)
    elif lfw.is_dir():
        real = load_or_measure(stats, lfw, Settings().models_path)
    else:
        console.print(f"[red]error:[/red] no statistics at {stats} and no LFW images at {lfw}")
        raise typer.Exit(2)
    words = ["glasshouse", "bench", "reconcile", "--faces", str(faces), "--queries", str(queries)]
    words += ["--churn", str(churn), "--seed", str(seed), "--stats", str(stats)]
    command = " ".join(shlex.quote(w) for w in words)
    result: dict[str, Any] = {"command": command, "date": now_iso(), "machine": machine_info()}
    result |= reconcile.run(real, faces, queries, churn, seed, progress=console.print)
    table = Table(title=f"approximate index, {faces:,} synthetic faces, {result['changed_faces']:,} changed")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in (
        "recall_at_1_fresh",
        "recall_at_1_reconciled",
        "queries_returning_a_deleted_face_in_top10",
        "build_s",
        "reconcile_s",
    ):
        table.add_row(key, str(result[key]))
    console.print(table)
    _save(out, "reconcile", result)
