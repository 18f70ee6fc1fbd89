"""``glasshouse testing run`` and the service's rolling-hour limit, shared by every surface."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from glasshouse.audit.service import AuditFilter
from glasshouse.cli.testing import testing_app as testing_commands
from glasshouse.config import Settings
from glasshouse.errors import InvalidInputError
from glasshouse.services import Services
from glasshouse.testing.service import DirectoryImages, RateLimited
from testing_api.conftest import PairSet


def test_cli_run_writes_report_and_plot(settings: Settings, pair_set: PairSet, tmp_path: Path) -> None:
    csv_file = tmp_path / "pairs.csv"
    even = [r for r in pair_set.rows if r["subgroup"] == "even"][:50]
    lines = ["file_x,file_y,same,subgroup"] + [f"{r['file_x']},{r['file_y']},{r['same']},even" for r in even]
    csv_file.write_text("\n".join(lines) + "\n")
    cli = typer.Typer()
    cli.add_typer(testing_commands, name="testing")
    args = ["testing", "run", str(csv_file), "--root", str(pair_set.dataset), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["pairs"] == 50 and set(report["subgroups"]) == {"even"}
    assert (tmp_path / "out" / "det.png").read_bytes().startswith(b"\x89PNG")
    svc = Services(settings)
    entries = svc.audit.search(AuditFilter(action="testing.run"))
    assert [(e.surface, e.decision, e.details["run_id"]) for e in entries] == [
        ("cli", "allow", report["run_id"])
    ]
    svc.close()


def test_cli_refuses_paths_outside_root(settings: Settings, pair_set: PairSet, tmp_path: Path) -> None:
    svc = Services(settings)
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape.jpg").symlink_to(pair_set.dataset / pair_set.rows[0]["file_x"])
    lines = ["path_a,path_b,same"] + ["escape.jpg,escape.jpg,1"] * 50
    with pytest.raises(InvalidInputError, match="lies outside"):
        svc.testing.run(svc.cli_actor(), "\n".join(lines).encode(), DirectoryImages(root))
    svc.close()


def test_limit_is_a_rolling_hour(settings: Settings, pair_set: PairSet) -> None:
    now = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]
    svc = Services(settings.model_copy(update={"testing_runs_per_hour": 1}), clock=lambda: now[0])
    actor = svc.cli_actor()
    csv_data = pair_set.csv(limit=50)

    def run() -> dict[str, object]:
        return svc.testing.run(actor, csv_data, svc.testing.zip_images(pair_set.zip()))

    run()
    now[0] += timedelta(minutes=30)
    with pytest.raises(RateLimited) as refused:
        run()
    assert refused.value.retry_after_s == 1800
    now[0] += timedelta(minutes=31)
    run()  # the first run left the window
    decisions = [e.decision for e in svc.audit.search(AuditFilter(action="testing.run"))]
    assert decisions == ["allow", "deny", "allow"]
    svc.close()
