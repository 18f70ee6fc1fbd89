"""Helpers shared by CLI commands: settings, services, JSON output, typed errors as exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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

from glasshouse.config import Settings
from glasshouse.errors import GlasshouseError
from glasshouse.services import Services

err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def services() -> Iterator[Services]:
    """Services from the environment's settings; typed errors become a message and exit code 1."""
    svc = Services(Settings())
    try:
        yield svc
    except GlasshouseError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        svc.close()


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
