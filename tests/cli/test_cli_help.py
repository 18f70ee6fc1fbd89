"""Every command's help shows every option's text whole (Rich markup once swallowed "[env ...]" notes)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from glasshouse.cli.main import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(argv path, command) for the root and every subcommand (typer vendors its own click: duck-typed)."""
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "glasshouse" for p, _ in COMMANDS])
def test_help_keeps_every_option_text(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    shown = _squash(result.output)
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            assert _squash(text) in shown, f"{' '.join(path)} {param.name}: {text!r} not shown whole"
    if command.help:
        first_line = command.help.strip().splitlines()[0]
        assert _squash(first_line) in shown
