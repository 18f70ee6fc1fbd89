"""``glasshouse redact IMAGE|VIDEO --out FILE``: a copy with every face covered but those kept, and the
record that ties it to its original (printed as JSON). Runs under the policy gate (``media.redact``); the
audit entry holds both SHA-256 digests and the settings, never an image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID

from glasshouse.cli.common import Case, Purpose, gated, print_json, progress_bar, services
from glasshouse.governance.policy import Capability
from glasshouse.redaction.cover import Method
from glasshouse.redaction.record import RedactionSettings
from glasshouse.redaction.video import Progress as RedactionProgress


def redact(
    source: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="JPEG, PNG or video.")
    ],
    out: Annotated[Path, typer.Option("--out", dir_okay=False, help="Where to write the redacted copy.")],
    keep_person: Annotated[
        list[int] | None,
        typer.Option(
            "--keep-person",
            min=0,
            help="Leave this person visible (repeatable): Person.Index of a face detection or search job "
            "on the same video; for an image, the face's number in `glasshouse detect` (largest first).",
        ),
    ] = None,
    method: Annotated[Method, typer.Option("--method", help="Blur faces or paint them over.")] = Method.BLUR,
    padding: Annotated[
        float, typer.Option("--padding", min=0.0, max=2.0, help="Grow each face box by this much per side.")
    ] = 0.25,
    purpose: Purpose = None,
    case: Case = None,
) -> None:
    """Write a copy of SOURCE with every face covered (audio, container and codec kept); print its record."""
    settings = RedactionSettings(method=method, padding=padding, keep_persons=frozenset(keep_person or []))
    with services() as svc, gated(svc, Capability.MEDIA_REDACT, purpose, case), progress_bar() as bar:
        record = svc.redaction.redact(source, out, settings, phases(bar))
    print_json({"out": str(out), **record.to_json()})


def phases(bar: Progress) -> RedactionProgress:
    """The redaction's phases as bars: finding faces, then covering them (frames done of the total)."""
    tasks: dict[str, TaskID] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            label = "finding faces" if stage == "analyse" else "covering faces"
            tasks[stage] = bar.add_task(label, total=total)
            for other, task in tasks.items():  # the stage before this one is over
                if other != stage:
                    bar.update(task, total=1, completed=1)
        bar.update(tasks[stage], completed=done, total=total)

    return progress
