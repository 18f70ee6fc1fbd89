"""Helpers shared by CLI commands: settings, services, JSON output, typed errors as exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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

from glasshouse.config import Settings
from glasshouse.errors import GlasshouseError
from glasshouse.governance.gate import Grant, RequestContext
from glasshouse.governance.policy import Capability
from glasshouse.services import Services

err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


#: ``glasshouse --org NAME``: overrides GLASSHOUSE_ORG for this invocation.
acting_org: str | None = None


@contextmanager
def services() -> Iterator[Services]:
    """Services from the environment's settings; typed errors become a message and exit code 1."""
    svc = Services(Settings(org=acting_org) if acting_org else Settings())
    try:
        yield svc
    except GlasshouseError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        svc.close()


Purpose = Annotated[
    str | None, typer.Option("--purpose", help="Purpose of the call (policy obligations may require it).")
]
Case = Annotated[str | None, typer.Option("--case", help="Case number (policy obligations may require it).")]


@contextmanager
def gated(
    svc: Services, capability: Capability, purpose: str | None = None, case: str | None = None
) -> Iterator[Grant]:
    """The policy gate around a biometric CLI command, acting as the configured organisation."""
    request = RequestContext(purpose=purpose, case_number=case)
    with svc.gate.guard(svc.cli_actor(), capability, request) as grant:
        yield grant


def progress_bar() -> Progress:
    """A progress bar with count, rate-based ETA and elapsed time, on stderr."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
    )
