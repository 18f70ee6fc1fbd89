"""``glasshouse detect`` and ``glasshouse compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from glasshouse.cli.common import Case, Purpose, gated, print_json, services
from glasshouse.errors import GlasshouseError
from glasshouse.faces.serialise import face_dict
from glasshouse.governance.policy import Capability

ImageArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


def detect(
    images: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    purpose: Purpose = None,
    case: Case = None,
) -> None:
    """Detect faces in each IMAGE and print JSON (boxes, confidence, landmarks, pose, quality)."""
    out: list[dict[str, Any]] = []
    failed = False
    with services() as svc, gated(svc, Capability.FACE_DETECT, purpose, case) as grant:
        grant.note(images=len(images))
        for path in images:
            try:
                result = svc.analyser.analyse(path.read_bytes(), embed=False)
            except GlasshouseError as exc:
                failed = True
                out.append({"image": str(path), "error": {"code": exc.code, "message": exc.message}})
                continue
            out.append(
                {
                    "image": str(path),
                    "width": result.width,
                    "height": result.height,
                    "faces": [face_dict(f) for f in result.faces],
                }
            )
    print_json(out)
    if failed:
        raise typer.Exit(1)


def compare(
    source: ImageArg,
    target: ImageArg,
    threshold: Annotated[float, typer.Option(min=0, max=100, help="Similarity threshold 0–100.")] = 80.0,
    purpose: Purpose = None,
    case: Case = None,
) -> None:
    """Compare the largest face in SOURCE with every face in TARGET."""
    with services() as svc, gated(svc, Capability.FACE_COMPARE, purpose, case) as grant:
        threshold = grant.similarity_at_least(threshold)
        result = svc.analyser.compare(
            source.read_bytes(), target.read_bytes(), similarity_threshold=threshold
        )
        grant.note(matches=len(result.matches) if result else 0)
    if result is None:
        print_json({"source": str(source), "error": "no face found in the source image"})
        raise typer.Exit(1)
    print_json(
        {
            "source_face": face_dict(result.source),
            "matches": [
                {"similarity": round(m.similarity, 4), "face": face_dict(m.face)} for m in result.matches
            ],
            "unmatched": [face_dict(f) for f in result.unmatched],
            "threshold": threshold,
        }
    )
