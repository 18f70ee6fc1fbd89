"""The CLI end to end on real photos: detect, compare, index a folder (resumably), search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glasshouse.cli.main import app
from glasshouse.config import Settings

runner = CliRunner()


def run(*args: str) -> dict | list:  # type: ignore[type-arg]
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_detect_and_compare(settings: Settings, shared_data: Path) -> None:
    examples = shared_data / "face_recognition/examples"
    detected = run("detect", str(examples / "two_people.jpg"), str(examples / "obama.jpg"))
    assert [len(d["faces"]) for d in detected] == [2, 1]
    assert {lm["type"] for lm in detected[1]["faces"][0]["landmarks"]} == {
        "eye_left",
        "eye_right",
        "nose",
        "mouth_left",
        "mouth_right",
    }
    same = run("compare", str(examples / "obama.jpg"), str(examples / "obama2.jpg"))
    assert len(same["matches"]) == 1 and same["matches"][0]["similarity"] >= 80
    other = run("compare", str(examples / "obama.jpg"), str(examples / "biden.jpg"))
    assert other["matches"] == [] and len(other["unmatched"]) == 1


def test_detect_reports_bad_files_and_exits_nonzero(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    result = runner.invoke(app, ["detect", str(bad)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)[0]["error"]["code"] == "InvalidImageFormat"


def test_index_folder_then_search_held_back_photo(
    settings: Settings, shared_data: Path, tmp_path: Path
) -> None:
    knn = shared_data / "face_recognition/examples/knn_examples"
    train = tmp_path / "train"
    shutil.copytree(knn / "train", train)
    (train / "obama" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")

    first = run("index", "people", str(train), "--external-id", "parent")
    assert first["files"] == 10 and first["unreadable"] == 1
    assert first["images_indexed"] == 9 and first["faces_indexed"] == 9
    # Resumed: nothing new, nothing doubled.
    again = run("index", "people", str(train), "--external-id", "parent")
    assert again["skipped_already_indexed"] == 9 and again["images_indexed"] == 0
    listed = run("collection", "list")
    assert listed == [{"collection": "people", "faces": 9, "created": listed[0]["created"]}]

    for photo, person in [
        ("obama1.jpg", "obama"),
        ("alex_lacamoire1.jpg", "alex_lacamoire"),
        ("johnsnow_test1.jpg", "kit_harington"),
    ]:
        found = run("search", "people", str(knn / "test" / photo))
        assert found["matches"][0]["external_image_id"] == person, (photo, found)

    run("collection", "delete", "people")
    assert run("collection", "list") == []
    result = runner.invoke(app, ["collection", "delete", "people"])
    assert result.exit_code == 1 and "does not exist" in result.output


@pytest.mark.parametrize("name", ["bad id!", "x" * 300])
def test_collection_names_are_validated(settings: Settings, name: str) -> None:
    result = runner.invoke(app, ["collection", "create", name])
    assert result.exit_code == 1 and "InvalidParameter" in result.output
