"""``glasshouse models``: the face models this installation has, their cards, and installing packs on
purpose (the card is shown and its terms must be accepted; nothing is ever fetched by the server)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from glasshouse.cli.common import print_json, services
from glasshouse.engine.models.card import ModelCard

models_app = typer.Typer(
    help="Face models: list, show cards, install packs, calibrate.", no_args_is_help=True
)
console = Console()


def _pct(x: float | None) -> str:
    return "not measured" if x is None else f"{100 * x:.1f}%"


def print_card(card: ModelCard, aligner: str, installed: bool) -> None:
    """The card in plain words: what it is, where it came from, the terms, how well it was measured."""
    lic, acc, inp = card.licences, card.accuracy, card.input
    lines = [
        f"[bold]{card.name}[/bold] {card.version}  ({'installed' if installed else 'not installed'}"
        f"{', the default' if card.default else ', NOT a default'})",
        f"  {card.summary}",
        f"  FaceModelVersion: {card.model_version(aligner)}",
        f"  Provenance: {card.provenance}",
        f"  Licence of the code: {lic.code}",
        f"  Licence of the weights: {lic.weights}",
        f"  Training data: {lic.training_data}",
        f"  Input: {inp.size}x{inp.size} {inp.channels} {inp.layout}"
        + (f", (x - {inp.mean:g}) / {inp.scale:g}" if inp.layout != "uint8-nhwc" else ""),
        f"  Alignment: {card.alignment}; embedding: {card.embedding_dim}-d",
        "  Similarity anchors (similarity -> cosine, FMR bound): "
        + ", ".join(f"{s:g} -> {c:.4f} ({f:g})" for c, s, f in card.anchors[1:-1]),
        f"  Anchors from: {card.anchors_source}",
        f"  LFW View 2: {acc.lfw_view2 or 'not measured'}; TAR at FMR 1e-6: {_pct(acc.tar_at_fmr_1e_6)}; "
        f"at FMR 1e-3: {_pct(acc.tar_at_fmr_1e_3)}",
        f"  Measured by: {acc.command or 'not stated'}",
    ]
    if card.source.sha256:
        lines.append(
            f"  Source: {card.source.package or card.source.kind} {card.source.member or ''} "
            f"({card.source.size:,} bytes, sha256 {card.source.sha256})"
        )
    lines += [f"  [red]WARNING[/red]: {w}" for w in card.warnings]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


@models_app.command("list")
def list_() -> None:
    """Every model: built in, installed packs, and known packs not installed."""
    with services() as svc:
        rows = [
            {
                "name": item.card.name,
                "version": item.card.version,
                "installed": item.installed,
                "default": item.card.name == svc.settings.face_model,
                "face_model_version": item.card.model_version(svc.settings.aligner),
                "embedding_dim": item.card.embedding_dim,
                "lfw_view2": item.card.accuracy.lfw_view2,
                "tar_at_fmr_1e-6": item.card.accuracy.tar_at_fmr_1e_6,
            }
            for item in svc.model_packs.listing()
        ]
    print_json(rows)


@models_app.command("show")
def show(
    name: str, as_yaml: Annotated[bool, typer.Option("--yaml", help="The card as YAML.")] = False
) -> None:
    """Show model NAME's card (provenance, licences, geometry, calibration, measured accuracy)."""
    with services() as svc:
        card = svc.model_packs.card(name)
        if as_yaml:
            sys.stdout.write(card.to_yaml())
        else:
            print_card(card, svc.settings.aligner, svc.models.is_installed(name))


def _accepted(card: ModelCard, flag: bool) -> bool:
    if flag:
        return True
    if not sys.stdin.isatty():
        return False
    return typer.confirm(f"Install {card.name} and accept the terms shown above?", default=False)


@models_app.command("install")
def install(
    name: Annotated[str | None, typer.Argument(help="A known pack (glasshouse models list).")] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            exists=True,
            dir_okay=False,
            help="The pack's source file (e.g. the npm tarball), offline.",
        ),
    ] = None,
    onnx: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Your own five-point 112x112 ONNX network..."),
    ] = None,
    card_file: Annotated[
        Path | None, typer.Option("--card", exists=True, dir_okay=False, help="...with your own card (YAML).")
    ] = None,
    accept_licence: Annotated[
        bool, typer.Option("--accept-licence", help="Accept the card's terms without asking (automation).")
    ] = False,
) -> None:
    """Install a model pack on purpose: its card is shown and its terms must be accepted. A known pack is
    taken from --from FILE (checksum verified) or, online, from `npm pack`; --onnx with --card registers
    your own network."""
    if (onnx is None) != (card_file is None) or (onnx is None) == (name is None):
        raise typer.BadParameter("give NAME (optionally --from FILE), or --onnx FILE --card CARD.yaml")
    with services() as svc:
        if onnx is not None and card_file is not None:
            card = ModelCard.from_yaml(card_file.read_text(encoding="utf-8"))
        else:
            assert name is not None
            card = svc.model_packs.card(name)
        print_card(card, svc.settings.aligner, svc.models.is_installed(card.name))
        accepted = _accepted(card, accept_licence)
        actor = svc.cli_actor()
        if onnx is not None:
            pack = svc.model_packs.install_onnx(onnx, card, actor, accepted=accepted)
        else:
            pack = svc.model_packs.install(card.name, actor, source=source, accepted=accepted)
        print_json(
            {
                "installed": card.name,
                "face_model_version": card.model_version(svc.settings.aligner),
                "pack": str(pack),
            }
        )


@models_app.command("calibrate")
def calibrate(
    name: str,
    directory: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, help="Identity folders DIR/Name/*.jpg (e.g. LFW).")
    ],
    images: Annotated[int, typer.Option(min=0, help="Images of people with 2+ images (0 = all).")] = 2000,
    transformed: Annotated[
        int, typer.Option(min=0, help="How many also get low-resolution and close-up views (0 = all).")
    ] = 700,
    per_identity: Annotated[int, typer.Option(min=2, help="At most this many images per person.")] = 4,
    workers: Annotated[int, typer.Option(min=0, help="Processes embedding images.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for the calibration report.")] = None,
) -> None:
    """Measure installed pack NAME's similarity anchors (50/80/90/95/99 at FMR 1e-1 … 1e-6, an upper bound
    over frontal, cross-pose, low-resolution and close-up pairs of the images given) and write them into
    its card. Every pair of the sampled images is scored: all genuine and all impostor pairs."""
    from glasshouse.cli.evaluate import _command, _config
    from glasshouse.evaluation.runner import DEFAULT_OUTDIR, run_calibration

    cfg = _config(None, False, 0, None, model=name)
    if cfg.model_file is None:
        raise typer.BadParameter(f"{name} is built in: calibrate it with `glasshouse evaluate calibrate`")
    command = _command(
        "calibrate",
        directory,
        "--images",
        images,
        "--transformed",
        transformed,
        "--per-identity",
        per_identity,
    ).replace("glasshouse evaluate calibrate", f"glasshouse models calibrate {name}", 1)
    console.print(f"calibrating {name} on {directory} ({cfg.label()}); this embeds every sampled image")
    s = run_calibration(
        directory,
        cfg,
        out or DEFAULT_OUTDIR / f"calibrate-{name}",
        command=command,
        images=images or None,
        transformed=transformed,
        per_identity=per_identity,
        seed=0,
        workers=workers or None,
    )
    table = tuple((float(c), float(sim), float(f)) for c, sim, f in s["calibration_table"])
    frontal = {a["similarity"]: a["conditions"]["frontal"] for a in s["anchors"]}
    with services() as svc:
        card = svc.model_packs.save_anchors(name, table, f"{command} ({s['date']})", svc.cli_actor())
    print_json(
        {
            "model": name,
            "anchors": [list(r) for r in card.anchors],
            "frontal_tar_at_similarity": {f"{k:g}": round(1 - v["fnmr"], 4) for k, v in frontal.items()},
            "report": s["json"],
        }
    )
