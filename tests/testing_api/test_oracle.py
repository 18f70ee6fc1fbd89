"""The testing API is no back door to face comparison (issue 12, item 3): ``testing.run`` is decided by the
policy (denied under the police moratorium), and pair lists whose figures could reveal one comparison are
refused and audited, while a legitimate run still works."""

from __future__ import annotations

import io
import zipfile

import pytest

from glasshouse.audit.service import AuditFilter
from glasshouse.governance.actor import Actor
from glasshouse.governance.gate import PolicyDenied
from glasshouse.testing.service import DirectoryImages
from testing_api.conftest import PairSet, World

SETUP = Actor(org_id="", org_name="test-setup", surface="cli")


def _post(
    world: World, lines: list[str], images: dict[str, bytes], headers: dict[str, str] | None = None
) -> object:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in images.items():
            zf.writestr(name, data)
    files = {
        "pairs": ("pairs.csv", ("\n".join(lines) + "\n").encode(), "text/csv"),
        "images": ("images.zip", buf.getvalue(), "application/zip"),
    }
    return world.client.post("/v1/testing/runs", files=files, headers=headers or world.headers)


def _refused(world: World, lines: list[str], images: dict[str, bytes], message: str) -> None:
    response = _post(world, lines, images)
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "OracleRefused" and message in error["message"], error
    entries = world.svc.audit.search(AuditFilter(action_prefix="testing."))
    assert [(e.action, e.decision, e.rule) for e in entries] == [
        ("testing.run", "deny", "testing-anti-oracle")
    ]
    assert entries[0].details["reason"] == error["message"]


def _attack(pair_set: PairSet, copies: int) -> tuple[list[str], dict[str, bytes]]:
    """Per subgroup, ``copies`` identical pairs known to match plus one probe pair: the subgroup's
    false-non-match rate at 80 and 99 then says whether the probe pair matches."""
    known = next(r for r in pair_set.rows if r["same"] == "1")
    probes = [r for r in pair_set.rows if known["file_x"] not in (r["file_x"], r["file_y"])][:2]
    lines = ["file_x,file_y,same,subgroup"]
    for group, probe in zip(("g1", "g2"), probes, strict=True):
        lines += [f"{known['file_x']},{known['file_y']},1,{group}"] * copies
        lines.append(f"{probe['file_x']},{probe['file_y']},1,{group}")
    names = {known["file_x"], known["file_y"], *(p["file_x"] for p in probes), *(p["file_y"] for p in probes)}
    return lines, {n: pair_set.images[n] for n in names}


def test_the_issues_attack_is_refused(world: World, pair_set: PairSet) -> None:
    lines, images = _attack(pair_set, copies=9)
    _refused(world, lines, images, "a run needs at least 50")


def test_the_attack_padded_to_the_minimum_is_refused(world: World, pair_set: PairSet) -> None:
    lines, images = _attack(pair_set, copies=49)
    _refused(world, lines, images, "repeats pair 1")


def _legit(pair_set: PairSet, n: int = 50) -> list[str]:
    return [f"{r['file_x']},{r['file_y']},{r['same']}" for r in pair_set.rows[:n]]


def test_a_reversed_pair_is_a_repeat(world: World, pair_set: PairSet) -> None:
    rows = _legit(pair_set)
    a, b, same = rows[0].split(",")
    _refused(world, ["file_x,file_y,same", *rows, f"{b},{a},{same}"], pair_set.images, "repeats pair 1")


def test_the_same_image_under_another_name_is_a_repeat(world: World, pair_set: PairSet) -> None:
    rows = _legit(pair_set)
    a, b, same = rows[0].split(",")
    images = {**pair_set.images, "copy-of-a.jpg": pair_set.images[a]}
    _refused(world, ["file_x,file_y,same", *rows, f"copy-of-a.jpg,{b},{same}"], images, "repeats pair 1")


def test_an_image_against_itself_is_refused(world: World, pair_set: PairSet) -> None:
    rows = _legit(pair_set)
    a = rows[0].split(",")[0]
    images = {**pair_set.images, "copy-of-a.jpg": pair_set.images[a]}
    _refused(world, ["file_x,file_y,same", *rows, f"{a},copy-of-a.jpg,1"], images, "with itself")


def test_a_subgroup_under_the_minimum_is_refused(world: World, pair_set: PairSet) -> None:
    rows = [f"{line},big" for line in _legit(pair_set, 60)]
    rows[-1] = rows[-1].rsplit(",", 1)[0] + ",tiny"
    _refused(world, ["file_x,file_y,same,subgroup", *rows], pair_set.images, "'tiny': 1")


def test_a_legitimate_run_still_works(world: World, pair_set: PairSet) -> None:
    response = _post(world, ["file_x,file_y,same", *_legit(pair_set, 60)], pair_set.images)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert response.json()["overall"]["pairs"] == 60  # type: ignore[attr-defined]
    [run] = world.svc.audit.search(AuditFilter(action="testing.run"))
    assert (run.decision, run.rule) == ("allow", "independent-testing")


def test_the_moratorium_denies_testing_to_law_enforcement(world: World, pair_set: PairSet) -> None:
    """Under the default policy a law-enforcement organisation may not compare faces, so it may not run
    tests either (on every surface: REST here, the service the CLI calls below); the exempt unit may."""
    svc = world.svc
    police = svc.organisations.create(SETUP, "police", sector="law_enforcement")
    key = svc.keys.create(police.id)
    headers = {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
    response = _post(world, ["file_x,file_y,same", *_legit(pair_set)], pair_set.images, headers)
    assert response.status_code == 403, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == "AccessDenied" and "police-moratorium-2020" in error["message"]
    [denied] = svc.audit.search(AuditFilter(action="testing.run", org_id=police.id))
    assert (denied.decision, denied.rule) == ("deny", "police-moratorium-2020")
    cli = Actor(org_id=police.id, org_name=police.name, surface="cli", person="os:officer")
    with pytest.raises(PolicyDenied, match="police-moratorium-2020"):
        svc.testing.run(cli, b"file_x,file_y,same\n", DirectoryImages(pair_set.dataset))

    icac = svc.organisations.create(SETUP, "icac", sector="law_enforcement", flags=["child_protection"])
    key = svc.keys.create(icac.id)
    headers = {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}
    response = _post(world, ["file_x,file_y,same", *_legit(pair_set)], pair_set.images, headers)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
