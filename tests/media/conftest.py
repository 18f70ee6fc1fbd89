"""A media world: two organisations with REST keys, their actors, and a TestClient on the app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glasshouse.config import Settings
from glasshouse.governance.actor import Actor
from glasshouse.http.app import create_app
from glasshouse.services import Services


@dataclass
class MediaWorld:
    svc: Services
    client: TestClient
    acme: Actor
    other: Actor
    acme_headers: dict[str, str]
    other_headers: dict[str, str]

    @property
    def root(self) -> Path:
        return self.svc.settings.media_path

    def stored_files(self) -> list[Path]:
        """Every file under the local store, temporaries included."""
        return sorted(p for p in self.root.rglob("*") if p.is_file()) if self.root.exists() else []

    def rows(self) -> int:
        return len(self.svc.media.list(self.acme.org_id)) + len(self.svc.media.list(self.other.org_id))


def _actor(svc: Services, name: str) -> tuple[Actor, dict[str, str]]:
    setup = Actor(org_id="", org_name="test-setup", surface="cli")
    org = svc.organisations.create(setup, name, sector="commercial")
    key = svc.keys.create(org.id)
    actor = Actor(org_id=org.id, org_name=org.name, surface="rest", key_id=key.access_key_id)
    return actor, {"Authorization": f"Bearer {key.access_key_id}:{key.secret}"}


def make_world(settings: Settings) -> Iterator[MediaWorld]:
    svc = Services(settings)
    acme, acme_headers = _actor(svc, "acme")
    other, other_headers = _actor(svc, "other-org")
    with TestClient(create_app(settings, services=svc)) as client:
        yield MediaWorld(svc, client, acme, other, acme_headers, other_headers)
    svc.close()


@pytest.fixture
def world(settings: Settings) -> Iterator[MediaWorld]:
    yield from make_world(settings)


@pytest.fixture
def small_world(settings: Settings) -> Iterator[MediaWorld]:
    """Media uploads limited to 1000 bytes."""
    yield from make_world(settings.model_copy(update={"media_max_bytes": 1000}))


@pytest.fixture
def clip(shared_data: Path) -> Path:
    return shared_data / "video" / "hamilton" / "short_hamilton_clip.mp4"
