"""Fixtures for the independent testing API: a small real labelled pair set (deepface's portraits under
160 KB, so a run takes a second or two), zipped in memory, and an organisation with a REST key."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.services import Services

SMALL_IMAGE_BYTES = 160_000


@dataclass(frozen=True)
class PairSet:
    rows: list[dict[str, str]]  # file_x, file_y, same, subgroup
    images: dict[str, bytes]
    dataset: Path

    def csv(self, columns: tuple[str, ...] = ("file_x", "file_y", "same"), limit: int | None = None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in self.rows[:limit]:
            writer.writerow([row[c] for c in columns])
        return out.getvalue().encode()

    def zip(self, extra: dict[str, bytes] | None = None) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in {**self.images, **(extra or {})}.items():
                zf.writestr(name, data)
        return buf.getvalue()


@pytest.fixture(scope="session")
def pair_set(shared_data: Path) -> PairSet:
    """deepface's labelled pairs whose two images are both small; subgroup "even" or "odd" from the identity
    cluster of the first image (identity_clusters.csv)."""
    root = shared_data / "deepface"
    dataset = root / "tests" / "unit" / "dataset"
    clusters = {r["file"]: int(r["cluster"]) for r in csv.DictReader((root / "identity_clusters.csv").open())}
    small = {p.name for p in dataset.glob("*.jpg") if p.stat().st_size < SMALL_IMAGE_BYTES}
    rows = []
    for r in csv.DictReader((root / "pairs_merged.csv").open(newline="")):
        if r["file_x"] in small and r["file_y"] in small:
            group = "even" if clusters[r["file_x"]] % 2 == 0 else "odd"
            rows.append({**r, "subgroup": group})
    names = sorted({r["file_x"] for r in rows} | {r["file_y"] for r in rows})
    return PairSet(rows, {n: (dataset / n).read_bytes() for n in names}, dataset)


@dataclass
class World:
    client: TestClient
    svc: Services
    headers: dict[str, str]
    org_id: str


def make_world(settings: Settings) -> Iterator[World]:
    svc = Services(settings)
    setup = Actor(org_id="", org_name="test-setup", surface="cli")
    org = svc.organisations.create(setup, "tester", sector="research")
    key = svc.keys.create(org.id)
    with TestClient(create_app(settings, services=svc)) as client:
        yield World(client, svc, {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}, org.id)
    svc.close()


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from make_world(settings)
