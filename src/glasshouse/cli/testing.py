"""``glasshouse testing run``: the independent testing service from the command line, acting as the CLI's
organisation (rate-limited and audited like ``POST /v1/testing/runs``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from glasshouse.cli import common

testing_app = typer.Typer(
    help="Independent accuracy testing on your own labelled pairs (SB 6280).", no_args_is_help=True
)
console = Console()


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _table(title: str, r: dict[str, Any]) -> Table:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("pairs (same / different)", f"{r['pairs']} ({r['same']} / {r['different']})")
    if "kfold" in r:
        k = r["kfold"]
        table.add_row(
            f"{k['folds']}-fold accuracy", f"{_pct(k['accuracy_mean'])} ± {_pct(k['accuracy_std'])}"
        )
    for p in r["operating_points"]:
        table.add_row(
            f"similarity ≥ {p['similarity']:g}",
            f"acc {_pct(p['accuracy'])}, FMR {_pct(p['fmr'])}, FNMR {_pct(p['fnmr'])}",
        )
    return table


@testing_app.command("run")
def run(
    csv_file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV: path_a,path_b,same[,subgroup] or file_x,file_y,same"
    ),
    root: Path | None = typer.Option(
        None, "--root", file_okay=False, help="Folder the CSV's relative paths name [default: CSV's folder]."
    ),
    subgroup_column: str | None = typer.Option(
        None, "--subgroup-column", help="Column naming each pair's group."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write report.json and det.png here [default: var/testing/<run id>]."
    ),
) -> None:
    """Measure accuracy, false-match and false-non-match rates (similarity 80 and 99), per subgroup."""
    from glasshouse.testing.service import DirectoryImages

    with common.services() as svc:
        report = svc.testing.run(
            svc.cli_actor(),
            csv_file.read_bytes(),
            DirectoryImages(root if root is not None else csv_file.parent),
            subgroup_column=subgroup_column,
        )
    folder = out or Path("var/testing") / report["run_id"]
    folder.mkdir(parents=True, exist_ok=True)
    png = base64.b64decode(report["det_plot"]["base64"])
    (folder / "det.png").write_bytes(png)
    saved = {**report, "det_plot": {"media_type": "image/png", "file": "det.png"}}
    (folder / "report.json").write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
    im = report["images"]
    console.print(
        f"run {report['run_id']}: {report['input']['pairs']} pairs, {im['total']} images; "
        f"no face found in {im['no_face']} ({im['no_face_policy']})"
    )
    console.print(f"accuracy: {_pct(report['accuracy'])} ({report['accuracy_protocol']})")
    console.print(_table("all pairs", report["overall"]))
    for group, r in report.get("subgroups", {}).items():
        console.print(_table(f"subgroup {group or '(blank)'}", r))
    console.print(f"wrote {folder / 'report.json'} and {folder / 'det.png'}")
