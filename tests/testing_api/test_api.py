"""``POST /v1/testing/runs`` on real labelled pairs: figures per subgroup, limits, rate limit, audit."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from glasshouse.audit.service import AuditFilter
from glasshouse.config import Settings
from testing_api.conftest import PairSet, World, make_world

WITH_GROUP = ("file_x", "file_y", "same", "subgroup")


def _post(world: World, csv_data: bytes, zip_data: bytes, **form: str) -> object:
    files = {
        "pairs": ("pairs.csv", csv_data, "text/csv"),
        "images": ("images.zip", zip_data, "application/zip"),
    }
    return world.client.post("/v1/testing/runs", files=files, data=form, headers=world.headers)


def _testing_entries(world: World) -> list[object]:
    return world.svc.audit.search(AuditFilter(action_prefix="testing.", limit=1000))


def test_run_reports_figures_per_subgroup(world: World, pair_set: PairSet) -> None:
    response = _post(world, pair_set.csv(WITH_GROUP), pair_set.zip())
    assert response.status_code == 200, response.text
    report = response.json()
    expected = Counter(r["subgroup"] for r in pair_set.rows)
    assert report["input"]["pairs"] == len(pair_set.rows) == report["overall"]["pairs"]
    assert report["input"]["images"] == len(pair_set.images)
    assert set(report["subgroups"]) == {"even", "odd"}
    for group, r in report["subgroups"].items():
        assert r["pairs"] == expected[group]
        same = sum(row["same"] == "1" for row in pair_set.rows if row["subgroup"] == group)
        assert (r["same"], r["different"]) == (same, expected[group] - same)
        assert [p["similarity"] for p in r["operating_points"]] == [80.0, 99.0]
    points = {p["similarity"]: p for p in report["overall"]["operating_points"]}
    # these portraits are easy at similarity 80; at 99 nothing different matches
    assert points[80.0]["accuracy"] > 0.85
    assert points[99.0]["fmr"] == 0.0
    assert points[99.0]["fnmr"] >= points[80.0]["fnmr"]
    assert report["images"]["no_face"] == len(report["images"]["no_face_images"])
    assert set(report["images"]["no_face_images"]) <= set(pair_set.images)
    png = base64.b64decode(report["det_plot"]["base64"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert report["organisation"] == "tester"


def test_run_without_subgroup_reports_overall_only(world: World, pair_set: PairSet) -> None:
    response = _post(world, pair_set.csv(limit=50), pair_set.zip())
    assert response.status_code == 200, response.text
    report = response.json()
    assert "subgroups" not in report
    assert report["overall"]["pairs"] == 50
    assert report["accuracy"] is None and "needs 50 same" in report["accuracy_protocol"]
    assert report["input"]["subgroup_column"] is None


def test_path_columns_and_named_subgroup_column(world: World, pair_set: PairSet) -> None:
    lines = ["path_a,path_b,same,sex"]
    lines += [
        f"{r['file_x']},{r['file_y']},{r['same']},{'fm'[i % 2]}" for i, r in enumerate(pair_set.rows[:100])
    ]
    response = _post(world, "\n".join(lines).encode(), pair_set.zip(), subgroup_column="sex")
    assert response.status_code == 200, response.text
    report = response.json()
    assert {g: r["pairs"] for g, r in report["subgroups"].items()} == {"f": 50, "m": 50}
    assert report["input"]["subgroup_column"] == "sex"


@pytest.fixture
def limited(settings: Settings) -> Iterator[World]:
    yield from make_world(settings.model_copy(update={"testing_runs_per_hour": 2}))


def test_rate_limit_answers_429(limited: World, pair_set: PairSet) -> None:
    csv_data, zip_data = pair_set.csv(limit=50), pair_set.zip()
    for _ in range(2):
        assert _post(limited, csv_data, zip_data).status_code == 200
    response = _post(limited, csv_data, zip_data)
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "TooManyRequests" and "2 testing runs for the last hour" in error["message"]
    assert 3500 <= int(response.headers["retry-after"]) <= 3600
    decisions = [(e.action, e.decision) for e in _testing_entries(limited)]
    assert decisions.count(("testing.run", "allow")) == 2
    assert decisions.count(("testing.result", "record")) == 2
    assert decisions[-1] == ("testing.run", "deny")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


BAD_INPUTS = {
    "missing columns": (lambda s: b"a,b,c\nimg1.jpg,img2.jpg,1\n", lambda s: s.zip(), "needs columns"),
    "bad same value": (
        lambda s: s.csv(limit=50).replace(b",1\n", b",maybe\n", 1),
        lambda s: s.zip(),
        "'same' must be",
    ),
    "not utf-8": (lambda s: b"file_x,file_y,same\n\xff\xfe,x,1\n", lambda s: s.zip(), "UTF-8"),
    "not a zip": (lambda s: s.csv(limit=50), lambda s: b"PK\x03\x04 not really", "not a readable ZIP"),
    "zip slip": (
        lambda s: s.csv(limit=50),
        lambda s: s.zip({"../../etc/evil.jpg": next(iter(s.images.values()))}),
        "without '..'",
    ),
    "absolute member": (
        lambda s: s.csv(limit=50),
        lambda s: s.zip({"/tmp/evil.jpg": next(iter(s.images.values()))}),
        "only relative paths",
    ),
    "traversal in csv": (
        lambda s: s.csv(limit=50).replace(b"\nimg", b"\n../img", 1),
        lambda s: s.zip(),
        "without '..'",
    ),
    "non-image member": (
        lambda s: s.csv(limit=50),
        lambda s: s.zip({"notes.txt": b"hello"}),
        "not a JPEG or PNG",
    ),
    "fake jpeg": (  # the image the first row names, replaced by a JPEG signature and junk
        lambda s: s.csv(limit=50),
        lambda s: _zip({**s.images, s.rows[0]["file_x"]: b"\xff\xd8\xff" + b"\0" * 100}),
        "truncated or corrupt",
    ),
    "image missing from zip": (
        lambda s: s.csv(limit=50),
        lambda s: _zip(dict(list(s.images.items())[1:])),
        "not in the ZIP",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_not_recorded(world: World, pair_set: PairSet, case: str) -> None:
    make_csv, make_zip, message = BAD_INPUTS[case]
    response = _post(world, make_csv(pair_set), make_zip(pair_set))
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
    assert _testing_entries(world) == []


def test_too_many_pairs_and_images(
    settings: Settings, pair_set: PairSet, tmp_path: Path, fresh_database_url: Callable[[], str | None]
) -> None:
    for i, (limits, message) in enumerate(
        (
            ({"testing_max_pairs": 11}, "at most 11"),
            ({"testing_max_images": 5}, "more than 5 images"),
            ({"max_image_bytes": 30_000}, "the limit is 30000 bytes"),
        )
    ):
        fresh = {"data_dir": tmp_path / str(i), "database_url": fresh_database_url()}  # a new world
        for world in make_world(settings.model_copy(update={**limits, **fresh})):
            response = _post(world, pair_set.csv(limit=12), pair_set.zip())
            assert response.status_code == 400, (limits, response.text)
            assert message in response.json()["error"]["message"]
            assert _testing_entries(world) == []


def test_key_required(world: World, pair_set: PairSet) -> None:
    files = {"pairs": ("p.csv", pair_set.csv(limit=50)), "images": ("i.zip", pair_set.zip())}
    assert world.client.post("/v1/testing/runs", files=files).status_code == 401
    response = world.client.post("/v1/testing/runs", headers=world.headers)
    assert response.status_code == 400 and "'pairs'" in response.json()["error"]["message"]


def test_every_run_is_audited_without_image_data(world: World, pair_set: PairSet) -> None:
    response = _post(world, pair_set.csv(WITH_GROUP), pair_set.zip())
    assert response.status_code == 200
    report = response.json()
    run, result = _testing_entries(world)
    assert (run.action, run.decision, result.action, result.decision) == (
        "testing.run",
        "allow",
        "testing.result",
        "record",
    )
    assert run.actor_org_name == "tester" and run.surface == "rest" and run.actor_key
    assert run.details["run_id"] == result.details["run_id"] == report["run_id"]
    assert run.details["pairs"] == len(pair_set.rows) and run.details["images"] == len(pair_set.images)
    assert run.details["input_sha256"] == report["input"]["sha256"] == result.details["input_sha256"]
    assert run.details["input_sha256"].startswith("sha256:")
    assert result.details["operating_points"]["80"]["fmr"] == report["overall"]["operating_points"][0]["fmr"]
    text = json.dumps([run.details, result.details])
    assert len(text) < 2000
    for data in pair_set.images.values():
        assert base64.b64encode(data[:30]).decode()[:20] not in text
    assert all(name not in text for name in pair_set.images)  # not even the file names
    assert world.svc.audit.verify().ok
