"""``glasshouse transparency report`` as JSON and CSV (the env points the CLI at the world's database)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import typer
from typer.testing import CliRunner

from glasshouse.cli.transparency import transparency_app
from glasshouse.transparency.report import CSV_HEADER
from transparency.world import MORATORIUM, PRIVATE, World

runner = CliRunner()
#: Mounted as cli/main.py mounts it (``glasshouse transparency report``).
app = typer.Typer()
app.add_typer(transparency_app, name="transparency")


def run(*args: str) -> Any:
    return runner.invoke(app, ["transparency", *args])


def test_cli_report_json_and_csv(world: World) -> None:
    result = run("report", "--period", "quarter")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["label"] for p in data["periods"]][:2] == ["2026-Q1", "2026-Q2"]
    assert data["periods"][0]["totals"]["denials"][MORATORIUM] == 6
    result = run(
        "report",
        "--since",
        "2026-02-01",
        "--until",
        "2026-03-01",
        "--format",
        "csv",
        "--sector",
        "law_enforcement",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_HEADER
    assert [(r["organisation"], r["count"]) for r in rows if r["key"] == MORATORIUM] == [("police", "2")]
    for text in (result.stdout, run("report").stdout):
        assert not any(secret in text for secret in PRIVATE)


def test_cli_refuses_bad_input(world: World) -> None:
    assert run("report", "--period", "week").exit_code == 2
    assert run("report", "--since", "soon").exit_code == 2
    result = run("report", "--sector", "police")
    assert result.exit_code == 1 and "sector" in result.output
