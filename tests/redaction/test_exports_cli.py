"""``glasshouse media redact``: a release export of a stored clip from the CLI, its record printed, the copy
stored beside the original; a kept person needs a reason, another organisation's object is not found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clip_cuts import cut
from glasshouse.cli.main import app as cli_app
from glasshouse.config import Settings
from glasshouse.services import Services
from web_support import SETUP


def test_a_stored_clip_is_exported_redacted_from_the_cli(
    settings: Settings,
    shared_data: Path,
    model_cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = Services(settings)
    for name in ("city", "other"):
        svc.organisations.create(SETUP, name, sector="other_government")
    svc.close()
    clip = cut(shared_data / "video/hamilton/short_hamilton_clip.mp4", tmp_path / "door.mp4", 1.0)
    monkeypatch.setenv("GLASSHOUSE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(model_cache_dir))
    runner = CliRunner()

    def run(org: str, *args: str) -> tuple[int, str]:
        result = runner.invoke(cli_app, ["--org", org, *args])
        return result.exit_code, result.output

    assert run("city", "media", "put", str(clip), "--name", "cams/door.mp4")[0] == 0
    code, out = run("city", "media", "redact", "cams/door.mp4", "--keep-person", "0")
    assert code == 1 and "reason" in out
    code, out = run("other", "media", "redact", "cams/door.mp4")
    assert code == 1 and "MediaNotFound" in out
    code, out = run(
        "city", "media", "redact", "cams/door.mp4", "--keep-person", "0", "--reason", "the suspect",
        "--method", "box", "--copy-name", "release/door.mp4",
    )  # fmt: skip
    assert code == 0, out
    record = json.loads(out[out.index("{") :])
    assert (
        record["purpose"] == "release" and record["kept_persons"] == [0] and record["reason"] == "the suspect"
    )
    assert record["name"] == "release/door.mp4" and record["settings"]["method"] == "box"
    listed = json.loads(run("city", "media", "list")[1])
    assert {o["name"] for o in listed} >= {"cams/door.mp4", "release/door.mp4"}
